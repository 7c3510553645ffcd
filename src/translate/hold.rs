//! Fail closed (issue 8, item 1). An object that names, by `konghq.com/plugins` or an
//! HTTPRoute `ExtensionRef` filter, a plugin that is missing, not permitted or Invalid is held
//! back, with everything derived from it: its Pending result names the plugin and why, and
//! the Konnect entities it would produce are left out of the desired state, their ids listed
//! in [`DesiredState::held`](super::DesiredState::held) so the controller keeps what Konnect
//! holds for them.
//!
//! This follows KIC 3.x's fallback configuration (Kong/kubernetes-ingress-controller,
//! `internal/dataplane/fallback/`): `fallback.go` `Generator.GenerateExcludingBrokenObjects`
//! removes every broken object together with `graph.go` `ConfigGraph.SubgraphObjects` (its
//! dependants), where `graph_dependencies_common.go` `resolveObjectDependenciesPlugin` makes
//! an object depend on the KongPlugins/KongClusterPlugins its `konghq.com/plugins` names and
//! `graph_dependencies_ingress.go` `resolveIngressDependenciesService` an Ingress on its
//! Services; Kong keeps its last good configuration for what was excluded. So a route guarded
//! by an authentication plugin is never served without it.
//!
//! What is held:
//! - the entities of a referrer that names a bad plugin: the Konnect services of a core
//!   Service, every route of an Ingress or HTTPRoute, a consumer, a consumer group;
//! - routes whose service is held (their Ingress or HTTPRoute is then Pending, naming the
//!   service and why);
//! - plugin instances attached to any held entity (combinations are formed with every
//!   referrer first, so holding never turns a consumer-scoped instance into a wider one);
//! - the instances an Invalid plugin would have had, and an Invalid global plugin's global
//!   instance (ids by go-kong's scheme);
//! - memberships whose consumer or group is held are left out (not listed in `held`).
//!
//! The plugins step calls [`Step::hold`] last; it returns the instances kept and a [`Held`],
//! which `finish` uses to leave the held entities out ([`Held::leave_out`]).

use std::collections::{BTreeMap, BTreeSet};

use super::BuiltRoute;
use super::consumers::Consumers;
use super::ids::{self, PluginParents};
use super::plugins::{Infos, Instance, PluginSource, Relations, Slot, Step};
use super::result::{ObjectRef, Reason};
use super::services::ServiceMap;
use crate::konnect::models::EntityId;

/// The suffix of every held-back message.
const KEEPS: &str = "Konnect keeps its last accepted state";

/// A plugin object's result key and plugin type, whether it resolved or not.
pub(crate) struct PluginInfo {
    pub key: ObjectRef,
    /// The `plugin` field (may be empty on an Invalid object).
    pub plugin: String,
    /// A KongClusterPlugin labelled global (and of our class).
    pub global: bool,
}

/// One plugin reference of a referrer, resolved or not.
pub(crate) struct PluginUse {
    pub referrer: ObjectRef,
    /// The plugin object, or why there is none (reason, message starting with the field).
    pub found: Result<PluginSource, (Reason, String)>,
}

/// What is held back: the entities by name, and the ids of the plugin instances.
pub(crate) struct Held {
    services: BTreeSet<String>,
    routes: BTreeSet<String>,
    consumers: BTreeSet<String>,
    groups: BTreeSet<String>,
    /// Ids of the plugin instances held back.
    plugin_ids: BTreeSet<EntityId>,
}

/// Why each referrer is held, in the order found, without duplicates.
#[derive(Default)]
struct Whys(BTreeMap<ObjectRef, Vec<(Reason, String)>>);

impl Whys {
    fn add(&mut self, key: &ObjectRef, reason: Reason, why: String) {
        let list = self.0.entry(key.clone()).or_default();
        if !list.iter().any(|(_, w)| *w == why) {
            list.push((reason, why));
        }
    }

    fn first(&self, key: &ObjectRef) -> Option<&(Reason, String)> {
        self.0.get(key).and_then(|l| l.first())
    }
}

/// `KongPlugin ns/name (type)`, or without the type when it is empty.
fn describe(info: &PluginInfo) -> String {
    if info.plugin.trim().is_empty() {
        info.key.to_string()
    } else {
        format!("{} ({})", info.key, info.plugin)
    }
}

