//! The report step. [`reports`] is PURE: from translation's results and the outcome of the
//! writes it computes each object's `Programmed` condition. [`Reporter`] is I/O: it writes a
//! condition by server-side apply only when it changed, and publishes Events on transitions.
//!
//! `Programmed=True` means Konnect accepted every entity the object produced. Translation's
//! verdict (Invalid, Pending) and Konnect's refusals (with its field errors) become `False`
//! with a reason. Objects of another ingress class get nothing: another controller may own
//! them. Messages never carry a Secret value (translation's messages never do, and Konnect
//! does not echo config values).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use futures::StreamExt;
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::api::{Patch, PatchParams};
use kube::runtime::events::{Event, EventType, Recorder};
use kube::{Api, Client};
use serde_json::json;

use crate::konnect::models::{EntityId, Tag};
use crate::translate::{DesiredState, ObjectResult, Reason, Status};

use super::diff::tag_value;
use super::execute::Outcome;

/// The condition type we own.
pub const PROGRAMMED: &str = "Programmed";
/// Kubernetes' limit on a condition message.
pub const MAX_MESSAGE: usize = crate::translate::result::MAX_MESSAGE;
/// Status writes in flight at once.
const STATUS_CONCURRENCY: usize = 16;
/// Kubernetes' limit on an Event note.
const MAX_NOTE: usize = 1024;
/// Our field manager for server-side apply.
pub const FIELD_MANAGER: &str = "konnect-plugin-operator";

/// Kinds whose status carries our condition.
pub const STATUS_KINDS: [&str; 4] = [
    "KongPlugin",
    "KongClusterPlugin",
    "KongConsumer",
    "KongConsumerGroup",
];

/// One object's computed condition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    pub kind: &'static str,
    pub namespace: Option<String>,
    pub name: String,
    pub uid: Option<String>,
    pub generation: Option<i64>,
    /// `True` or `False`.
    pub status: &'static str,
    pub reason: String,
    pub message: String,
    /// Translation's warnings (reported as Events, not in the condition).
    pub warnings: Vec<String>,
}

impl Report {
    pub fn is_true(&self) -> bool {
        self.status == "True"
    }
}

/// The reports of one pass: every object translation returned a result for, except those of
/// another class and, on a `partial_view` (a kind could not be listed), the findings only an
/// object's absence justifies ([`unknowable`]). Pure.
pub fn reports(desired: &DesiredState, outcome: &Outcome, partial_view: bool) -> Vec<Report> {
    let produced = produced_by(desired);
    desired
        .results
        .iter()
        .filter(|r| {
            r.status
                != (Status::Pending {
                    reason: Reason::IgnoredClass,
                })
        })
        .filter(|r| !(partial_view && unknowable(&r.status)))
        .map(|r| report(r, produced.get(&key_of(r)), outcome))
        .collect()
}

/// A finding that only the absence of an object justifies (a plugin nothing refers to, a
/// reference to an object or grant that is not there). On a partial view the object may only
/// be unlisted, so neither the sync pass nor `diff` reports these.
pub fn unknowable(status: &Status) -> bool {
    let (Status::Pending { reason } | Status::Invalid { reason }) = status else {
        return false;
    };
    matches!(
        reason,
        Reason::NotReferenced | Reason::ReferenceNotFound | Reason::ReferenceNotPermitted
    )
}

type Key = (String, Option<String>, String);

/// An object's identity, borrowed (from a result or from its entities' tags).
type KeyRef<'a> = (&'a str, Option<&'a str>, &'a str);

fn key_of(r: &ObjectResult) -> KeyRef<'_> {
    (r.kind, r.namespace.as_deref(), r.name.as_str())
}

