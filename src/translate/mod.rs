//! Translation: the pure heart of the operator. It owns the function from a [`Snapshot`] of
//! cluster objects to the [`DesiredState`] in Konnect — services, routes, consumers, consumer
//! groups (with memberships) and plugins, each with its deterministic id and its tags — plus
//! an [`ObjectResult`] for every source object we serve.
//!
//! It reproduces how Kong Ingress Controller reads the same manifests (see
//! `docs/compatibility.md`). It must not do I/O, log, or panic: Secrets and
//! ReferenceGrants arrive in the snapshot, and every problem becomes a result on the object.
//!
//! [`translate_with_schemas`] reads as its data flow. The snapshot is indexed once
//! (`Index::new`: sorted, deduplicated, class-filtered maps borrowing from it), and the
//! index is then only read. Each step is a function of the index (and of what the steps
//! before it returned) that returns its output as a value, one submodule each:
//! `consumers::build` (consumers, groups, memberships), `routes::build` (Ingress and HTTPRoute
//! routes, with the Konnect services of their backends, made by `services::ensure_service`),
//! `services::annotated` (those plus services for Services only `konghq.com/plugins` names),
//! `plugins::build` (annotation lookup, configuration resolution, KIC's combination rule,
//! instance names, globals, conflicts, then `hold`: what fails closed), and `finish` (the held
//! entities left out, tags ([`tags`]) on everything). Each entity gets its id ([`ids`]) as it
//! is built. Every step records its per-object problems in one `Results` log, passed to
//! each. Only the plugins step reads it back: a plugin object with an error is Invalid (see
//! `hold`), an error recorded by the plugins step itself or, for a plugin object that also
//! came in a copy the loader could not parse, by `malformed`, so `malformed` must run first.
//! Objects the loader could not parse ([`snapshot::MalformedObject`]) become Invalid results
//! naming the field; Kong objects of another ingress class become Pending results with reason
//! `IgnoredClass`.
//!
//! The schema checks of the plugins step and the tags (payload hashes) of `finish` run over
//! the machine's cores (`par`, scoped threads): each item depends on itself alone and results
//! come back in input order, so the output is the one-thread output.
//!
//! Values read from Secrets stay real in the [`DesiredState`] (Konnect needs them), with their
//! provenance in [`DesiredState::secret_fields`]; [`redact`] hides them wherever a person may
//! read them, and [`render`] does so unless told [`Secrets::Show`].

pub mod annotations;
mod consumers;
pub mod desired;
#[cfg(test)]
mod fixtures;
mod hold;
pub mod ids;
mod par;
mod plugins;
pub mod redact;
pub mod render;
pub mod result;
mod routes;
mod services;
pub mod snapshot;
mod sorted;
pub mod tags;

use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;

use sorted::SortedSet;

pub use desired::DesiredState;
pub use plugins::{
    ConfigCheck, ConfigProblem, PluginObject, ResolvedConfig, check_plugin_config,
    referenced_secrets, resolve_plugin_config,
};
pub use redact::{SecretField, SecretSource};
pub use render::Secrets;
pub use result::{ObjectRef, ObjectResult, Reason, Status};
pub use snapshot::{Snapshot, TranslateOptions};

use crate::konnect::models::{Plugin, Route, Service, Tag};
use annotations::Annotations;
use consumers::Consumers;
use plugins::Plugins;
use result::Results;
use services::ServiceMap;
use tags::SourceMeta;

/// Translates a snapshot into the desired Konnect state. Pure and deterministic: the same
/// objects in any order give the same result.
/// Plugin configurations are checked against the embedded schemas
/// ([`crate::schema::Registry::embedded`]); see [`translate_with_schemas`].
pub fn translate(snapshot: &Snapshot, opts: &TranslateOptions) -> DesiredState {
    translate_with_schemas(snapshot, opts, &crate::schema::Registry::embedded())
}

/// [`translate`] with a given schema registry (e.g. the embedded schemas plus those fetched
/// from Konnect). Plugins without a schema in `schemas` are not validated: Konnect knows more
/// plugins than we embed, and it validates them itself on write.
pub fn translate_with_schemas(
    snapshot: &Snapshot,
    opts: &TranslateOptions,
    schemas: &crate::schema::Registry,
) -> DesiredState {
    let ix = Index::new(snapshot, opts);
    // Every object of the snapshot may get a result (Secrets only when malformed).
    let mut results = Results::with_capacity(snapshot.len());
    malformed(&snapshot.malformed, &mut results);
    nameless_objects(snapshot, &mut results);
    ignored_by_class(&ix, &mut results);
    let consumers = consumers::build(&ix, &mut results);
    let routes::Routes { routes, services } = routes::build(&ix, opts, &mut results);
    let services = services::annotated(&ix, services, &mut results);
    let plugins = plugins::build(&ix, schemas, &services, &routes, &consumers, &mut results);
    finish(opts, services, routes, consumers, plugins, results)
}