impl Step<'_, '_> {
    /// Holds back what must be (see the module docs): records the Pending results, and returns
    /// the instances that are not held with what is held ([`Held::leave_out`] takes the held
    /// entities out of the desired state).
    ///
    /// `entities` lists every (referrer, slot, Konnect entity name) of the referrals;
    /// `relations` every plugin object's referrers (to a valid plugin or not).
    pub(crate) fn hold(
        &mut self,
        uses: &[PluginUse],
        entities: &[(ObjectRef, Slot, String)],
        infos: &Infos,
        relations: &BTreeMap<PluginSource, Relations>,
        instances: Vec<Instance>,
    ) -> (Vec<Instance>, Held) {
        let invalid = self.invalid_plugins(infos);
        let mut whys = referrers_held(uses, &invalid);
        let held = entities_held(self.routes, entities, &mut whys);
        self.report_held(&whys);
        let mut held = by_name(&held);
        let kept = held.hold_instances(instances);
        held.hold_invalid(&invalid, infos, relations);
        (kept, held)
    }

    /// Invalid plugin objects, each with the sentence that says why. A plugin object is
    /// Invalid when `self.results` holds an error on it: recorded by the plugins step, or by
    /// `malformed` (in `translate_with_schemas`) for a copy of it the loader could not parse.
    fn invalid_plugins<'i>(&self, infos: &'i Infos) -> BTreeMap<&'i PluginSource, String> {
        infos
            .iter()
            .filter(|(_, i)| self.results.has_error(&i.key))
            .map(|(src, i)| {
                let details = self.results.error_details(&i.key).join("; ");
                (src, format!("{} is invalid: {details}", describe(i)))
            })
            .collect()
    }

    /// Step 4: Results: each held referrer is Pending, naming every reason.
    fn report_held(&mut self, whys: &Whys) {
        for (key, list) in &whys.0 {
            let Some((reason, _)) = list.first() else {
                continue;
            };
            let all: Vec<&str> = list.iter().map(|(_, w)| w.as_str()).collect();
            self.results.pending(
                key,
                *reason,
                format!("held back: {}; {KEEPS}", all.join("; ")),
            );
        }
    }
}

/// Step 1: Referrers naming a missing, not permitted or Invalid plugin.
fn referrers_held(uses: &[PluginUse], invalid: &BTreeMap<&PluginSource, String>) -> Whys {
    let mut whys = Whys::default();
    for u in uses {
        match &u.found {
            Err((reason, message)) => whys.add(&u.referrer, *reason, message.clone()),
            Ok(src) => {
                if let Some(why) = invalid.get(src) {
                    whys.add(&u.referrer, Reason::PluginInvalid, why.clone());
                }
            }
        }
    }
    whys
}

/// Steps 2 and 3: the entities of the held referrers, and routes whose service is held (their
/// referrers are held too, the service named in `whys`).
fn entities_held<'e>(
    routes: &'e BTreeMap<String, BuiltRoute>,
    entities: &'e [(ObjectRef, Slot, String)],
    whys: &mut Whys,
) -> BTreeSet<(Slot, &'e str)> {
    // 2. Their entities.
    let mut held: BTreeSet<(Slot, &str)> = BTreeSet::new();
    // Held Konnect service name -> the first core Service holding it.
    let mut service_by: BTreeMap<&str, &ObjectRef> = BTreeMap::new();
    for (referrer, slot, name) in entities {
        if whys.0.contains_key(referrer) {
            held.insert((*slot, name));
            if *slot == Slot::Service {
                service_by.entry(name).or_insert(referrer);
            }
        }
    }

    // 3. Routes whose service is held.
    let held_service_ids: BTreeMap<EntityId, &str> = service_by
        .keys()
        .map(|name| (ids::service_id(name), *name))
        .collect();
    let mut via_service: Vec<(ObjectRef, Reason, String)> = Vec::new();
    for (route, r) in routes {
        let Some(svc) = r
            .built
            .entity
            .service
            .as_ref()
            .and_then(|fk| held_service_ids.get(&fk.id))
        else {
            continue;
        };
        held.insert((Slot::Route, route));
        let by = service_by.get(svc);
        if let Some((reason, why)) = by.and_then(|k| whys.first(k)) {
            let by = by.map(|k| k.to_string()).unwrap_or_default();
            via_service.push((
                r.referrer.key.clone(),
                *reason,
                format!("route {route:?} uses service {svc:?}, held back because {by}: {why}"),
            ));
        }
    }
    for (key, reason, why) in via_service {
        whys.add(&key, reason, why);
    }
    held
}