/// Which entities each source object produced, read from their `k8s-*` tags. Borrowed keys:
/// at 20,000 entities a pass would otherwise allocate 60,000 strings for this alone.
fn produced_by<'a>(desired: &'a DesiredState) -> HashMap<KeyRef<'a>, Vec<EntityId>> {
    let mut map: HashMap<KeyRef<'a>, Vec<EntityId>> = HashMap::new();
    let mut add = |id: Option<EntityId>, tags: &'a Option<Vec<Tag>>| {
        let (Some(id), Some(kind), Some(name)) = (
            id,
            tag_value(tags, "k8s-kind:"),
            tag_value(tags, "k8s-name:"),
        ) else {
            return;
        };
        let ns = tag_value(tags, "k8s-namespace:");
        map.entry((kind, ns, name)).or_default().push(id);
    };
    desired.services.iter().for_each(|e| add(e.id, &e.tags));
    desired.routes.iter().for_each(|e| add(e.id, &e.tags));
    desired.consumers.iter().for_each(|e| add(e.id, &e.tags));
    desired
        .consumer_groups
        .iter()
        .for_each(|e| add(e.id, &e.tags));
    desired.plugins.iter().for_each(|e| add(e.id, &e.tags));
    map
}

fn report(r: &ObjectResult, produced: Option<&Vec<EntityId>>, outcome: &Outcome) -> Report {
    let (status, reason, message) = match &r.status {
        Status::Invalid { reason } | Status::Pending { reason } => {
            ("False", reason.as_str().to_owned(), r.message.clone())
        }
        _ => {
            let failures: Vec<_> = produced
                .into_iter()
                .flatten()
                .filter_map(|id| outcome.failed.get(id).map(|f| (id, f)))
                .collect();
            match failures.first() {
                None => ("True", "Programmed".to_owned(), String::new()),
                Some((_, first)) => {
                    let details: Vec<String> = failures
                        .iter()
                        .map(|(id, f)| {
                            format!("{} {} {id}: {}", f.operation, f.kind.as_str(), f.message)
                        })
                        .collect();
                    (
                        "False",
                        first.reason.clone(),
                        format!("Konnect did not accept: {}", details.join("; ")),
                    )
                }
            }
        }
    };
    Report {
        kind: r.kind,
        namespace: r.namespace.clone(),
        name: r.name.clone(),
        uid: r.uid.clone(),
        generation: r.generation,
        status,
        reason,
        message: cap(&message, MAX_MESSAGE),
        warnings: r.warnings.clone(),
    }
}

/// Cuts `s` to at most `max` characters, saying how much was left out.
pub fn cap(s: &str, max: usize) -> String {
    let total = s.chars().count();
    if total <= max {
        return s.to_owned();
    }
    let suffix = format!(" ... ({} more characters)", total - max);
    let keep = max.saturating_sub(suffix.chars().count());
    let mut out: String = s.chars().take(keep).collect();
    out.push_str(&suffix);
    out
}

/// The condition to write, keeping the transition time when the status did not change.
pub fn condition(report: &Report, current: Option<&Condition>, now: Time) -> Condition {
    let last_transition_time = match current {
        Some(c) if c.status == report.status => c.last_transition_time.clone(),
        _ => now,
    };
    Condition {
        type_: PROGRAMMED.into(),
        status: report.status.into(),
        reason: report.reason.clone(),
        message: report.message.clone(),
        observed_generation: report.generation,
        last_transition_time,
    }
}

/// True when `current` already says what `report` says.
pub fn unchanged(report: &Report, current: Option<&Condition>) -> bool {
    current.is_some_and(|c| {
        c.status == report.status
            && c.reason == report.reason
            && c.message == report.message
            && c.observed_generation == report.generation
    })
}

/// Writes conditions and Events. Remembers what it last reported for objects without a
/// status (Services, Ingresses, HTTPRoutes), so their Events fire on transitions only.
pub struct Reporter {
    client: Client,
    recorder: Recorder,
    last: BTreeMap<Key, (String, String)>,
    warned: BTreeSet<(Key, String)>,
    /// What we last applied, by object uid: the cache may not show our own write yet when the
    /// next pass runs, and writing again would move the transition time and repeat the Event.
    applied: BTreeMap<String, Condition>,
    /// The operator's own Pod (POD_NAME, POD_NAMESPACE), for Events about the operator itself.
    pod: Option<ObjectReference>,
}

