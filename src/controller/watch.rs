//! I/O. The resolve step: one kube-runtime reflector per watched kind (per namespace when
//! `--namespaces` is set), their sync state, and the [`Snapshot`] that translation reads.
//!
//! Never a partial view: a kind counts as *synced* after its first complete list, and as
//! *unavailable* while it cannot be listed (CRD absent, RBAC denied) — never as empty. The sync
//! loop waits until every kind is one or the other, and protects what unavailable kinds
//! produced from deletion.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Debug;
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use gateway_api::gatewayclasses::GatewayClass;
use gateway_api::gateways::Gateway;
use gateway_api::httproutes::HttpRoute;
use gateway_api::referencegrants::{
    ReferenceGrant, ReferenceGrantFrom, ReferenceGrantSpec, ReferenceGrantTo,
};
use k8s_openapi::api::core::v1::{Secret, Service};
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, CustomResource, Resource};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use crate::crd::{KongClusterPlugin, KongConsumer, KongConsumerGroup, KongPlugin};
use crate::translate::Snapshot;

/// ReferenceGrant as most clusters serve it (`v1beta1`); the same shape as `v1`, converted to
/// the `v1` type translation reads.
#[derive(CustomResource, Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "gateway.networking.k8s.io",
    version = "v1beta1",
    kind = "ReferenceGrant",
    root = "ReferenceGrantV1beta1",
    namespaced
)]
pub struct ReferenceGrantV1beta1Spec {
    pub from: Vec<ReferenceGrantFrom>,
    pub to: Vec<ReferenceGrantTo>,
}

/// Where one kind stands.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KindState {
    /// Every watcher of the kind has completed a list at least once.
    pub synced: bool,
    /// The last list/watch error while not synced (e.g. `403 Forbidden`), shown in logs and
    /// readiness. Errors never carry object contents.
    pub error: Option<String>,
}

/// Shared by the watchers and the sync loop: per-kind state and a change signal.
#[derive(Debug, Default)]
pub struct WatchState {
    kinds: Mutex<BTreeMap<&'static str, KindStates>>,
    /// Signalled on every change after a kind's first list.
    pub changed: Notify,
}

#[derive(Debug, Default)]
struct KindStates {
    watchers: usize,
    synced: usize,
    error: Option<String>,
}

impl WatchState {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<&'static str, KindStates>> {
        self.kinds.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn register(&self, kind: &'static str) {
        self.lock().entry(kind).or_default().watchers += 1;
    }

    fn synced_one(&self, kind: &'static str) {
        let mut kinds = self.lock();
        let k = kinds.entry(kind).or_default();
        k.synced = (k.synced + 1).min(k.watchers);
        if k.synced == k.watchers {
            k.error = None;
        }
        drop(kinds);
        self.changed.notify_one();
    }

    fn failed(&self, kind: &'static str, error: String) {
        let mut kinds = self.lock();
        let k = kinds.entry(kind).or_default();
        if k.synced < k.watchers {
            let first = k.error.is_none();
            k.error = Some(error.clone());
            drop(kinds);
            if first {
                tracing::warn!(kind, %error, "cannot list this kind; entities derived from it are kept, never deleted");
                self.changed.notify_one();
            }
        }
    }

    /// Every kind's state.
    pub fn kinds(&self) -> BTreeMap<&'static str, KindState> {
        self.lock()
            .iter()
            .map(|(kind, k)| {
                (
                    *kind,
                    KindState {
                        synced: k.synced == k.watchers,
                        error: k.error.clone(),
                    },
                )
            })
            .collect()
    }

    /// True when every kind has listed or failed to list: a pass may run.
    pub fn settled(&self) -> bool {
        self.lock()
            .values()
            .all(|k| k.synced == k.watchers || k.error.is_some())
    }

    /// True when every kind has listed.
    pub fn all_synced(&self) -> bool {
        self.lock().values().all(|k| k.synced == k.watchers)
    }

    /// Kinds that are not synced (and so never read as empty).
    pub fn unavailable(&self) -> Vec<(&'static str, String)> {
        self.lock()
            .iter()
            .filter(|(_, k)| k.synced < k.watchers)
            .map(|(kind, k)| {
                (
                    *kind,
                    k.error.clone().unwrap_or_else(|| "not listed yet".into()),
                )
            })
            .collect()
    }
}

