//! I/O. Carries out a [`Plan`] through the Konnect client: phase after phase (parents before
//! children, children deleted first), the writes of one phase concurrently within the client's
//! shared budget. Records every outcome; holds no business logic.

use std::collections::{BTreeMap, BTreeSet};

use futures::StreamExt;

use crate::konnect::client::ControlPlaneClient;
use crate::konnect::error::{ConstraintKind, Error};
use crate::konnect::models::EntityId;
use crate::translate::DesiredState;

use super::diff::{Action, Body, Kind, Observed, Op, Plan};
use super::metrics::Metrics;

/// What became of one write that did not succeed.
#[derive(Clone, Debug)]
pub struct Failure {
    pub kind: Kind,
    pub operation: &'static str,
    /// Condition reason (`KonnectValidationFailed`, `KonnectUnavailable`, ...).
    pub reason: String,
    /// Konnect's answer (field errors included), never a Secret value: Konnect does not echo
    /// config values, and the client scrubs the token.
    pub message: String,
    /// The same write may succeed later unchanged (429, 5xx, no answer).
    pub retryable: bool,
}

/// The outcome of a pass's writes.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    /// Writes that succeeded (or, in dry-run, that would have been made).
    pub done: usize,
    /// Failed writes, by entity id.
    pub failed: BTreeMap<EntityId, Failure>,
    /// PUTs of entities Konnect held in another version (drift or change repaired).
    pub updated: usize,
}

impl Outcome {
    /// Records that `op` did not succeed.
    pub fn fail(&mut self, op: &Op, reason: &str, message: String, retryable: bool) {
        self.failed.insert(
            op.id,
            Failure {
                kind: op.kind,
                operation: op.operation(),
                reason: reason.into(),
                message,
                retryable,
            },
        );
    }
}

/// How long a write Konnect refused (400: the body itself is wrong) is not sent again unless
/// its body changes. Konnect only changes its mind if its own rules change (a plugin enabled
/// for the organization), so once an hour is enough, and steady state stays free of writes.
pub const REFUSAL_RETRY: std::time::Duration = std::time::Duration::from_secs(3600);

/// The PUTs Konnect refused for good, with the body refused, so the same body is not sent
/// again every pass (only when it changes, or after [`REFUSAL_RETRY`]).
#[derive(Debug, Default)]
pub struct Refusals {
    entries: BTreeMap<EntityId, (Action, Failure, std::time::Instant)>,
}

impl Refusals {
    /// The refusal of this very write, if Konnect refused it recently.
    pub fn of(&self, op: &Op) -> Option<&Failure> {
        self.entries
            .get(&op.id)
            .filter(|(action, _, at)| *action == op.action && at.elapsed() < REFUSAL_RETRY)
            .map(|(_, failure, _)| failure)
    }

    fn record(&mut self, op: &Op, failure: Failure) {
        if matches!(op.action, Action::Put(_)) {
            self.entries.insert(
                op.id,
                (op.action.clone(), failure, std::time::Instant::now()),
            );
        }
    }

    fn forget(&mut self, id: &EntityId) {
        self.entries.remove(id);
    }