impl Reporter {
    /// `instance`: the operator's Pod name; with `namespace`, Events about the operator itself
    /// (the mass-delete guard) are published on that Pod.
    pub fn new(client: Client, instance: Option<String>, namespace: Option<String>) -> Self {
        let pod = instance
            .clone()
            .zip(namespace)
            .map(|(name, namespace)| ObjectReference {
                api_version: Some("v1".into()),
                kind: Some("Pod".into()),
                name: Some(name),
                namespace: Some(namespace),
                ..ObjectReference::default()
            });
        let recorder = Recorder::new(
            client.clone(),
            kube::runtime::events::Reporter {
                controller: FIELD_MANAGER.into(),
                instance,
            },
        );
        Self {
            client,
            recorder,
            last: BTreeMap::new(),
            warned: BTreeSet::new(),
            applied: BTreeMap::new(),
            pod,
        }
    }

    /// An Event on the operator's own Pod; without POD_NAME and POD_NAMESPACE, none (the log
    /// line the caller writes says it all the same). Returns false only when publishing failed,
    /// so the caller can try again at the next pass.
    pub async fn operator_event(&self, type_: EventType, reason: &str, note: &str) -> bool {
        let Some(pod) = &self.pod else {
            return true;
        };
        let event = Event {
            type_,
            reason: reason.into(),
            note: Some(cap(note, MAX_NOTE)),
            action: "Sync".into(),
            secondary: None,
        };
        match self.recorder.publish(&event, pod).await {
            Ok(()) => true,
            Err(err) => {
                tracing::warn!(error = %err, reason, "event on the operator's Pod not published");
                false
            }
        }
    }

    /// Writes each changed condition (`current` gives what the object holds now) and publishes
    /// Events on transitions. Returns the number of status writes. Errors are logged: a
    /// failed status write is retried at the next pass, since the condition still differs.
    pub async fn report(
        &mut self,
        reports: &[Report],
        current: &(dyn Fn(&Report) -> Option<Condition> + Sync),
        leading: &(dyn Fn() -> bool + Sync),
    ) -> usize {
        let mut writes = 0;
        // Status writes (and their transition Events) go out concurrently: after a bulk sync
        // there is one per plugin object, and one at a time would hold the next pass back.
        // Owned (not borrowed from `reports`): the writer task's future must be Send for any
        // lifetime, which a stream of borrowed items cannot prove.
        let mut todo: Vec<(Report, Condition, bool)> = Vec::new();
        for report in reports {
            let key = (
                report.kind.to_owned(),
                report.namespace.clone(),
                report.name.clone(),
            );
            for warning in &report.warnings {
                if self.warned.insert((key.clone(), warning.clone())) {
                    self.event(report, EventType::Warning, "TranslationWarning", warning)
                        .await;
                }
            }
            if STATUS_KINDS.contains(&report.kind) {
                let cached = current(report);
                let mine = report
                    .uid
                    .as_ref()
                    .and_then(|u| self.applied.get(u))
                    .cloned();
                if unchanged(report, cached.as_ref()) || unchanged(report, mine.as_ref()) {
                    continue;
                }
                // The newer of the two is what the object holds (ours, when the cache lags).
                let now_cond = mine.or(cached);
                let cond = condition(report, now_cond.as_ref(), Time(jiff::Timestamp::now()));
                let transition = now_cond
                    .as_ref()
                    .is_none_or(|c| c.status != cond.status || c.reason != cond.reason);
                todo.push((report.clone(), cond, transition));
            } else {
                let state = (report.status.to_owned(), report.message.clone());
                if self.last.get(&key) != Some(&state) {
                    let first = !self.last.contains_key(&key);
                    self.last.insert(key, state);
                    // A referrer that is fine from the start needs no Event.
                    if !(first && report.is_true()) {
                        self.transition_event(report).await;
                    }
                }
            }
        }
        let this = &*self;
        let done: Vec<_> = futures::stream::iter(todo)
            .map(|(report, cond, transition)| async move {
                // Leadership can be lost while a long batch is written: stop at once.
                if !leading() {
                    return (report, cond, None);
                }
                let result = this.apply(&report, &cond).await;
                if result.is_ok() && transition {
                    this.transition_event(&report).await;
                }
                (report, cond, Some(result))
            })
            .buffer_unordered(STATUS_CONCURRENCY)
            .collect()
            .await;
        for (report, cond, result) in done {
            let Some(result) = result else {
                continue;
            };
            match result {
                Ok(()) => {
                    writes += 1;
                    if let Some(uid) = &report.uid {
                        self.applied.insert(uid.clone(), cond);
                    }
                }
                Err(err) => {
                    tracing::warn!(kind = report.kind, namespace = ?report.namespace, name = %report.name, error = %err, "status write failed");
                }
            }
        }
        writes
    }