/// Step 5: The held entities by name (taken out by [`Held::leave_out`]).
fn by_name(held: &BTreeSet<(Slot, &str)>) -> Held {
    let names = |slot: Slot| -> BTreeSet<String> {
        held.iter()
            .filter(|(s, _)| *s == slot)
            .map(|(_, n)| (*n).to_owned())
            .collect()
    };
    Held {
        services: names(Slot::Service),
        routes: names(Slot::Route),
        consumers: names(Slot::Consumer),
        groups: names(Slot::Group),
        plugin_ids: BTreeSet::new(),
    }
}

impl Held {
    /// Takes the held services, routes, consumers and groups out of what the steps built, with
    /// the memberships of held consumers and groups, and returns every held id (see
    /// [`DesiredState::held`](super::DesiredState::held)).
    pub(crate) fn leave_out(
        self,
        services: &mut ServiceMap,
        routes: &mut BTreeMap<String, BuiltRoute>,
        consumers: &mut Consumers,
    ) -> BTreeSet<EntityId> {
        let mut held_ids = BTreeSet::new();
        for name in &self.services {
            if let Some(s) = services.remove(name) {
                held_ids.extend(s.built.entity.id);
            }
        }
        for name in &self.routes {
            if let Some(r) = routes.remove(name) {
                held_ids.extend(r.built.entity.id);
            }
        }
        for name in &self.consumers {
            if let Some((c, _)) = consumers.consumers.remove(name) {
                held_ids.extend(c.entity.id);
            }
        }
        for name in &self.groups {
            if let Some((g, _)) = consumers.groups.remove(name) {
                held_ids.extend(g.entity.id);
            }
        }
        consumers.memberships.retain(|m| {
            !held_ids.contains(&m.consumer.id) && !held_ids.contains(&m.consumer_group.id)
        });
        held_ids.extend(self.plugin_ids);
        held_ids
    }

    /// Step 6: Instances on held entities: held; the others are returned.
    fn hold_instances(&mut self, mut instances: Vec<Instance>) -> Vec<Instance> {
        let (services, routes) = (&self.services, &self.routes);
        let (consumers, groups) = (&self.consumers, &self.groups);
        let is_held = |p: &PluginParents| {
            p.service.as_ref().is_some_and(|n| services.contains(n))
                || p.route.as_ref().is_some_and(|n| routes.contains(n))
                || p.consumer.as_ref().is_some_and(|n| consumers.contains(n))
                || p.consumer_group
                    .as_ref()
                    .is_some_and(|n| groups.contains(n))
        };
        // In place: a second vector of instances would double the step's largest buffer.
        let mut held = Vec::new();
        instances.retain(|inst| {
            let hold = is_held(&inst.parents);
            if hold {
                held.extend(inst.entity.id);
            }
            !hold
        });
        self.plugin_ids.extend(held);
        instances
    }