    /// Number of refusals remembered.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when none is remembered.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// How [`execute`] writes.
#[derive(Clone, Copy, Debug)]
pub struct Mode {
    /// Writes in flight at once within a phase.
    pub concurrency: usize,
    /// Writes are logged and counted, never sent.
    pub dry_run: bool,
}

/// Executes `plan`, updating `observed` after every successful write. In dry run, writes are
/// logged and counted, never sent.
pub async fn execute(
    cp: &ControlPlaneClient,
    plan: &Plan,
    observed: &mut Observed,
    Mode {
        concurrency,
        dry_run,
    }: Mode,
    metrics: &Metrics,
    desired: &DesiredState,
    refusals: &mut Refusals,
) -> Outcome {
    let mut outcome = Outcome::default();
    let mut failed_ids: BTreeSet<EntityId> = BTreeSet::new();
    for phase in &plan.phases {
        // A write whose parent failed to appear would only fail on a foreign key: skip it and
        // report the parent's failure instead.
        let (ready, blocked): (Vec<&Op>, Vec<&Op>) = phase.iter().partition(|op| {
            op.parents()
                .iter()
                .all(|p| !failed_ids.contains(p) || observed_has_any(observed, p))
        });
        for op in blocked {
            failed_ids.insert(op.id);
            let message = format!(
                "{} {} not written: an entity it belongs to could not be written",
                op.kind.as_str(),
                op.id
            );
            outcome.fail(op, "ParentNotWritten", message, true);
        }
        // The same body Konnect refused: not sent again; its refusal stands.
        let (ready, refused): (Vec<&Op>, Vec<&Op>) =
            ready.into_iter().partition(|op| refusals.of(op).is_none());
        for op in refused {
            if let Some(f) = refusals.of(op) {
                failed_ids.insert(op.id);
                outcome.failed.insert(op.id, f.clone());
            }
        }
        if dry_run {
            for op in ready {
                tracing::info!(
                    entity = op.kind.as_str(),
                    id = %op.id,
                    operation = op.operation(),
                    "dry run: planned write not sent"
                );
                metrics.planned_write(op);
                outcome.done += 1;
            }
            continue;
        }
        let results: Vec<(&Op, Result<Option<Body>, Error>)> = futures::stream::iter(ready)
            .map(|op| async move { (op, write(cp, op).await) })
            .buffer_unordered(concurrency.max(1))
            .collect()
            .await;
        for (op, result) in results {
            metrics.write(op, result.as_ref().err());
            match result {
                Ok(stored) => {
                    refusals.forget(&op.id);
                    observed.record(op, stored);
                    outcome.done += 1;
                    if op.update {
                        outcome.updated += 1;
                    }
                }
                Err(err) => {
                    // Konnect may quote a refused value, and values can come from Secrets.
                    let message = scrub(desired, &op.id, &err.to_string());
                    tracing::warn!(
                        entity = op.kind.as_str(),
                        id = %op.id,
                        operation = op.operation(),
                        status = err.status(),
                        error = %message,
                        "konnect write failed"
                    );
                    failed_ids.insert(op.id);
                    outcome.fail(op, err.reason(), message, err.is_retryable());
                    // Only a refusal of the body itself: a missing parent or a name taken
                    // can change without our body changing.
                    if matches!(err, Error::Validation { .. } | Error::BadRequest { .. })
                        && let Some(f) = outcome.failed.get(&op.id)
                    {
                        refusals.record(op, f.clone());
                    }
                }
            }
        }
    }
    outcome
}

fn observed_has_any(observed: &Observed, id: &EntityId) -> bool {
    [
        Kind::Service,
        Kind::Route,
        Kind::Consumer,
        Kind::ConsumerGroup,
        Kind::Plugin,
    ]
    .into_iter()
    .any(|k| observed.contains(k, id))
}

/// `message` with every value of plugin `id` that came from a Secret replaced by
/// `<redacted>` (strings of 4+ characters and the text of other scalars, at any depth).
pub fn scrub(desired: &DesiredState, id: &EntityId, message: &str) -> String {
    let Some(fields) = desired.secret_fields.get(id) else {
        return message.to_owned();
    };
    let Some(plugin) = desired.plugins.iter().find(|p| p.id.as_ref() == Some(id)) else {
        return message.to_owned();
    };
    let mut values = Vec::new();
    for f in fields {
        if let Some(v) = plugin.config.pointer(&f.pointer) {
            leaves(v, &mut values);
        }
    }
    // Longest first, so a value containing another is replaced whole.
    values.sort_by_key(|v| std::cmp::Reverse(v.len()));
    let mut out = message.to_owned();
    for v in values.iter().filter(|v| v.chars().count() >= 4) {
        out = out.replace(v.as_str(), "<redacted>");
    }
    out
}

fn leaves(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Array(a) => a.iter().for_each(|x| leaves(x, out)),
        // A field that is an object came from a Secret keys and all (see translate::redact).
        serde_json::Value::Object(o) => o.iter().for_each(|(k, x)| {
            out.push(k.clone());
            leaves(x, out)
        }),
        serde_json::Value::Null => {}
        other => out.push(other.to_string()),
    }
}