    /// Forgets what we applied: after leadership changes hands another replica may have
    /// written since, so only the objects themselves say what they hold.
    pub fn forget_applied(&mut self) {
        self.applied.clear();
    }

    async fn transition_event(&self, report: &Report) {
        if report.is_true() {
            self.event(
                report,
                EventType::Normal,
                "Programmed",
                "Konnect holds every entity this object produces",
            )
            .await;
        } else {
            self.event(report, EventType::Warning, &report.reason, &report.message)
                .await;
        }
    }

    async fn apply(&self, report: &Report, cond: &Condition) -> Result<(), kube::Error> {
        let body = json!({
            "apiVersion": api_version(report.kind),
            "kind": report.kind,
            "status": { "conditions": [cond] },
        });
        let params = PatchParams::apply(FIELD_MANAGER).force();
        let patch = Patch::Apply(&body);
        use crate::crd::{KongClusterPlugin, KongConsumer, KongConsumerGroup, KongPlugin};
        let ns = report.namespace.as_deref().unwrap_or_default();
        match report.kind {
            "KongPlugin" => Api::<KongPlugin>::namespaced(self.client.clone(), ns)
                .patch_status(&report.name, &params, &patch)
                .await
                .map(drop),
            "KongClusterPlugin" => Api::<KongClusterPlugin>::all(self.client.clone())
                .patch_status(&report.name, &params, &patch)
                .await
                .map(drop),
            "KongConsumer" => Api::<KongConsumer>::namespaced(self.client.clone(), ns)
                .patch_status(&report.name, &params, &patch)
                .await
                .map(drop),
            "KongConsumerGroup" => Api::<KongConsumerGroup>::namespaced(self.client.clone(), ns)
                .patch_status(&report.name, &params, &patch)
                .await
                .map(drop),
            _ => Ok(()),
        }
    }

    async fn event(&self, report: &Report, type_: EventType, reason: &str, note: &str) {
        let reference = ObjectReference {
            api_version: Some(api_version(report.kind).into()),
            kind: Some(report.kind.into()),
            namespace: report.namespace.clone(),
            name: Some(report.name.clone()),
            uid: report.uid.clone(),
            ..ObjectReference::default()
        };
        let event = Event {
            type_,
            reason: reason.chars().take(128).collect(),
            note: Some(cap(note, MAX_NOTE)),
            action: "Reconcile".into(),
            secondary: None,
        };
        if let Err(err) = self.recorder.publish(&event, &reference).await {
            tracing::debug!(error = %err, "event not published");
        }
    }
}

/// Reads the condition an object holds now.
pub type CurrentCondition = Box<dyn Fn(&Report) -> Option<Condition> + Send + Sync>;

/// Status writing beside the sync loop: a pass hands over its reports and goes on to the next
/// change, so a backlog of condition writes (one per plugin object after a bulk sync: 10,000
/// took the apiserver about 50 s here) never delays a Konnect write. Only the newest reports
/// matter (each pass reports every object), so a batch submitted while one is being written
/// replaces any batch still waiting.
pub struct StatusQueue {
    tx: tokio::sync::watch::Sender<std::sync::Arc<Vec<Report>>>,
    task: tokio::task::JoinHandle<()>,
}

/// Whether we may write now (with leader election: the Lease is ours and current).
pub type MayWrite = Box<
    dyn Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = bool> + Send>> + Send + Sync,
>;

