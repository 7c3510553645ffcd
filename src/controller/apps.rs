//! Reconciles `KonnectApplicationAuthStrategy` and `KonnectDCRProvider` objects into Konnect's
//! Application Auth Strategies API, beside the plugin sync loop and on the same runtime: the
//! same kube client, the same budgeted Konnect client (its request metrics included), the
//! leader Lease (only the leader writes), status by server-side apply under our field manager,
//! and Events on transitions.
//!
//! Unlike core entities, these have server-assigned ids. Creation stays idempotent across a
//! crash between the create and the status write: every entity carries the label
//! [`LABEL_UID`] = the object's UID, and before creating, the reconciler looks for an entity
//! with ours. A finalizer deletes the Konnect entity before the object goes; a delete Konnect
//! refuses (409: a product version still uses the strategy) is reported on the object's
//! `Programmed` condition and retried with backoff, and the annotation
//! [`ANNOTATION_ON_DELETE`]`=orphan` lets the object go without deleting the entity.
//!
//! Secret values are read only to be sent; the in-sync check keeps a hash of what was last
//! sent in memory (never in status), so rotating a referenced Secret writes Konnect again.
//! Conditions and Events never hold a secret value: Konnect's messages are scrubbed of them.
//!
//! The pure parts ([`strategy_body`], [`provider_body`], [`update_body`], [`in_sync`]) take
//! values; the rest is I/O.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ObjectReference, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::api::{ListParams, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Event, EventType, Recorder};
use kube::runtime::finalizer::{Event as Finalizer, finalizer};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Api, Client, Resource, ResourceExt};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::crd::{
    ANNOTATION_ON_DELETE, APPS_FINALIZER, CONDITION_PROGRAMMED, CONDITION_VERIFIED,
    KonnectApplicationAuthStrategy, KonnectApplicationAuthStrategySpec, KonnectDCRProvider,
    KonnectDCRProviderSpec, LABEL_MANAGED_BY, LABEL_UID, ProviderType, StrategyType,
};
use crate::konnect::KonnectClient;
use crate::konnect::error::Error as KonnectError;

use super::status::{FIELD_MANAGER, MAX_MESSAGE, cap};

/// The value of [`LABEL_MANAGED_BY`].
pub const MANAGED_BY: &str = "konnect-plugin-operator";
/// How often a programmed object is checked again against Konnect (drift, `active`).
const RESYNC: Duration = Duration::from_secs(300);
/// How often a non-leader looks again.
const FOLLOWER_WAIT: Duration = Duration::from_secs(5);
/// Waiting for something in the cluster (a Secret, a provider's id); watches also wake us.
const PENDING_WAIT: Duration = Duration::from_secs(30);

/// What one reconcile failed with.
#[derive(Debug, thiserror::Error)]
pub enum AppsError {
    /// May succeed later unchanged (Konnect unavailable, a refused delete, a status write).
    #[error("{0}")]
    Retry(String),
}

/// Shared by every reconcile.
pub struct AppsContext {
    client: Client,
    konnect: KonnectClient,
    leader: Option<tokio::sync::watch::Receiver<bool>>,
    dry_run: bool,
    recorder: Recorder,
    /// Hash of the last body (secrets included) Konnect accepted, by object UID.
    sent: Mutex<HashMap<String, String>>,
    /// Consecutive failures by object UID, for the backoff.
    failures: Mutex<HashMap<String, u32>>,
}

impl AppsContext {
    fn is_leader(&self) -> bool {
        self.leader.as_ref().is_none_or(|rx| *rx.borrow())
    }

    fn succeeded(&self, uid: &str) {
        lock(&self.failures).remove(uid);
    }
}