#[tracing::instrument(skip_all, fields(entity = op.kind.as_str(), id = %op.id, op = op.operation()))]
async fn write(cp: &ControlPlaneClient, op: &Op) -> Result<Option<Body>, Error> {
    let id = op.id.to_string();
    // A PUT returns the entity as Konnect now holds it (defaults filled): that is what the next
    // pass compares with, so a later change to a field we do not set is seen as drift.
    let done = |r: Result<(), Error>| r.map(|()| None);
    match &op.action {
        Action::Put(body) => match body.as_ref() {
            Body::Service(e) => cp.upsert(e).await.map(|e| Some(Body::Service(e))),
            Body::Route(e) => cp.upsert(e).await.map(|e| Some(Body::Route(e))),
            Body::Consumer(e) => cp.upsert(e).await.map(|e| Some(Body::Consumer(e))),
            Body::ConsumerGroup(e) => cp.upsert(e).await.map(|e| Some(Body::ConsumerGroup(e))),
            Body::Plugin(e) => cp.upsert(e).await.map(|e| Some(Body::Plugin(e))),
        },
        Action::Delete => done(match op.kind {
            Kind::Service => cp.delete_service(&id).await,
            Kind::Route => cp.delete_route(&id).await,
            Kind::Consumer => cp.delete_consumer(&id).await,
            Kind::ConsumerGroup => cp.delete_consumer_group(&id).await,
            Kind::Plugin => cp.delete_plugin(&id).await,
            Kind::Membership => Ok(()),
        }),
        Action::AddMember(m) => {
            let group = m.consumer_group.id.to_string();
            done(match cp.add_consumer_to_group(&group, &id).await {
                // Already a member (a relist raced our add): that is what we wanted.
                Err(Error::Constraint {
                    kind: ConstraintKind::Unique,
                    ..
                }) => Ok(()),
                other => other,
            })
        }
        Action::RemoveMember(m) => {
            let group = m.consumer_group.id.to_string();
            done(match cp.remove_consumer_from_group(&group, &id).await {
                Err(e) if e.is_not_found() => Ok(()),
                other => other,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::konnect::models::Plugin;
    use crate::translate::{SecretField, SecretSource};
    use serde_json::json;

    #[test]
    fn secret_values_are_scrubbed_from_konnect_messages() {
        let id = EntityId::from(uuid::Uuid::from_u128(9));
        let desired = DesiredState {
            plugins: vec![Plugin {
                id: Some(id),
                name: "session".into(),
                config: json!({"secret": "canary-s3cret", "cookie_name": "sess"}),
                ..Plugin::default()
            }],
            secret_fields: [(
                id,
                vec![SecretField {
                    pointer: "/secret".into(),
                    secret: SecretSource {
                        namespace: "default".into(),
                        name: "s".into(),
                        key: "k".into(),
                    },
                }],
            )]
            .into(),
            ..DesiredState::default()
        };
        let msg = "validation error: config.secret: invalid value: canary-s3cret; config.cookie_name: sess";
        let out = scrub(&desired, &id, msg);
        assert!(!out.contains("canary-s3cret"), "{out}");
        assert!(
            out.contains("config.secret: invalid value: <redacted>"),
            "{out}"
        );
        assert!(
            out.contains("cookie_name: sess"),
            "values not from Secrets stay: {out}"
        );
        let other = EntityId::from(uuid::Uuid::from_u128(10));
        assert_eq!(scrub(&desired, &other, msg), msg);
    }
}