impl Drop for StatusQueue {
    /// The writer stops with the sync loop: nothing is written after the operator stopped.
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl StatusQueue {
    /// Starts the writer task. `current` reads the condition an object holds now (from the
    /// reflector stores). With leader election, `leader` is the lease manager's flag, checked
    /// before every write, and `may_write` reads the Lease itself before each batch (as the
    /// sync loop does before each pass). A batch that may not be written is dropped: the next
    /// pass after leadership returns submits anew.
    pub fn spawn(
        mut reporter: Reporter,
        current: CurrentCondition,
        leader: Option<tokio::sync::watch::Receiver<bool>>,
        may_write: MayWrite,
    ) -> Self {
        let (tx, mut rx) = tokio::sync::watch::channel(std::sync::Arc::new(Vec::new()));
        let task = tokio::spawn(async move {
            let mut leader_rx = leader.clone();
            let leading = move || leader.as_ref().is_none_or(|l| *l.borrow());
            loop {
                let leader_changed = async {
                    match leader_rx.as_mut() {
                        Some(l) => Some(l.changed().await.is_ok()),
                        None => std::future::pending().await,
                    }
                };
                let alive = tokio::select! {
                    changed = rx.changed() => {
                        if changed.is_err() {
                            break;
                        }
                        None
                    }
                    alive = leader_changed => alive,
                };
                match alive {
                    // The lease manager stopped: leadership is read from its last value.
                    Some(false) => {
                        leader_rx = None;
                        continue;
                    }
                    // Leadership changed hands (perhaps there and back): another replica may
                    // have written meanwhile.
                    Some(true) => {
                        reporter.forget_applied();
                        continue;
                    }
                    None => {}
                }
                let reports = rx.borrow_and_update().clone();
                if !leading() || !may_write().await {
                    reporter.forget_applied();
                    continue;
                }
                let started = std::time::Instant::now();
                let writes = reporter.report(&reports, &*current, &leading).await;
                if writes > 0 {
                    tracing::info!(
                        writes,
                        took_ms = started.elapsed().as_millis() as u64,
                        "status written"
                    );
                }
            }
        });
        Self { tx, task }
    }

    /// Hands over a pass's reports; returns at once.
    pub fn submit(&self, reports: Vec<Report>) {
        self.tx.send_replace(std::sync::Arc::new(reports));
    }
}

/// The apiVersion of a source kind.
pub fn api_version(kind: &str) -> &'static str {
    match kind {
        "KongPlugin" | "KongClusterPlugin" | "KongConsumer" => "configuration.konghq.com/v1",
        "KongConsumerGroup" => "configuration.konghq.com/v1beta1",
        "Ingress" | "IngressClass" => "networking.k8s.io/v1",
        "HTTPRoute" | "Gateway" | "GatewayClass" => "gateway.networking.k8s.io/v1",
        _ => "v1",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::diff::Kind;
    use crate::controller::execute::Failure;
    use crate::konnect::models::Plugin;

    fn result(kind: &'static str, name: &str, status: Status, message: &str) -> ObjectResult {
        ObjectResult {
            kind,
            namespace: Some("default".into()),
            name: name.into(),
            uid: Some("u1".into()),
            generation: Some(3),
            status,
            message: message.into(),
            warnings: Vec::new(),
        }
    }

    fn plugin(n: u128, source: &str) -> Plugin {
        Plugin {
            id: Some(EntityId::from(uuid::Uuid::from_u128(n))),
            name: "key-auth".into(),
            tags: Some(
                [
                    format!("k8s-name:{source}"),
                    "k8s-namespace:default".into(),
                    "k8s-kind:KongPlugin".into(),
                ]
                .into_iter()
                .map(|t| Tag::new(t).unwrap())
                .collect(),
            ),
            ..Plugin::default()
        }
    }

    #[test]
    fn accepted_and_written_is_programmed_true() {
        let desired = DesiredState {
            plugins: vec![plugin(1, "auth")],
            results: vec![result("KongPlugin", "auth", Status::Accepted, "")],
            ..DesiredState::default()
        };
        let r = reports(&desired, &Outcome::default(), false);
        assert_eq!(r.len(), 1);
        assert_eq!((r[0].status, r[0].reason.as_str()), ("True", "Programmed"));
        assert_eq!(r[0].generation, Some(3));
    }

    #[test]
    fn a_konnect_refusal_names_the_entity_and_konnect_s_fields() {
        let desired = DesiredState {
            plugins: vec![plugin(1, "auth"), plugin(2, "other")],
            results: vec![
                result("KongPlugin", "auth", Status::Accepted, ""),
                result("KongPlugin", "other", Status::Accepted, ""),
            ],
            ..DesiredState::default()
        };
        let mut outcome = Outcome::default();
        outcome.failed.insert(
            EntityId::from(uuid::Uuid::from_u128(1)),
            Failure {
                kind: Kind::Plugin,
                operation: "put",
                reason: "KonnectValidationFailed".into(),
                message: "validation error: config.key_names: expected an array".into(),
                retryable: false,
            },
        );
        let r = reports(&desired, &outcome, false);
        assert_eq!(r[0].status, "False");
        assert_eq!(r[0].reason, "KonnectValidationFailed");
        assert!(
            r[0].message.contains("config.key_names: expected an array"),
            "{}",
            r[0].message
        );
        assert!(
            r[0].message
                .contains("00000000-0000-0000-0000-000000000001")
        );
        // The other plugin is unaffected.
        assert!(r[1].is_true());
    }

    #[test]
    fn translation_verdicts_become_false_and_other_classes_get_nothing() {
        let desired = DesiredState {
            results: vec![
                result(
                    "KongPlugin",
                    "bad",
                    Status::Invalid {
                        reason: Reason::InvalidConfig,
                    },
                    "KongPlugin default/bad: config.x: unknown field",
                ),
                result(
                    "KongConsumer",
                    "theirs",
                    Status::Pending {
                        reason: Reason::IgnoredClass,
                    },
                    "",
                ),
            ],
            ..DesiredState::default()
        };
        let r = reports(&desired, &Outcome::default(), false);
        assert_eq!(r.len(), 1);
        assert_eq!(
            (r[0].status, r[0].reason.as_str()),
            ("False", "InvalidConfig")
        );
        assert_eq!(
            r[0].message,
            "KongPlugin default/bad: config.x: unknown field"
        );
    }

    #[test]
    fn a_partial_view_reports_no_finding_only_an_absence_justifies() {
        let pending = |reason| Status::Pending { reason };
        let desired = DesiredState {
            results: vec![
                result("KongPlugin", "unused", pending(Reason::NotReferenced), "m"),
                result("KongConsumer", "c", pending(Reason::ReferenceNotFound), "m"),
                result(
                    "KongConsumer",
                    "d",
                    pending(Reason::ReferenceNotPermitted),
                    "m",
                ),
                result("KongPlugin", "held", pending(Reason::PluginInvalid), "m"),
                result(
                    "KongPlugin",
                    "bad",
                    Status::Invalid {
                        reason: Reason::InvalidConfig,
                    },
                    "m",
                ),
            ],
            ..DesiredState::default()
        };
        let names = |partial| -> Vec<String> {
            reports(&desired, &Outcome::default(), partial)
                .into_iter()
                .map(|r| r.name)
                .collect()
        };
        assert_eq!(names(false), ["unused", "c", "d", "held", "bad"]);
        assert_eq!(names(true), ["held", "bad"]);
    }

    #[test]
    fn messages_are_capped_with_a_count() {
        let long = "x".repeat(MAX_MESSAGE + 500);
        let c = cap(&long, MAX_MESSAGE);
        assert_eq!(c.chars().count(), MAX_MESSAGE);
        assert!(
            c.ends_with("(500 more characters)"),
            "{}",
            &c[c.len() - 40..]
        );
        assert_eq!(cap("short", MAX_MESSAGE), "short");
    }

    #[test]
    fn the_transition_time_moves_only_with_the_status() {
        let report = Report {
            kind: "KongPlugin",
            namespace: None,
            name: "a".into(),
            uid: None,
            generation: Some(2),
            status: "False",
            reason: "InvalidConfig".into(),
            message: "m2".into(),
            warnings: Vec::new(),
        };
        let old = Time("2020-01-01T00:00:00Z".parse().unwrap());
        let now = Time("2026-01-01T00:00:00Z".parse().unwrap());
        let current = Condition {
            type_: PROGRAMMED.into(),
            status: "False".into(),
            reason: "InvalidConfig".into(),
            message: "m1".into(),
            observed_generation: Some(1),
            last_transition_time: old.clone(),
        };
        assert!(!unchanged(&report, Some(&current)));
        assert_eq!(
            condition(&report, Some(&current), now.clone()).last_transition_time,
            old
        );
        let flipped = Report {
            status: "True",
            ..report.clone()
        };
        assert_eq!(
            condition(&flipped, Some(&current), now.clone()).last_transition_time,
            now
        );
        let same = Condition {
            message: "m2".into(),
            observed_generation: Some(2),
            ..current
        };
        assert!(unchanged(&report, Some(&same)));
    }
}