/// Runs the two controllers until the process ends. Missing CRDs (the kinds not installed)
/// are logged once and the loop does not start.
pub async fn run(
    client: Client,
    konnect: KonnectClient,
    leader: Option<tokio::sync::watch::Receiver<bool>>,
    namespaces: Vec<String>,
    dry_run: bool,
) {
    let probe: Api<KonnectApplicationAuthStrategy> = Api::all(client.clone());
    let probe_dcr: Api<KonnectDCRProvider> = Api::all(client.clone());
    let installed = match namespaces.first() {
        None => {
            probe.list(&ListParams::default().limit(1)).await.is_ok()
                && probe_dcr
                    .list(&ListParams::default().limit(1))
                    .await
                    .is_ok()
        }
        Some(ns) => {
            let a: Api<KonnectApplicationAuthStrategy> = Api::namespaced(client.clone(), ns);
            let b: Api<KonnectDCRProvider> = Api::namespaced(client.clone(), ns);
            a.list(&ListParams::default().limit(1)).await.is_ok()
                && b.list(&ListParams::default().limit(1)).await.is_ok()
        }
    };
    if !installed {
        tracing::warn!(
            "KonnectApplicationAuthStrategy/KonnectDCRProvider cannot be listed (CRDs not installed, or no RBAC): application auth strategies and DCR providers are not reconciled"
        );
        return;
    }
    let ctx = Arc::new(AppsContext {
        recorder: Recorder::new(
            client.clone(),
            kube::runtime::events::Reporter {
                controller: FIELD_MANAGER.into(),
                instance: std::env::var("POD_NAME").ok(),
            },
        ),
        client: client.clone(),
        konnect,
        leader,
        dry_run,
        sent: Mutex::default(),
        failures: Mutex::default(),
    });
    let scopes: Vec<Option<String>> = if namespaces.is_empty() {
        vec![None]
    } else {
        namespaces.into_iter().map(Some).collect()
    };
    let mut tasks = Vec::new();
    for ns in scopes {
        tasks.push(tokio::spawn(run_providers(
            client.clone(),
            ns.clone(),
            ctx.clone(),
        )));
        tasks.push(tokio::spawn(run_strategies(
            client.clone(),
            ns,
            ctx.clone(),
        )));
    }
    tracing::info!("reconciling KonnectApplicationAuthStrategy and KonnectDCRProvider");
    for t in tasks {
        let _ = t.await;
    }
}