/// The reflector stores of every watched kind (several per kind with `--namespaces`).
#[derive(Clone)]
pub struct Stores {
    pub services: Vec<Store<Service>>,
    pub ingresses: Vec<Store<Ingress>>,
    pub ingress_classes: Vec<Store<IngressClass>>,
    /// Metadata only (see [`SecretCache`]).
    pub secrets: Vec<Store<PartialObjectMeta<Secret>>>,
    pub http_routes: Vec<Store<HttpRoute>>,
    pub gateways: Vec<Store<Gateway>>,
    pub gateway_classes: Vec<Store<GatewayClass>>,
    pub reference_grants: Vec<Store<ReferenceGrant>>,
    pub reference_grants_v1beta1: Vec<Store<ReferenceGrantV1beta1>>,
    pub kong_plugins: Vec<Store<KongPlugin>>,
    pub kong_cluster_plugins: Vec<Store<KongClusterPlugin>>,
    pub kong_consumers: Vec<Store<KongConsumer>>,
    pub kong_consumer_groups: Vec<Store<KongConsumerGroup>>,
}

/// Which ReferenceGrant version the cluster serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GrantVersion {
    V1,
    V1beta1,
}

/// Starts every reflector. `namespaces` empty: the whole cluster.
pub fn start(
    client: &Client,
    namespaces: &[String],
    grants: GrantVersion,
    state: &Arc<WatchState>,
) -> Stores {
    Stores {
        services: namespaced(client, namespaces, "Service", state),
        ingresses: namespaced(client, namespaces, "Ingress", state),
        ingress_classes: vec![watch(Api::all(client.clone()), "IngressClass", state)],
        // Metadata only: the data is fetched for the Secrets plugins reference (SecretCache),
        // so the operator never holds the content of the others.
        secrets: namespaced(client, namespaces, "Secret", state),
        http_routes: namespaced(client, namespaces, "HTTPRoute", state),
        gateways: namespaced(client, namespaces, "Gateway", state),
        gateway_classes: vec![watch(Api::all(client.clone()), "GatewayClass", state)],
        reference_grants: match grants {
            GrantVersion::V1 => namespaced(client, namespaces, "ReferenceGrant", state),
            GrantVersion::V1beta1 => Vec::new(),
        },
        reference_grants_v1beta1: match grants {
            GrantVersion::V1 => Vec::new(),
            GrantVersion::V1beta1 => namespaced(client, namespaces, "ReferenceGrant", state),
        },
        kong_plugins: namespaced(client, namespaces, "KongPlugin", state),
        kong_cluster_plugins: vec![watch(Api::all(client.clone()), "KongClusterPlugin", state)],
        kong_consumers: namespaced(client, namespaces, "KongConsumer", state),
        kong_consumer_groups: namespaced(client, namespaces, "KongConsumerGroup", state),
    }
}

/// Asks the API server which ReferenceGrant version it serves (v1 when it serves both).
pub async fn grant_version(client: &Client) -> GrantVersion {
    match client
        .list_api_group_resources("gateway.networking.k8s.io/v1")
        .await
    {
        Ok(list) if list.resources.iter().any(|r| r.name == "referencegrants") => GrantVersion::V1,
        _ => GrantVersion::V1beta1,
    }
}

fn namespaced<K>(
    client: &Client,
    namespaces: &[String],
    kind: &'static str,
    state: &Arc<WatchState>,
) -> Vec<Store<K>>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + Serialize
        + Debug
        + Send
        + Sync
        + 'static,
{
    if namespaces.is_empty() {
        vec![watch(Api::all(client.clone()), kind, state)]
    } else {
        namespaces
            .iter()
            .map(|ns| watch(Api::namespaced(client.clone(), ns), kind, state))
            .collect()
    }
}