/// An entity under construction, with the object it comes from (for tags and warnings).
pub(crate) struct Built<T> {
    pub entity: T,
    /// Shared by every entity of one source object (a plugin object's instances, an Ingress's
    /// routes): it is only read, for tags.
    pub source: Rc<SourceMeta>,
    pub origin: ObjectRef,
}

/// A Konnect service under construction, with the core Services it stands for.
pub(crate) struct BuiltService {
    pub built: Built<Service>,
    /// (namespace, name) of every core Service whose plugins apply to this service.
    pub k8s_services: K8sServices,
}

/// The (namespace, name) pairs of core Services, sorted and without duplicates. Nearly every
/// Konnect service stands for one core Service; a `BTreeSet` would allocate a node of eleven
/// slots for it (about 0.5 KiB per service at the translation's peak, 10k services in
/// `render_memory`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct K8sServices(SortedSet<(String, String)>);

impl K8sServices {
    pub fn one(namespace: &str, name: &str) -> Self {
        let mut set = Self::default();
        set.insert(namespace, name);
        set
    }

    /// Adds a pair unless present; allocates only for a new pair.
    pub fn insert(&mut self, namespace: &str, name: &str) {
        let probe = (namespace, name);
        self.0.insert_absent_by(
            |(n, m)| (n.as_str(), m.as_str()).cmp(&probe),
            || ((namespace.to_owned(), name.to_owned()), ()),
        );
    }

    /// The pairs, sorted.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.keys().map(|(n, m)| (n.as_str(), m.as_str()))
    }
}

/// A plugin instance under construction, with the values of its config that came from Secrets.
pub(crate) struct BuiltPlugin {
    pub built: Built<Plugin>,
    pub secret_fields: Vec<SecretField>,
}

/// A route under construction, with the object whose plugins apply to it.
pub(crate) struct BuiltRoute<'a> {
    pub built: Built<Route>,
    pub referrer: Referrer<'a>,
    /// Plugins named by HTTPRoute `ExtensionRef` filters of this route's rule.
    pub extra_plugins: Vec<annotations::PluginRef>,
    /// The age of the source object, for "older wins" on a name collision.
    pub age: consumers::Age,
}

/// The API group of Kong's custom resources.
pub(crate) const KONG_GROUP: &str = "configuration.konghq.com";

/// An object that names plugins in `konghq.com/plugins`.
#[derive(Clone, Debug)]
pub(crate) struct Referrer<'a> {
    pub key: ObjectRef,
    pub group: &'static str,
    pub namespace: String,
    /// The object's annotations, borrowed from the snapshot.
    pub annotations: Option<&'a Annotations>,
}

impl<'a> Referrer<'a> {
    /// A Kong custom resource (KongConsumer, KongConsumerGroup) as a referrer.
    pub fn kong(key: &ObjectRef, namespace: String, meta: &'a ObjectMeta) -> Self {
        Referrer {
            key: key.clone(),
            group: KONG_GROUP,
            namespace,
            annotations: meta.annotations.as_ref(),
        }
    }
}

/// (namespace, name) of an object, borrowed from the snapshot (see [`ns_key`]).
pub(crate) type NsName<'a> = (&'a str, &'a str);