    /// Step 7: The instances Invalid plugins would have had.
    fn hold_invalid(
        &mut self,
        invalid: &BTreeMap<&PluginSource, String>,
        infos: &Infos,
        relations: &BTreeMap<PluginSource, Relations>,
    ) {
        for src in invalid.keys() {
            let Some(info) = infos.get(*src) else {
                continue;
            };
            if info.plugin.trim().is_empty() {
                continue;
            }
            if let Some(rels) = relations.get(*src) {
                for parents in rels.combinations() {
                    self.plugin_ids
                        .insert(ids::plugin_id(&info.plugin, &parents));
                }
            }
            if info.global {
                self.plugin_ids
                    .insert(ids::plugin_id(&info.plugin, &PluginParents::default()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use crate::crd::{KongConsumer, KongPlugin};
    use crate::konnect::models::EntityId;
    use crate::translate::ids::{self, PluginParents};
    use crate::translate::{Reason, Snapshot, Status, TranslateOptions, translate};

    fn from<T: serde::de::DeserializeOwned>(v: Value) -> std::sync::Arc<T> {
        std::sync::Arc::new(serde_json::from_value(v).expect("fixture parses"))
    }

    fn service(
        name: &str,
        plugins: Option<&str>,
    ) -> std::sync::Arc<k8s_openapi::api::core::v1::Service> {
        from(json!({
            "metadata": {"name": name, "namespace": "default",
                         "annotations": plugins.map(|p| json!({"konghq.com/plugins": p}))},
            "spec": {"ports": [{"port": 80}]}
        }))
    }

    fn ingress(
        name: &str,
        service: &str,
        plugins: Option<&str>,
    ) -> std::sync::Arc<k8s_openapi::api::networking::v1::Ingress> {
        from(json!({
            "metadata": {"name": name, "namespace": "default",
                         "annotations": plugins.map(|p| json!({"konghq.com/plugins": p}))},
            "spec": {"ingressClassName": "kong", "rules": [{"host": "h.example.com", "http": {"paths": [
                {"path": "/", "pathType": "Prefix",
                 "backend": {"service": {"name": service, "port": {"number": 80}}}}]}}]}
        }))
    }

    fn consumer(name: &str, plugins: &str) -> std::sync::Arc<KongConsumer> {
        from(json!({
            "apiVersion": "configuration.konghq.com/v1", "kind": "KongConsumer",
            "metadata": {"name": name, "namespace": "default", "annotations": {
                "kubernetes.io/ingress.class": "kong", "konghq.com/plugins": plugins}},
            "username": name
        }))
    }

    fn plugin(name: &str, kind: &str, config: Value) -> std::sync::Arc<KongPlugin> {
        let mut p = KongPlugin::new("default", name, kind);
        p.config = Some(config);
        std::sync::Arc::new(p)
    }

    fn route_name(ingress: &str, service: &str) -> String {
        format!("default.{ingress}.{service}.h.example.com.80")
    }

    fn status(state: &crate::translate::DesiredState, kind: &str, name: &str) -> Status {
        state
            .results
            .iter()
            .find(|r| r.kind == kind && r.name == name)
            .map(|r| r.status.clone())
            .expect("a result")
    }

    #[test]
    fn an_invalid_auth_plugin_holds_the_route_back() {
        let snap = Snapshot {
            services: vec![service("echo", None)],
            ingresses: vec![ingress("private", "echo", Some("auth"))],
            kong_plugins: vec![plugin("auth", "key-auth", json!({"key_names": "apikey"}))],
            ..Snapshot::default()
        };
        let state = translate(&snap, &TranslateOptions::default());
        let route = route_name("private", "echo");
        assert!(state.routes.is_empty(), "{:?}", state.routes);
        assert!(state.plugins.is_empty());
        let expected: std::collections::BTreeSet<EntityId> = [
            ids::route_id(&route),
            ids::plugin_id(
                "key-auth",
                &PluginParents {
                    route: Some(route.clone()),
                    ..Default::default()
                },
            ),
        ]
        .into();
        assert_eq!(state.held, expected);
        assert_eq!(state.services.len(), 1, "the Service itself is fine");
        assert_eq!(
            status(&state, "Ingress", "private"),
            Status::Pending {
                reason: Reason::PluginInvalid
            }
        );
        assert!(matches!(
            status(&state, "KongPlugin", "auth"),
            Status::Invalid { .. }
        ));
        let message = &state
            .results
            .iter()
            .find(|r| r.kind == "Ingress")
            .expect("Ingress result")
            .message;
        assert!(
            message.contains(
                "held back: KongPlugin default/auth (key-auth) is invalid: config.key_names"
            ) && message.ends_with("Konnect keeps its last accepted state"),
            "{message}"
        );
    }

    /// Combinations are formed with every referrer, held or not: holding a consumer must not
    /// turn its consumer-scoped instance into a route-wide one.
    #[test]
    fn holding_a_consumer_never_widens_an_instance() {
        let snap = Snapshot {
            services: vec![service("echo", None)],
            ingresses: vec![ingress("app", "echo", Some("rl"))],
            kong_consumers: vec![consumer("alice", "rl, missing")],
            kong_plugins: vec![plugin(
                "rl",
                "rate-limiting",
                json!({"minute": 5, "policy": "local"}),
            )],
            ..Snapshot::default()
        };
        let state = translate(&snap, &TranslateOptions::default());
        let route = route_name("app", "echo");
        assert!(state.plugins.is_empty(), "{:?}", state.plugins);
        assert!(state.consumers.is_empty());
        assert_eq!(state.routes.len(), 1);
        let scoped = ids::plugin_id(
            "rate-limiting",
            &PluginParents {
                route: Some(route),
                consumer: Some("alice".into()),
                ..Default::default()
            },
        );
        assert!(state.held.contains(&scoped));
        assert!(state.held.contains(&ids::consumer_id("alice")));
        assert_eq!(
            status(&state, "KongConsumer", "alice"),
            Status::Pending {
                reason: Reason::ReferenceNotFound
            }
        );
        assert_eq!(status(&state, "Ingress", "app"), Status::Accepted);
    }
}