fn watch<K>(api: Api<K>, kind: &'static str, state: &Arc<WatchState>) -> Store<K>
where
    K: Resource<DynamicType = ()>
        + Clone
        + DeserializeOwned
        + Serialize
        + Debug
        + Send
        + Sync
        + 'static,
{
    drive(watcher(api, watcher::Config::default()), kind, state)
}

/// What translation never reads, dropped before an object enters a store: `managedFields`
/// and kubectl's `last-applied-configuration` (a second copy of the whole object).
fn slim<K: Resource>(object: &mut K) {
    let meta = object.meta_mut();
    meta.managed_fields = None;
    if let Some(annotations) = meta.annotations.as_mut() {
        annotations.remove(LAST_APPLIED);
    }
}

const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Runs a watch stream into a new store, reporting the kind's sync state. A change that touches
/// only an object's `status` (our own condition writes, a Service's load balancer) signals
/// nothing: translation never reads status, and a pass per status write would make every pass
/// cause another.
fn drive<K, S>(stream: S, kind: &'static str, state: &Arc<WatchState>) -> Store<K>
where
    K: Resource<DynamicType = ()> + Clone + Debug + Serialize + Send + Sync + 'static,
    S: futures::Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send + 'static,
{
    state.register(kind);
    let (reader, mut writer) = reflector::store();
    let stream = stream.default_backoff().modify(slim);
    let state = state.clone();
    let previous = reader.clone();
    tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        let mut listed = false;
        while let Some(event) = stream.next().await {
            if let Ok(event) = &event {
                let quiet = match event {
                    watcher::Event::Apply(new) => previous
                        .get(&reflector::ObjectRef::from_obj(new))
                        .is_some_and(|old| status_only(old.as_ref(), new)),
                    _ => false,
                };
                writer.apply_watcher_event(event);
                if quiet {
                    continue;
                }
            }
            match event {
                Ok(watcher::Event::InitDone) => {
                    if !listed {
                        listed = true;
                        tracing::debug!(kind, "listed");
                        state.synced_one(kind);
                    } else {
                        state.changed.notify_one();
                    }
                }
                Ok(watcher::Event::Init | watcher::Event::InitApply(_)) => {}
                Ok(watcher::Event::Apply(_) | watcher::Event::Delete(_)) => {
                    state.changed.notify_one();
                }
                Err(err) => {
                    if listed {
                        tracing::debug!(kind, error = %err, "watch interrupted; retrying");
                    } else if refused(&err) {
                        state.failed(kind, err.to_string());
                    } else {
                        // A transient error (timeout, 5xx) is retried; the kind stays "not
                        // listed yet" and no pass runs on it.
                        tracing::debug!(kind, error = %err, "list failed; retrying");
                    }
                }
            }
        }
    });
    reader
}

/// `new` differs from `old` in its `status` and nowhere else (`resourceVersion` aside). A change
/// seen only as a new `resourceVersion` (a Secret's data, watched as metadata) is not
/// status-only.
pub fn status_only<K: Serialize>(old: &K, new: &K) -> bool {
    let (Ok(mut old), Ok(mut new)) = (serde_json::to_value(old), serde_json::to_value(new)) else {
        return false;
    };
    let mut status = [None, None];
    for (value, status) in [&mut old, &mut new].into_iter().zip(status.iter_mut()) {
        if let Some(object) = value.as_object_mut() {
            *status = object.remove("status");
            if let Some(meta) = object.get_mut("metadata").and_then(|m| m.as_object_mut()) {
                meta.remove("resourceVersion");
                meta.remove("managedFields");
            }
        }
    }
    status[0] != status[1] && old == new
}

/// The API server refused the list for good: the kind is not served (404) or we may not
/// list it (403). Only then is a kind *unavailable*.
fn refused(err: &watcher::Error) -> bool {
    let status = match err {
        watcher::Error::InitialListFailed(kube::Error::Api(s))
        | watcher::Error::WatchStartFailed(kube::Error::Api(s))
        | watcher::Error::WatchFailed(kube::Error::Api(s)) => s.as_ref(),
        watcher::Error::WatchError(s) => s.as_ref(),
        _ => return false,
    };
    status.is_not_found() || status.is_forbidden()
}

/// Every object of the stores, shared with them (pointers are copied, not objects).
fn all<K: Clone + Resource>(stores: &[Store<K>]) -> Vec<Arc<K>>
where
    K::DynamicType: std::hash::Hash + Eq + Clone,
{
    stores.iter().flat_map(|s| s.state()).collect()
}

/// The data of the Secrets that plugins reference, fetched when first needed and again when
/// the Secret's `resourceVersion` (from the metadata watch) moves; the others are dropped.
#[derive(Default)]
pub struct SecretCache {
    entries: HashMap<(String, String), (String, Arc<Secret>)>,
}

impl SecretCache {
    /// The Secrets of `wanted` that exist, current as of the metadata stores. A Secret the
    /// metadata store does not have does not exist (translation reports it missing). Fails on
    /// any error but 404, so a pass never runs on a Secret it could not read.
    pub async fn resolve(
        &mut self,
        client: &Client,
        stores: &Stores,
        wanted: &BTreeSet<(String, String)>,
    ) -> Result<Vec<Arc<Secret>>, kube::Error> {
        let mut out = Vec::with_capacity(wanted.len());
        for key @ (namespace, name) in wanted {
            let at = reflector::ObjectRef::new(name).within(namespace);
            let Some(meta) = stores.secrets.iter().find_map(|s| s.get(&at)) else {
                continue;
            };
            let version = meta.metadata.resource_version.clone().unwrap_or_default();
            if let Some((v, secret)) = self.entries.get(key)
                && *v == version
            {
                out.push(secret.clone());
                continue;
            }
            let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
            match api.get_opt(name).await? {
                Some(mut secret) => {
                    slim(&mut secret);
                    // Keyed by the version just read: a newer watch event refetches.
                    let read = secret.metadata.resource_version.clone().unwrap_or(version);
                    let secret = Arc::new(secret);
                    self.entries.insert(key.clone(), (read, secret.clone()));
                    out.push(secret);
                }
                None => {
                    self.entries.remove(key);
                }
            }
        }
        self.entries.retain(|k, _| wanted.contains(k));
        Ok(out)
    }