/// Indexes of the snapshot, sorted and deduplicated so iteration order never depends on the
/// order objects arrived in. Keys borrow from the snapshot: building them copies nothing.
pub(crate) struct Index<'a> {
    pub services: BTreeMap<NsName<'a>, &'a k8s_openapi::api::core::v1::Service>,
    pub secrets: BTreeMap<NsName<'a>, &'a k8s_openapi::api::core::v1::Secret>,
    pub ingresses: BTreeMap<NsName<'a>, &'a k8s_openapi::api::networking::v1::Ingress>,
    pub http_routes: BTreeMap<NsName<'a>, &'a gateway_api::httproutes::HttpRoute>,
    pub gateways: BTreeMap<NsName<'a>, &'a gateway_api::gateways::Gateway>,
    pub gateway_classes: BTreeMap<&'a str, &'a gateway_api::gatewayclasses::GatewayClass>,
    pub grants: BTreeMap<NsName<'a>, &'a gateway_api::referencegrants::ReferenceGrant>,
    pub kong_plugins: BTreeMap<NsName<'a>, &'a crate::crd::KongPlugin>,
    pub cluster_plugins: BTreeMap<&'a str, &'a crate::crd::KongClusterPlugin>,
    /// KongClusterPlugins that fail the class filter: kept so a reference to one, or the
    /// object itself, can be reported as "not of our class" rather than not at all.
    pub ignored_cluster_plugins: BTreeMap<&'a str, &'a crate::crd::KongClusterPlugin>,
    pub consumers: BTreeMap<NsName<'a>, &'a crate::crd::KongConsumer>,
    pub consumer_groups: BTreeMap<NsName<'a>, &'a crate::crd::KongConsumerGroup>,
    /// Objects of the snapshot that could not be parsed.
    pub malformed: BTreeSet<ObjectRef>,
    /// The IngressClass we serve.
    pub ingress_class: &'a str,
    /// True when objects without a class are ours.
    pub default_class: bool,
}

impl<'a> Index<'a> {
    /// Indexes `snap`: the only place the snapshot is read, except for the objects left out
    /// of the index (malformed and nameless ones), which get their results from it directly.
    pub fn new(snap: &'a Snapshot, opts: &'a TranslateOptions) -> Self {
        let default_class = opts.ingress_class_is_default
            || snap.ingress_classes.iter().any(|c| {
                c.metadata.name.as_deref() == Some(opts.ingress_class.as_str())
                    && annotations::get(
                        c.metadata.annotations.as_ref(),
                        annotations::DEFAULT_INGRESS_CLASS,
                    )
                    .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
            });
        let class_ok =
            |a: Option<&Annotations>| match annotations::get(a, annotations::INGRESS_CLASS) {
                Some(class) => class.trim() == opts.ingress_class,
                None => default_class,
            };
        let (cluster_plugins, ignored_cluster_plugins) =
            index_by(&snap.kong_cluster_plugins, |p| {
                p.metadata.name.as_deref().unwrap_or_default()
            })
            .into_iter()
            .partition(|(_, p)| class_ok(p.metadata.annotations.as_ref()));
        Index {
            services: index_by(&snap.services, |o| ns_key(&o.metadata)),
            secrets: index_by(&snap.secrets, |o| ns_key(&o.metadata)),
            ingresses: index_by(&snap.ingresses, |o| ns_key(&o.metadata)),
            http_routes: index_by(&snap.http_routes, |o| ns_key(&o.metadata)),
            gateways: index_by(&snap.gateways, |o| ns_key(&o.metadata)),
            gateway_classes: index_by(&snap.gateway_classes, |o| {
                o.metadata.name.as_deref().unwrap_or_default()
            }),
            grants: index_by(&snap.reference_grants, |o| ns_key(&o.metadata)),
            kong_plugins: index_by(&snap.kong_plugins, |o| ns_key(&o.metadata)),
            cluster_plugins,
            ignored_cluster_plugins,
            consumers: index_by(&snap.kong_consumers, |o| ns_key(&o.metadata)),
            consumer_groups: index_by(&snap.kong_consumer_groups, |o| ns_key(&o.metadata)),
            malformed: snap
                .malformed
                .iter()
                .map(|m| ObjectRef {
                    kind: m.kind,
                    namespace: m.namespace.clone(),
                    name: m.name.clone(),
                })
                .collect(),
            ingress_class: &opts.ingress_class,
            default_class,
        }
    }

    /// KIC's class filter for KongClusterPlugins, KongConsumers and KongConsumerGroups.
    pub fn class_ok(&self, annotations: Option<&Annotations>) -> bool {
        match annotations::get(annotations, annotations::INGRESS_CLASS) {
            Some(class) => class.trim() == self.ingress_class,
            None => self.default_class,
        }
    }

    /// True when a ReferenceGrant in `to_namespace` lets `from` (group, kind, namespace) refer
    /// to `to_group`/`to_kind` named `to_name`.
    pub fn grant_allows(
        &self,
        from: (&str, &str, &str),
        to_namespace: &str,
        to: (&str, &str, &str),
    ) -> bool {
        self.grants
            .range((to_namespace, "")..)
            .take_while(|((ns, _), _)| *ns == to_namespace)
            .any(|(_, grant)| {
                let from_ok = grant
                    .spec
                    .from
                    .iter()
                    .any(|f| f.group == from.0 && f.kind == from.1 && f.namespace == from.2);
                let to_ok = grant.spec.to.iter().any(|t| {
                    t.group == to.0 && t.kind == to.1 && t.name.as_deref().is_none_or(|n| n == to.2)
                });
                from_ok && to_ok
            })
    }
}