fn api<K>(client: &Client, ns: Option<&str>) -> Api<K>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>,
{
    match ns {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

async fn run_providers(client: Client, ns: Option<String>, ctx: Arc<AppsContext>) {
    let providers: Api<KonnectDCRProvider> = api(&client, ns.as_deref());
    // Metadata only: a change is all that matters here; the data is read when reconciling.
    let secrets: Api<kube::core::PartialObjectMeta<Secret>> = api(&client, ns.as_deref());
    let controller = Controller::new(providers, watcher::Config::default());
    let store = controller.store();
    controller
        .watches(
            secrets,
            watcher::Config::default(),
            move |secret: kube::core::PartialObjectMeta<Secret>| {
                let sns = secret.namespace().unwrap_or_default();
                let sname = secret.name_any();
                store
                    .state()
                    .into_iter()
                    .filter(|p| {
                        p.namespace().as_deref() == Some(sns.as_str())
                            && p.secret_refs().iter().any(|(_, r)| r.name == sname)
                    })
                    .map(|p| ObjectRef::from_obj(&*p))
                    .collect::<Vec<_>>()
            },
        )
        .run(reconcile_provider, error_policy, ctx)
        .for_each(|r| async move {
            if let Err(err) = r {
                tracing::debug!(error = %err, "dcr provider reconcile");
            }
        })
        .await;
}

async fn run_strategies(client: Client, ns: Option<String>, ctx: Arc<AppsContext>) {
    let strategies: Api<KonnectApplicationAuthStrategy> = api(&client, ns.as_deref());
    let providers: Api<KonnectDCRProvider> = api(&client, ns.as_deref());
    let controller = Controller::new(strategies, watcher::Config::default());
    let store = controller.store();
    controller
        .watches(
            providers,
            watcher::Config::default(),
            move |p: KonnectDCRProvider| {
                let pns = p.namespace().unwrap_or_default();
                let pname = p.name_any();
                store
                    .state()
                    .into_iter()
                    .filter(|s| {
                        s.namespace().as_deref() == Some(pns.as_str())
                            && s.spec.dcr_provider_ref.as_ref().map(|r| r.name.as_str())
                                == Some(pname.as_str())
                    })
                    .map(|s| ObjectRef::from_obj(&*s))
                    .collect::<Vec<_>>()
            },
        )
        .run(reconcile_strategy, error_policy, ctx)
        .for_each(|r| async move {
            if let Err(err) = r {
                tracing::debug!(error = %err, "auth strategy reconcile");
            }
        })
        .await;
}

/// 1s, 2s, 4s ... up to 5 minutes, per object.
fn error_policy<K: Resource>(
    obj: Arc<K>,
    err: &kube::runtime::finalizer::Error<AppsError>,
    ctx: Arc<AppsContext>,
) -> Action {
    let uid = obj.meta().uid.clone().unwrap_or_default();
    let mut failures = lock(&ctx.failures);
    let n = failures.entry(uid).or_insert(0);
    *n = n.saturating_add(1);
    let wait = Duration::from_secs(1u64 << (*n - 1).min(8)).min(RESYNC);
    tracing::info!(
        name = obj.meta().name.as_deref().unwrap_or_default(),
        error = %err,
        retry_in_s = wait.as_secs(),
        "reconcile failed; retrying"
    );
    Action::requeue(wait)
}

// ----- pure: bodies and comparison ------------------------------------------------------

/// Our labels on top of the user's: managed-by and the object's UID.
pub fn konnect_labels(user: Option<&BTreeMap<String, String>>, uid: &str) -> Map<String, Value> {
    let mut labels: Map<String, Value> = user
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    labels.insert(LABEL_MANAGED_BY.into(), json!(MANAGED_BY));
    labels.insert(LABEL_UID.into(), json!(uid));
    labels
}

fn config_key(t: StrategyType) -> &'static str {
    match t {
        StrategyType::KeyAuth => "key-auth",
        StrategyType::OpenIdConnect => "openid-connect",
    }
}

/// The strategy's `configs.<type>` object as Konnect takes it.
pub fn strategy_config(spec: &KonnectApplicationAuthStrategySpec) -> Map<String, Value> {
    let mut c = Map::new();
    match spec.type_ {
        StrategyType::KeyAuth => {
            if let Some(k) = &spec.key_auth {
                if let Some(names) = &k.key_names {
                    c.insert("key_names".into(), json!(names));
                }
                if let Some(ttl) = &k.ttl {
                    c.insert("ttl".into(), json!({"value": ttl.value, "unit": ttl.unit}));
                }
            }
        }
        StrategyType::OpenIdConnect => {
            if let Some(o) = &spec.openid_connect {
                if let Some(extra) = &o.additional_properties {
                    c.extend(extra.clone());
                }
                c.insert("issuer".into(), json!(o.issuer));
                c.insert("credential_claim".into(), json!(o.credential_claim));
                c.insert("scopes".into(), json!(o.scopes));
                c.insert("auth_methods".into(), json!(o.auth_methods));
            }
        }
    }
    c
}

/// `CreateAppAuthStrategyRequest` of a strategy.
pub fn strategy_body(
    spec: &KonnectApplicationAuthStrategySpec,
    name: &str,
    uid: &str,
    dcr_provider_id: Option<&str>,
) -> Value {
    let mut b = json!({
        "name": name,
        "display_name": spec.display_name,
        "strategy_type": spec.type_.as_str(),
        "configs": {config_key(spec.type_): strategy_config(spec)},
        "labels": konnect_labels(spec.labels.as_ref(), uid),
    });
    if spec.type_ == StrategyType::OpenIdConnect {
        b["dcr_provider_id"] = json!(dcr_provider_id);
    }
    b
}

/// A DCR provider's `dcr_config`, with the secret values given by Konnect field name.
pub fn dcr_config(spec: &KonnectDCRProviderSpec, secrets: &BTreeMap<&str, String>) -> Value {
    let mut c = Map::new();
    let mut put = |k: &str, v: Value| {
        c.insert(k.into(), v);
    };
    match spec.provider_type {
        ProviderType::Auth0 => {
            if let Some(a) = &spec.auth0 {
                put("initial_client_id", json!(a.initial_client_id));
                if let Some(aud) = &a.initial_client_audience {
                    put("initial_client_audience", json!(aud));
                }
                if let Some(s) = a.use_developer_managed_scopes {
                    put("use_developer_managed_scopes", json!(s));
                }
            }
        }
        ProviderType::AzureAd | ProviderType::Curity => {
            let cfg = if spec.provider_type == ProviderType::AzureAd {
                &spec.azure_ad
            } else {
                &spec.curity
            };
            if let Some(a) = cfg {
                put("initial_client_id", json!(a.initial_client_id));
            }
        }
        ProviderType::Http => {
            if let Some(h) = &spec.http {
                put("dcr_base_url", json!(h.dcr_base_url));
                for (k, v) in [
                    ("disable_event_hooks", h.disable_event_hooks),
                    ("disable_refresh_secret", h.disable_refresh_secret),
                    ("allow_multiple_credentials", h.allow_multiple_credentials),
                ] {
                    if let Some(v) = v {
                        put(k, json!(v));
                    }
                }
            }
        }
        ProviderType::Okta | ProviderType::KongIdentity => {}
    }
    for (k, v) in secrets {
        put(k, json!(v));
    }
    Value::Object(c)
}

/// `CreateDcrProviderRequest` of a provider.
pub fn provider_body(
    spec: &KonnectDCRProviderSpec,
    name: &str,
    uid: &str,
    secrets: &BTreeMap<&str, String>,
) -> Value {
    let mut b = json!({
        "name": name,
        "provider_type": spec.provider_type.as_str(),
        "issuer": spec.issuer,
        "labels": konnect_labels(spec.labels.as_ref(), uid),
    });
    if let Some(d) = &spec.display_name {
        b["display_name"] = json!(d);
    }
    if spec.provider_type != ProviderType::KongIdentity {
        b["dcr_config"] = dcr_config(spec, secrets);
    }
    b
}

/// The PATCH body turning `observed` into `create` (a create body): every field of the create
/// body but the type, labels Konnect holds and we do not want set to null, and config keys
/// Konnect holds and we do not want set to null (strategies).
pub fn update_body(create: &Value, observed: &Value, type_field: &str) -> Value {
    let mut b = create.as_object().cloned().unwrap_or_default();
    b.remove(type_field);
    if let (Some(Value::Object(want)), Some(Value::Object(have))) =
        (b.get_mut("labels"), observed.get("labels"))
    {
        for k in have.keys() {
            if !want.contains_key(k) {
                want.insert(k.clone(), Value::Null);
            }
        }
    }
    if let (Some(Value::Object(want)), Some(Value::Object(have))) =
        (b.get_mut("configs"), observed.get("configs"))
    {
        for (key, cfg) in want.iter_mut() {
            if let (Value::Object(cfg), Some(Value::Object(held))) = (cfg, have.get(key)) {
                for k in held.keys() {
                    if !cfg.contains_key(k) {
                        cfg.insert(k.clone(), Value::Null);
                    }
                }
            }
        }
    }
    Value::Object(b)
}

/// True when Konnect's answer (`observed`) holds every value `create` sets, secrets aside
/// (Konnect never returns them). Strategies' `dcr_provider_id` is compared with
/// `dcr_provider.id`.
pub fn in_sync(create: &Value, observed: &Value) -> bool {
    let Some(want) = create.as_object() else {
        return false;
    };
    want.iter().all(|(k, v)| match k.as_str() {
        "dcr_provider_id" => observed["dcr_provider"]["id"].as_str() == v.as_str(),
        "dcr_config" => v.as_object().into_iter().flatten().all(|(ck, cv)| {
            SECRET_FIELDS.contains(&ck.as_str()) || observed["dcr_config"][ck] == *cv
        }),
        "labels" => {
            let have = observed["labels"].as_object().cloned().unwrap_or_default();
            v.as_object().is_some_and(|w| *w == have)
        }
        _ => observed.get(k) == Some(v),
    })
}

const SECRET_FIELDS: [&str; 3] = ["initial_client_secret", "dcr_token", "api_key"];

/// A hash of a body, to know whether what Konnect accepted last (secrets included) changed.
fn body_hash(body: &Value) -> String {
    hex::encode(Sha256::digest(body.to_string().as_bytes()))
}

/// Replaces every secret value in `text`.
fn scrub(text: &str, secrets: &BTreeMap<&str, String>) -> String {
    secrets
        .values()
        .filter(|s| !s.is_empty())
        .fold(text.to_owned(), |t, s| t.replace(s.as_str(), "<redacted>"))
}

// ----- status ---------------------------------------------------------------------------

/// A condition to report.
struct Cond {
    type_: &'static str,
    status: bool,
    reason: String,
    message: String,
}

impl Cond {
    fn ok(type_: &'static str, reason: &str, message: &str) -> Cond {
        Cond {
            type_,
            status: true,
            reason: reason.into(),
            message: message.into(),
        }
    }
    fn fail(type_: &'static str, reason: &str, message: impl Into<String>) -> Cond {
        Cond {
            type_,
            status: false,
            reason: reason.into(),
            message: message.into(),
        }
    }
}

/// Writes status (id, active, the conditions) by server-side apply when it changed, and
/// publishes an Event when a condition changes status or reason.
async fn write_status<K>(
    ctx: &AppsContext,
    obj: &K,
    current: Option<&crate::crd::KonnectAppsStatus>,
    id: Option<&str>,
    active: Option<bool>,
    conds: Vec<Cond>,
) -> Result<(), AppsError>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let generation = obj.meta().generation;
    let held: &[Condition] = current.map(|s| s.conditions.as_slice()).unwrap_or(&[]);
    let mut out: Vec<Condition> = Vec::new();
    let mut changed =
        current.and_then(|s| s.id.as_deref()) != id || current.and_then(|s| s.active) != active;
    let mut transitions = Vec::new();
    for c in &conds {
        let status = if c.status { "True" } else { "False" };
        let message = cap(&c.message, MAX_MESSAGE);
        let old = held.iter().find(|h| h.type_ == c.type_);
        let same = old.is_some_and(|o| {
            o.status == status
                && o.reason == c.reason
                && o.message == message
                && o.observed_generation == generation
        });
        if !same {
            changed = true;
        }
        if old.is_none_or(|o| o.status != status || o.reason != c.reason) {
            transitions.push((c.status, c.reason.clone(), message.clone()));
        }
        out.push(Condition {
            type_: c.type_.into(),
            status: status.into(),
            reason: c.reason.clone(),
            message,
            observed_generation: generation,
            last_transition_time: match old {
                Some(o) if o.status == status => o.last_transition_time.clone(),
                _ => Time(jiff::Timestamp::now()),
            },
        });
    }
    // Conditions we own but did not recompute this time stay as they are.
    for h in held {
        if !out.iter().any(|c| c.type_ == h.type_)
            && (h.type_ == CONDITION_PROGRAMMED || h.type_ == CONDITION_VERIFIED)
        {
            out.push(h.clone());
        }
    }
    if !changed {
        return Ok(());
    }
    let mut status = json!({"conditions": out});
    if let Some(id) = id {
        status["id"] = json!(id);
    }
    if let Some(a) = active {
        status["active"] = json!(a);
    }
    let body = json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": status,
    });
    let ns = obj.meta().namespace.clone().unwrap_or_default();
    let name = obj.meta().name.clone().unwrap_or_default();
    Api::<K>::namespaced(ctx.client.clone(), &ns)
        .patch_status(
            &name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&body),
        )
        .await
        .map_err(|e| AppsError::Retry(format!("status write failed: {e}")))?;
    let reference = ObjectReference {
        api_version: Some(K::api_version(&()).into()),
        kind: Some(K::kind(&()).into()),
        namespace: Some(ns),
        name: Some(name),
        uid: obj.meta().uid.clone(),
        ..ObjectReference::default()
    };
    for (ok, reason, message) in transitions {
        let event = Event {
            type_: if ok {
                EventType::Normal
            } else {
                EventType::Warning
            },
            reason: reason.chars().take(128).collect(),
            note: Some(cap(
                if message.is_empty() {
                    "Konnect holds the entity"
                } else {
                    &message
                },
                1024,
            )),
            action: "Reconcile".into(),
            secondary: None,
        };
        if let Err(err) = ctx.recorder.publish(&event, &reference).await {
            tracing::debug!(error = %err, "event not published");
        }
    }
    Ok(())
}