    /// How many Secrets' data is held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no Secret's data is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl Stores {
    /// [`Self::snapshot`] with the data of the Secrets its plugins reference, through `cache`.
    /// Fails rather than leave one out: a missing Secret would translate as "not found".
    pub async fn snapshot_with_secrets(
        &self,
        client: &Client,
        cache: &mut SecretCache,
    ) -> Result<Snapshot, kube::Error> {
        let mut snapshot = self.snapshot();
        let wanted = crate::translate::referenced_secrets(
            snapshot.kong_plugins.iter().map(|p| &**p),
            snapshot.kong_cluster_plugins.iter().map(|p| &**p),
        );
        snapshot.secrets = cache.resolve(client, self, &wanted).await?;
        Ok(snapshot)
    }

    /// The snapshot translation reads: every object of every store.
    pub fn snapshot(&self) -> Snapshot {
        let mut reference_grants = all(&self.reference_grants);
        reference_grants.extend(all(&self.reference_grants_v1beta1).into_iter().map(|g| {
            Arc::new(ReferenceGrant {
                metadata: g.metadata.clone(),
                spec: ReferenceGrantSpec {
                    from: g.spec.from.clone(),
                    to: g.spec.to.clone(),
                },
            })
        }));
        Snapshot {
            services: all(&self.services),
            ingresses: all(&self.ingresses),
            ingress_classes: all(&self.ingress_classes),
            // Filled by the pass with the referenced Secrets only (see SecretCache).
            secrets: Vec::new(),
            http_routes: all(&self.http_routes),
            gateways: all(&self.gateways),
            gateway_classes: all(&self.gateway_classes),
            reference_grants,
            kong_plugins: all(&self.kong_plugins),
            kong_cluster_plugins: all(&self.kong_cluster_plugins),
            kong_consumers: all(&self.kong_consumers),
            kong_consumer_groups: all(&self.kong_consumer_groups),
            malformed: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn plugin(status: serde_json::Value, config: serde_json::Value) -> KongPlugin {
        serde_json::from_value(json!({
            "apiVersion": "configuration.konghq.com/v1",
            "kind": "KongPlugin",
            "metadata": {"name": "auth", "namespace": "default", "resourceVersion": "1",
                         "generation": 1},
            "plugin": "key-auth",
            "config": config,
            "status": status,
        }))
        .unwrap()
    }

    fn programmed(status: &str) -> serde_json::Value {
        json!({"conditions": [{"type": "Programmed", "status": status, "reason": "Programmed",
            "message": "", "lastTransitionTime": "2026-12-03T00:00:00Z", "observedGeneration": 1}]})
    }

    #[test]
    fn our_own_condition_write_is_status_only() {
        let old = plugin(json!({}), json!({"key_names": ["apikey"]}));
        let mut new = plugin(programmed("True"), json!({"key_names": ["apikey"]}));
        new.metadata.resource_version = Some("2".into());
        assert!(status_only(&old, &new));
    }

    #[test]
    fn a_spec_label_or_annotation_change_is_not_status_only() {
        let old = plugin(programmed("False"), json!({"key_names": ["apikey"]}));
        // The config changed along with the status.
        let new = plugin(programmed("True"), json!({"key_names": ["other"]}));
        assert!(!status_only(&old, &new));
        // Only an annotation changed (no status change at all).
        let mut annotated = old.clone();
        annotated.metadata.annotations = Some([("a".to_owned(), "b".to_owned())].into());
        assert!(!status_only(&old, &annotated));
        // Status and a label changed together.
        let mut labelled = plugin(programmed("True"), json!({"key_names": ["apikey"]}));
        labelled.metadata.labels = Some([("team".to_owned(), "a".to_owned())].into());
        assert!(!status_only(&old, &labelled));
    }

    #[test]
    fn a_secret_seen_only_as_a_new_resource_version_is_not_status_only() {
        // Secrets are watched as metadata: a rotated value shows as a new resourceVersion only.
        let old: PartialObjectMeta<Secret> = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "s", "namespace": "default", "resourceVersion": "1"}
        }))
        .unwrap();
        let mut new = old.clone();
        new.metadata.resource_version = Some("2".into());
        assert!(!status_only(&old, &new));
    }
}