/// Builds a map keyed by namespace/name; on a duplicate key the object with the smaller JSON
/// form wins, so the choice does not depend on input order.
/// Objects without a name are left out (see [`nameless_objects`]).
fn index_by<'a, T: Serialize + Meta, K: Ord>(
    items: &'a [std::sync::Arc<T>],
    key: impl Fn(&'a T) -> K,
) -> BTreeMap<K, &'a T> {
    let mut map: BTreeMap<K, &'a T> = BTreeMap::new();
    for item in items {
        let item: &'a T = item;
        if nameless(item.meta()) {
            continue;
        }
        let k = key(item);
        match map.get(&k) {
            Some(existing) => {
                let a = serde_json::to_string(existing).unwrap_or_default();
                let b = serde_json::to_string(item).unwrap_or_default();
                if b < a {
                    map.insert(k, item);
                }
            }
            None => {
                map.insert(k, item);
            }
        }
    }
    map
}

/// The objects of a [`Snapshot`]: each has Kubernetes metadata.
pub(crate) trait Meta {
    fn meta(&self) -> &ObjectMeta;
}

macro_rules! meta {
    ($($t:ty),*) => {$(
        impl Meta for $t {
            fn meta(&self) -> &ObjectMeta {
                &self.metadata
            }
        }
    )*};
}

meta!(
    k8s_openapi::api::core::v1::Service,
    k8s_openapi::api::core::v1::Secret,
    k8s_openapi::api::networking::v1::Ingress,
    k8s_openapi::api::networking::v1::IngressClass,
    gateway_api::httproutes::HttpRoute,
    gateway_api::gateways::Gateway,
    gateway_api::gatewayclasses::GatewayClass,
    gateway_api::referencegrants::ReferenceGrant,
    crate::crd::KongPlugin,
    crate::crd::KongClusterPlugin,
    crate::crd::KongConsumer,
    crate::crd::KongConsumerGroup
);

/// True when `metadata.name` is missing or empty: such an object cannot be named in Konnect
/// (it would become service `default..80`), so it is refused, never translated.
fn nameless(meta: &ObjectMeta) -> bool {
    meta.name.as_deref().is_none_or(str::is_empty)
}

/// [`ns_name`], borrowed.
pub(crate) fn ns_key(meta: &ObjectMeta) -> NsName<'_> {
    (
        meta.namespace.as_deref().unwrap_or("default"),
        meta.name.as_deref().unwrap_or_default(),
    )
}

/// (namespace, name) of an object; a missing namespace reads as `default`, as kubectl does.
pub(crate) fn ns_name(meta: &ObjectMeta) -> (String, String) {
    (
        meta.namespace.clone().unwrap_or_else(|| "default".into()),
        meta.name.clone().unwrap_or_default(),
    )
}

/// Source metadata of an object, for tags.
pub(crate) fn source_meta(
    kind: &'static str,
    group: &'static str,
    version: &'static str,
    meta: &ObjectMeta,
    extra_tags: &[String],
) -> Rc<SourceMeta> {
    let mut user_tags = annotations::user_tags(meta.annotations.as_ref());
    user_tags.extend(extra_tags.iter().cloned());
    Rc::new(SourceMeta {
        kind,
        group,
        version,
        name: meta.name.clone().unwrap_or_default(),
        namespace: meta.namespace.clone(),
        uid: meta.uid.clone(),
        user_tags,
    })
}

/// Objects that could not be parsed: Invalid, with the field path their message starts with.
fn malformed(malformed: &[snapshot::MalformedObject], results: &mut Results) {
    for m in malformed {
        let key = ObjectRef {
            kind: m.kind,
            namespace: m.namespace.clone(),
            name: m.name.clone(),
        };
        results.error(&key, Reason::InvalidSpec, m.message.clone());
    }
}