/// The condition for a Konnect error; its message holds Konnect's field errors by name.
fn konnect_failure(what: &str, err: &KonnectError, secrets: &BTreeMap<&str, String>) -> Cond {
    Cond::fail(
        CONDITION_PROGRAMMED,
        err.reason(),
        scrub(
            &format!("Konnect did not accept the {what}: {err}"),
            secrets,
        ),
    )
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

// ----- strategies -----------------------------------------------------------------------

async fn reconcile_strategy(
    obj: Arc<KonnectApplicationAuthStrategy>,
    ctx: Arc<AppsContext>,
) -> Result<Action, kube::runtime::finalizer::Error<AppsError>> {
    if ctx.dry_run {
        // A dry run writes nothing, to Konnect or to the object.
        return Ok(Action::await_change());
    }
    if !ctx.is_leader() {
        return Ok(Action::requeue(FOLLOWER_WAIT));
    }
    let ns = obj.namespace().unwrap_or_default();
    let api: Api<KonnectApplicationAuthStrategy> = Api::namespaced(ctx.client.clone(), &ns);
    let c = ctx.clone();
    finalizer(&api, APPS_FINALIZER, obj, |event| async move {
        match event {
            Finalizer::Apply(o) => apply_strategy(&o, &c).await,
            Finalizer::Cleanup(o) => cleanup_strategy(&o, &c).await,
        }
    })
    .await
}

/// True when Konnect labels carry our UID label with the object's UID.
fn ours(labels: Option<&std::collections::BTreeMap<String, String>>, uid: &str) -> bool {
    labels
        .and_then(|l| l.get(LABEL_UID))
        .is_some_and(|v| v == uid)
}

/// The Konnect entity of an object: by the id in status, else by our UID label.
async fn find_strategy(
    ctx: &AppsContext,
    status_id: Option<&str>,
    uid: &str,
) -> Result<Option<crate::konnect::apps::AppAuthStrategy>, KonnectError> {
    if let Some(id) = status_id {
        match ctx.konnect.get_app_auth_strategy(id).await {
            Ok(s) => return Ok(Some(s)),
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
    }
    let all = ctx.konnect.list_all_app_auth_strategies(&[]).await?;
    Ok(all.into_iter().find(|s| ours(s.labels.as_ref(), uid)))
}

async fn apply_strategy(
    obj: &KonnectApplicationAuthStrategy,
    ctx: &AppsContext,
) -> Result<Action, AppsError> {
    let uid = obj.uid().unwrap_or_default();
    let ns = obj.namespace().unwrap_or_default();
    let status = obj.status.as_ref();
    let status_id = status.and_then(|s| s.id.as_deref());
    let none = BTreeMap::new();
    // The DCR provider's Konnect id, from its object's status.
    let mut dcr_id = None;
    if let Some(r) = &obj.spec.dcr_provider_ref {
        let providers: Api<KonnectDCRProvider> = Api::namespaced(ctx.client.clone(), &ns);
        let provider = providers
            .get_opt(&r.name)
            .await
            .map_err(|e| AppsError::Retry(format!("reading KonnectDCRProvider {}: {e}", r.name)))?;
        match provider.and_then(|p| p.status.and_then(|s| s.id)) {
            Some(id) => dcr_id = Some(id),
            None => {
                let cond = Cond::fail(
                    CONDITION_PROGRAMMED,
                    "DCRProviderNotProgrammed",
                    format!(
                        "KonnectDCRProvider {:?} does not exist in namespace {ns} or has no Konnect id yet",
                        r.name
                    ),
                );
                write_status(
                    ctx,
                    obj,
                    status,
                    status_id,
                    status.and_then(|s| s.active),
                    vec![cond],
                )
                .await?;
                return Ok(Action::requeue(PENDING_WAIT));
            }
        }
    }
    let body = strategy_body(&obj.spec, &obj.konnect_name(), &uid, dcr_id.as_deref());
    let hash = body_hash(&body);
    let result = async {
        let found = find_strategy(ctx, status_id, &uid).await?;
        match found {
            None => ctx.konnect.create_app_auth_strategy(&body).await,
            Some(held) => {
                let observed = serde_json::to_value(&held).unwrap_or_default();
                let sent = lock(&ctx.sent).get(&uid) == Some(&hash);
                if in_sync(&body, &observed) && sent {
                    Ok(held)
                } else {
                    let patch = update_body(&body, &observed, "strategy_type");
                    ctx.konnect.update_app_auth_strategy(&held.id, &patch).await
                }
            }
        }
    }
    .await;
    match result {
        Ok(held) => {
            lock(&ctx.sent).insert(uid.clone(), hash);
            ctx.succeeded(&uid);
            write_status(
                ctx,
                obj,
                status,
                Some(&held.id),
                Some(held.active),
                vec![Cond::ok(CONDITION_PROGRAMMED, "Programmed", "")],
            )
            .await?;
            Ok(Action::requeue(RESYNC))
        }
        Err(err) => {
            let cond = konnect_failure("application auth strategy", &err, &none);
            write_status(
                ctx,
                obj,
                status,
                status_id,
                status.and_then(|s| s.active),
                vec![cond],
            )
            .await?;
            if err.is_retryable() {
                Err(AppsError::Retry(err.to_string()))
            } else {
                Ok(Action::requeue(RESYNC))
            }
        }
    }
}

fn orphan(meta: &kube::api::ObjectMeta) -> bool {
    meta.annotations
        .as_ref()
        .and_then(|a| a.get(ANNOTATION_ON_DELETE))
        .is_some_and(|v| v == "orphan")
}

/// The message of a refused delete: what happened and what the user does.
pub const DELETE_CONFLICT_HELP: &str = "Konnect refuses to delete the application auth strategy while a product version uses it. Remove it from those product versions in Konnect and the delete completes on its own (retried with backoff), or annotate this object konnect-plugin-operator.dev/on-delete=orphan to let it go and keep the Konnect entity";

async fn cleanup_strategy(
    obj: &KonnectApplicationAuthStrategy,
    ctx: &AppsContext,
) -> Result<Action, AppsError> {
    if orphan(&obj.metadata) {
        return Ok(Action::await_change());
    }
    let uid = obj.uid().unwrap_or_default();
    let status = obj.status.as_ref();
    let status_id = status.and_then(|s| s.id.as_deref());
    let result = async {
        match find_strategy(ctx, status_id, &uid).await? {
            None => Ok(()),
            Some(held) => match ctx.konnect.delete_app_auth_strategy(&held.id).await {
                Err(e) if e.is_not_found() => Ok(()),
                other => other,
            },
        }
    }
    .await;
    match result {
        Ok(()) => {
            lock(&ctx.sent).remove(&uid);
            ctx.succeeded(&uid);
            Ok(Action::await_change())
        }
        Err(err) => {
            let cond = if matches!(err, KonnectError::Conflict { .. }) {
                Cond::fail(
                    CONDITION_PROGRAMMED,
                    "DeleteConflict",
                    format!("{DELETE_CONFLICT_HELP} ({err})"),
                )
            } else {
                konnect_failure(
                    "delete of the application auth strategy",
                    &err,
                    &BTreeMap::new(),
                )
            };
            write_status(
                ctx,
                obj,
                status,
                status_id,
                status.and_then(|s| s.active),
                vec![cond],
            )
            .await?;
            Err(AppsError::Retry(err.to_string()))
        }
    }
}

// ----- DCR providers --------------------------------------------------------------------

async fn reconcile_provider(
    obj: Arc<KonnectDCRProvider>,
    ctx: Arc<AppsContext>,
) -> Result<Action, kube::runtime::finalizer::Error<AppsError>> {
    if ctx.dry_run {
        // A dry run writes nothing, to Konnect or to the object.
        return Ok(Action::await_change());
    }
    if !ctx.is_leader() {
        return Ok(Action::requeue(FOLLOWER_WAIT));
    }
    let ns = obj.namespace().unwrap_or_default();
    let api: Api<KonnectDCRProvider> = Api::namespaced(ctx.client.clone(), &ns);
    let c = ctx.clone();
    finalizer(&api, APPS_FINALIZER, obj, |event| async move {
        match event {
            Finalizer::Apply(o) => apply_provider(&o, &c).await,
            Finalizer::Cleanup(o) => cleanup_provider(&o, &c).await,
        }
    })
    .await
}

async fn find_provider(
    ctx: &AppsContext,
    status_id: Option<&str>,
    uid: &str,
) -> Result<Option<crate::konnect::apps::DcrProvider>, KonnectError> {
    if let Some(id) = status_id {
        match ctx.konnect.get_dcr_provider(id).await {
            Ok(s) => return Ok(Some(s)),
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
    }
    let all = ctx.konnect.list_all_dcr_providers(&[]).await?;
    Ok(all.into_iter().find(|s| ours(s.labels.as_ref(), uid)))
}

/// Reads the provider's Secret keys: `Ok(values by Konnect field)` or the condition saying
/// which reference is missing (never a value).
async fn read_secrets(
    ctx: &AppsContext,
    obj: &KonnectDCRProvider,
) -> Result<Result<BTreeMap<&'static str, String>, Cond>, AppsError> {
    let ns = obj.namespace().unwrap_or_default();
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &ns);
    let mut out = BTreeMap::new();
    for (field, r) in obj.secret_refs() {
        let secret = secrets
            .get_opt(&r.name)
            .await
            .map_err(|e| AppsError::Retry(format!("reading Secret {}: {e}", r.name)))?;
        let value = secret
            .as_ref()
            .and_then(|s| s.data.as_ref())
            .and_then(|d| d.get(&r.key))
            .map(|b| String::from_utf8(b.0.clone()));
        match value {
            Some(Ok(v)) => {
                out.insert(field, v);
            }
            Some(Err(_)) => {
                return Ok(Err(Cond::fail(
                    CONDITION_PROGRAMMED,
                    "InvalidSecret",
                    format!(
                        "key {:?} of Secret {ns}/{} is not UTF-8 text",
                        r.key, r.name
                    ),
                )));
            }
            None => {
                return Ok(Err(Cond::fail(
                    CONDITION_PROGRAMMED,
                    "SecretNotFound",
                    format!(
                        "Secret {ns}/{} has no key {:?} (for dcr_config.{field})",
                        r.name, r.key
                    ),
                )));
            }
        }
    }
    Ok(Ok(out))
}

async fn apply_provider(obj: &KonnectDCRProvider, ctx: &AppsContext) -> Result<Action, AppsError> {
    let uid = obj.uid().unwrap_or_default();
    let status = obj.status.as_ref();
    let status_id = status.and_then(|s| s.id.as_deref());
    let secrets = match read_secrets(ctx, obj).await? {
        Ok(s) => s,
        Err(cond) => {
            write_status(
                ctx,
                obj,
                status,
                status_id,
                status.and_then(|s| s.active),
                vec![cond],
            )
            .await?;
            return Ok(Action::requeue(PENDING_WAIT));
        }
    };
    let body = provider_body(&obj.spec, &obj.konnect_name(), &uid, &secrets);
    let hash = body_hash(&body);
    let mut wrote = false;
    let result = async {
        match find_provider(ctx, status_id, &uid).await? {
            None => {
                wrote = true;
                ctx.konnect.create_dcr_provider(&body).await
            }
            Some(held) => {
                let observed = serde_json::to_value(&held).unwrap_or_default();
                let sent = lock(&ctx.sent).get(&uid) == Some(&hash);
                if in_sync(&body, &observed) && sent {
                    Ok(held)
                } else {
                    wrote = true;
                    let patch = update_body(&body, &observed, "provider_type");
                    ctx.konnect.update_dcr_provider(&held.id, &patch).await
                }
            }
        }
    }
    .await;
    match result {
        Ok(held) => {
            lock(&ctx.sent).insert(uid.clone(), hash);
            ctx.succeeded(&uid);
            let mut conds = vec![Cond::ok(CONDITION_PROGRAMMED, "Programmed", "")];
            let verified_now = status
                .and_then(|s| s.conditions.iter().find(|c| c.type_ == CONDITION_VERIFIED))
                .is_some_and(|c| c.observed_generation == obj.metadata.generation);
            if wrote || !verified_now {
                conds.push(match ctx.konnect.verify_dcr_provider(&held.id).await {
                    Ok(v) if v.succeeded() => Cond::ok(
                        CONDITION_VERIFIED,
                        "Verified",
                        "Konnect verified the DCR provider's configuration",
                    ),
                    Ok(v) => Cond::fail(
                        CONDITION_VERIFIED,
                        "VerificationFailed",
                        scrub(
                            &format!(
                                "Konnect could not verify the configuration: {}",
                                v.errors.join("; ")
                            ),
                            &secrets,
                        ),
                    ),
                    Err(e) => Cond::fail(
                        CONDITION_VERIFIED,
                        e.reason(),
                        scrub(&format!("verify failed: {e}"), &secrets),
                    ),
                });
            }
            write_status(ctx, obj, status, Some(&held.id), Some(held.active), conds).await?;
            Ok(Action::requeue(RESYNC))
        }
        Err(err) => {
            let cond = konnect_failure("DCR provider", &err, &secrets);
            write_status(
                ctx,
                obj,
                status,
                status_id,
                status.and_then(|s| s.active),
                vec![cond],
            )
            .await?;
            if err.is_retryable() {
                Err(AppsError::Retry(err.to_string()))
            } else {
                Ok(Action::requeue(RESYNC))
            }
        }
    }
}

async fn cleanup_provider(
    obj: &KonnectDCRProvider,
    ctx: &AppsContext,
) -> Result<Action, AppsError> {
    if orphan(&obj.metadata) {
        return Ok(Action::await_change());
    }
    let uid = obj.uid().unwrap_or_default();
    let status = obj.status.as_ref();
    let status_id = status.and_then(|s| s.id.as_deref());
    let result = async {
        match find_provider(ctx, status_id, &uid).await? {
            None => Ok(()),
            Some(held) => match ctx.konnect.delete_dcr_provider(&held.id).await {
                Err(e) if e.is_not_found() => Ok(()),
                other => other,
            },
        }
    }
    .await;
    match result {
        Ok(()) => {
            lock(&ctx.sent).remove(&uid);
            ctx.succeeded(&uid);
            Ok(Action::await_change())
        }
        Err(err) => {
            let cond = konnect_failure("delete of the DCR provider", &err, &BTreeMap::new());
            write_status(
                ctx,
                obj,
                status,
                status_id,
                status.and_then(|s| s.active),
                vec![cond],
            )
            .await?;
            Err(AppsError::Retry(err.to_string()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::{HttpDcrConfig, KeyAuthConfig, SecretKeyRef};

    fn key_auth() -> KonnectApplicationAuthStrategySpec {
        KonnectApplicationAuthStrategySpec {
            name: None,
            display_name: "Key".into(),
            type_: StrategyType::KeyAuth,
            key_auth: Some(KeyAuthConfig {
                key_names: Some(vec!["apikey".into()]),
                ttl: None,
            }),
            openid_connect: None,
            dcr_provider_ref: None,
            labels: Some(BTreeMap::from([("team".into(), "a".into())])),
        }
    }

    #[test]
    fn strategy_body_is_the_specs_create_request() {
        // AppAuthStrategyKeyAuthRequest: name, display_name, strategy_type, configs.key-auth.
        let b = strategy_body(&key_auth(), "n", "uid-1", None);
        assert_eq!(
            b,
            json!({
                "name": "n", "display_name": "Key", "strategy_type": "key_auth",
                "configs": {"key-auth": {"key_names": ["apikey"]}},
                "labels": {"team": "a", "managed-by": "konnect-plugin-operator", "k8s-uid": "uid-1"},
            })
        );
    }

    #[test]
    fn update_nulls_what_konnect_holds_and_we_dropped() {
        let create = strategy_body(&key_auth(), "n", "u", None);
        let observed = json!({
            "labels": {"old": "x", "team": "a"},
            "configs": {"key-auth": {"key_names": ["apikey"], "ttl": {"value": 1, "unit": "days"}}},
        });
        let patch = update_body(&create, &observed, "strategy_type");
        assert!(patch.get("strategy_type").is_none());
        assert_eq!(patch["labels"]["old"], Value::Null);
        assert_eq!(patch["configs"]["key-auth"]["ttl"], Value::Null);
        assert!(!in_sync(&create, &observed));
    }

    #[test]
    fn secrets_are_not_compared_and_not_in_messages() {
        let spec = KonnectDCRProviderSpec {
            name: None,
            display_name: None,
            issuer: "https://i/".into(),
            provider_type: ProviderType::Http,
            auth0: None,
            azure_ad: None,
            curity: None,
            okta: None,
            http: Some(HttpDcrConfig {
                dcr_base_url: "https://d/".into(),
                api_key_ref: SecretKeyRef::default(),
                disable_event_hooks: None,
                disable_refresh_secret: None,
                allow_multiple_credentials: None,
            }),
            labels: None,
        };
        let secrets = BTreeMap::from([("api_key", "s3cr3t_value_123".to_string())]);
        let body = provider_body(&spec, "p", "u", &secrets);
        assert_eq!(body["dcr_config"]["api_key"], "s3cr3t_value_123");
        let observed = json!({
            "name": "p", "provider_type": "http", "issuer": "https://i/",
            "labels": {"managed-by": "konnect-plugin-operator", "k8s-uid": "u"},
            "dcr_config": {"dcr_base_url": "https://d/", "allow_multiple_credentials": false},
        });
        assert!(in_sync(&body, &observed));
        assert_eq!(
            scrub("field api_key: s3cr3t_value_123 is bad", &secrets),
            "field api_key: <redacted> is bad"
        );
    }
}