/// Objects without `metadata.name` (missing, empty or null): Invalid; the index leaves
/// them out, so nothing is built from them.
fn nameless_objects(snap: &Snapshot, results: &mut Results) {
    fn each<T: Meta>(
        out: &mut Vec<(&'static str, ObjectMeta)>,
        kind: &'static str,
        items: &[std::sync::Arc<T>],
    ) {
        out.extend(
            items
                .iter()
                .filter(|o| nameless(o.meta()))
                .map(|o| (kind, o.meta().clone())),
        );
    }
    let mut found = Vec::new();
    each(&mut found, "Service", &snap.services);
    each(&mut found, "Ingress", &snap.ingresses);
    each(&mut found, "IngressClass", &snap.ingress_classes);
    each(&mut found, "Secret", &snap.secrets);
    each(&mut found, "HTTPRoute", &snap.http_routes);
    each(&mut found, "Gateway", &snap.gateways);
    each(&mut found, "GatewayClass", &snap.gateway_classes);
    each(&mut found, "ReferenceGrant", &snap.reference_grants);
    each(&mut found, "KongPlugin", &snap.kong_plugins);
    each(&mut found, "KongClusterPlugin", &snap.kong_cluster_plugins);
    each(&mut found, "KongConsumer", &snap.kong_consumers);
    each(&mut found, "KongConsumerGroup", &snap.kong_consumer_groups);
    for (kind, meta) in found {
        let key = results.track(kind, &meta);
        results.error(&key, Reason::InvalidSpec, "metadata.name: required");
    }
}

/// Kong objects that fail the class filter get a Pending `IgnoredClass` result, so `render`
/// shows why nothing came of them.
fn ignored_by_class(ix: &Index, results: &mut Results) {
    let why = |a: Option<&Annotations>| match annotations::get(a, annotations::INGRESS_CLASS) {
        Some(class) => format!(
            "metadata.annotations[{}]: class {:?} is not ours ({:?}); ignored",
            annotations::INGRESS_CLASS,
            class.trim(),
            ix.ingress_class
        ),
        None => format!(
            "metadata.annotations[{}]: no class, and {:?} is not the default IngressClass; ignored",
            annotations::INGRESS_CLASS,
            ix.ingress_class
        ),
    };
    let mut ignored: Vec<(&'static str, &ObjectMeta)> = ix
        .ignored_cluster_plugins
        .values()
        .map(|p| ("KongClusterPlugin", &p.metadata))
        .collect();
    ignored.extend(
        ix.consumers
            .values()
            .filter(|c| !c.is_konnect_owned() && !ix.class_ok(c.metadata.annotations.as_ref()))
            .map(|c| ("KongConsumer", &c.metadata)),
    );
    ignored.extend(
        ix.consumer_groups
            .values()
            .filter(|g| !g.is_konnect_owned() && !ix.class_ok(g.metadata.annotations.as_ref()))
            .map(|g| ("KongConsumerGroup", &g.metadata)),
    );
    let ignored: Vec<(&'static str, ObjectMeta, String)> = ignored
        .into_iter()
        .map(|(k, m)| (k, m.clone(), why(m.annotations.as_ref())))
        .collect();
    for (kind, meta, message) in ignored {
        let key = results.track(kind, &meta);
        results.pending(&key, Reason::IgnoredClass, message);
    }
}

/// The entities with their tags, payload hash included ([`tags::tag_all`], over the cores),
/// recording dropped user tags as warnings on their objects. `head` holds the managed-by and
/// owner tags, the same on every entity: made once.
///
/// The hash is computed from the REAL entity, Secret-derived config values included: a
/// changed Secret must change the hash, or the controller would see no drift. It is the
/// first 12 hex digits of the SHA-256 of the whole canonical entity, so it does not reveal
/// a high-entropy secret. It can still confirm a guess of a low-entropy one by someone who
/// sees every other field of the entity (which `render` prints), so printers hide the hash
/// tag of a plugin with Secret-derived values along with the values themselves
/// ([`render::Secrets::Redact`]). Konnect holds the real config next to the real hash, so
/// the tag written there adds nothing.
fn with_tags<T: Serialize + Sync>(
    head: &[Tag; 2],
    mut built: Vec<Built<T>>,
    results: &mut Results,
    set_tags: impl Fn(&mut T, Vec<Tag>),
) -> Vec<T> {
    let items: Vec<(&T, &SourceMeta)> = built.iter().map(|b| (&b.entity, &*b.source)).collect();
    let tagged = tags::tag_all(head, &items);
    drop(items);
    // Every hash is taken before any entity gets its tags (the hash leaves tags out anyway).
    for (b, (tags, warnings)) in built.iter_mut().zip(tagged) {
        for w in warnings {
            results.warn(&b.origin, w);
        }
        set_tags(&mut b.entity, tags);
    }
    // The collect may reuse the larger buffer of `built`; the desired state outlives this
    // translation (the controller keeps it), so it gives back the room it does not use.
    let mut entities: Vec<T> = built.into_iter().map(|b| b.entity).collect();
    entities.shrink_to_fit();
    entities
}

/// The desired state: what the steps built, the held entities left out, each entity with its
/// tags; the held ids; the results.
fn finish(
    opts: &TranslateOptions,
    mut services: ServiceMap,
    mut routes: BTreeMap<String, BuiltRoute>,
    mut consumers: Consumers,
    plugins: Plugins,
    mut results: Results,
) -> DesiredState {
    let Plugins { plugins, held } = plugins;
    let held = held.leave_out(&mut services, &mut routes, &mut consumers);
    let head = tags::head(opts.owner());
    let mut out = DesiredState::default();
    // Each entity is hashed as built (no tags yet), then given its tags.
    let services = services.into_values().map(|s| s.built).collect();
    out.services = with_tags(&head, services, &mut results, |e, t| e.tags = Some(t));
    let routes = routes.into_values().map(|r| r.built).collect();
    out.routes = with_tags(&head, routes, &mut results, |e, t| e.tags = Some(t));
    let consumer_list = consumers.consumers.into_values().map(|(b, _)| b).collect();
    out.consumers = with_tags(&head, consumer_list, &mut results, |e, t| e.tags = Some(t));
    let groups = consumers.groups.into_values().map(|(b, _)| b).collect();
    out.consumer_groups = with_tags(&head, groups, &mut results, |e, t| e.tags = Some(t));
    finish_plugins(&mut out, &head, plugins, &mut results);
    out.memberships = consumers.memberships.into_iter().collect();
    out.held = held;
    out.results = results.finish();
    out.sort();
    out
}

/// [`finish`]'s plugins, with the provenance of their Secret-derived values.
fn finish_plugins(
    out: &mut DesiredState,
    head: &[Tag; 2],
    plugins: Vec<BuiltPlugin>,
    results: &mut Results,
) {
    let (built, secret_fields): (Vec<_>, Vec<_>) = plugins
        .into_iter()
        .map(|p| (p.built, p.secret_fields))
        .unzip();
    out.plugins = with_tags(head, built, results, |e, t| e.tags = Some(t));
    for (e, fields) in out.plugins.iter().zip(secret_fields) {
        if let (Some(id), false) = (&e.id, fields.is_empty()) {
            out.secret_fields.insert(*id, fields);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The desired state outlives a translation (the controller keeps it): its entity lists
    /// hold no spare room, whatever buffer `with_tags` collected them into.
    #[test]
    fn entity_lists_hold_no_spare_room() {
        use fixtures as fx;
        let mut fixture = fx::Fixture::new();
        for i in 0..7 {
            fixture = fixture
                .with(
                    fx::service("default", &format!("s{i}"))
                        .port(80)
                        .annotation(annotations::PLUGINS, &format!("p{i}")),
                )
                .with(
                    fx::kong_plugin("default", &format!("p{i}"), "rate-limiting")
                        .config(serde_json::json!({ "minute": i + 1 })),
                )
                .with(fx::ingress("default", &format!("i{i}")).path(
                    "app.example.com",
                    &format!("/{i}"),
                    "Prefix",
                    &format!("s{i}"),
                    80,
                ));
        }
        let state = fixture.translate();
        assert_eq!(
            (
                state.services.len(),
                state.routes.len(),
                state.plugins.len()
            ),
            (7, 7, 7)
        );
        assert_eq!(state.services.capacity(), state.services.len());
        assert_eq!(state.routes.capacity(), state.routes.len());
        assert_eq!(state.consumers.capacity(), state.consumers.len());
        assert_eq!(
            state.consumer_groups.capacity(),
            state.consumer_groups.len()
        );
        assert_eq!(state.plugins.capacity(), state.plugins.len());
    }

    proptest! {
        /// `K8sServices` holds what a `BTreeSet` of the same pairs would, in the same order.
        #[test]
        fn k8s_services_is_a_sorted_set(pairs in proptest::collection::vec(("[a-c]{0,2}", "[a-c]{0,2}"), 1..20)) {
            let mut set = K8sServices::one(&pairs[0].0, &pairs[0].1);
            for (ns, name) in &pairs[1..] {
                set.insert(ns, name);
            }
            let expected: BTreeSet<(&str, &str)> =
                pairs.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
            prop_assert_eq!(set.iter().collect::<Vec<_>>(), expected.into_iter().collect::<Vec<_>>());
        }
    }
}
