//! Small builders of the objects translation reads, for unit tests: a few lines make a
//! Service, a KongPlugin or an HTTPRoute with only the fields a test is about. Each builder
//! writes the object as the API server would store it (JSON, deserialized into the typed
//! object), and [`Fixture`] puts them in a [`Snapshot`] and translates it.
//!
//! Defaults: objects that pass the class filter carry class `kong` (the default
//! `--ingress-class`), Gateways are of GatewayClass `kong`, whose controller is KIC's.

use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use super::result::ObjectResult;
use super::snapshot::KIC_GATEWAY_CONTROLLER;
use super::{DesiredState, Snapshot, TranslateOptions, translate};
use crate::konnect::models::{EntityId, Plugin, Route, Service};

/// The class every fixture object is given (`TranslateOptions::default().ingress_class`).
pub const CLASS: &str = "kong";

fn object<T: DeserializeOwned>(v: Value) -> Arc<T> {
    Arc::new(serde_json::from_value(v).expect("the fixture is a valid object"))
}

/// Metadata: namespace (none for cluster-scoped objects), name, annotations, labels.
#[derive(Clone, Default)]
pub struct Meta {
    namespace: Option<String>,
    name: String,
    annotations: Map<String, Value>,
    labels: Map<String, Value>,
}

impl Meta {
    fn new(namespace: Option<&str>, name: &str) -> Self {
        Self {
            namespace: namespace.map(str::to_owned),
            name: name.to_owned(),
            ..Self::default()
        }
    }

    fn to_json(&self) -> Value {
        let mut m = json!({ "name": self.name });
        if let Some(ns) = &self.namespace {
            m["namespace"] = json!(ns);
        }
        if !self.annotations.is_empty() {
            m["annotations"] = Value::Object(self.annotations.clone());
        }
        if !self.labels.is_empty() {
            m["labels"] = Value::Object(self.labels.clone());
        }
        m
    }
}

/// Builders with metadata get `annotation` and `label`.
macro_rules! with_meta {
    ($($t:ty),*) => {$(
        // Not every builder's tests use both.
        #[allow(dead_code)]
        impl $t {
            pub fn annotation(mut self, key: &str, value: &str) -> Self {
                self.meta.annotations.insert(key.into(), json!(value));
                self
            }

            pub fn label(mut self, key: &str, value: &str) -> Self {
                self.meta.labels.insert(key.into(), json!(value));
                self
            }
        }
    )*};
}

/// A core Service.
pub struct ServiceB {
    meta: Meta,
    ports: Vec<Value>,
}

pub fn service(namespace: &str, name: &str) -> ServiceB {
    ServiceB {
        meta: Meta::new(Some(namespace), name),
        ports: Vec::new(),
    }
}

impl ServiceB {
    pub fn port(mut self, number: i32) -> Self {
        self.ports.push(json!({ "port": number }));
        self
    }

    pub fn named_port(mut self, name: &str, number: i32) -> Self {
        self.ports.push(json!({ "name": name, "port": number }));
        self
    }
}

/// A KongPlugin or, without a namespace, a KongClusterPlugin (of class `kong`).
pub struct PluginB {
    meta: Meta,
    body: Map<String, Value>,
}

pub fn kong_plugin(namespace: &str, name: &str, plugin: &str) -> PluginB {
    let mut body = Map::new();
    body.insert("plugin".into(), json!(plugin));
    PluginB {
        meta: Meta::new(Some(namespace), name),
        body,
    }
}

pub fn cluster_plugin(name: &str, plugin: &str) -> PluginB {
    kong_plugin("", name, plugin).cluster()
}

impl PluginB {
    fn cluster(mut self) -> Self {
        self.meta.namespace = None;
        self.annotation("kubernetes.io/ingress.class", CLASS)
    }

    pub fn config(mut self, config: Value) -> Self {
        self.body.insert("config".into(), config);
        self
    }

    /// The `global: "true"` label.
    pub fn global(self) -> Self {
        self.label("global", "true")
    }
}

/// A KongConsumer of class `kong`.
pub struct ConsumerB {
    meta: Meta,
    body: Map<String, Value>,
}

pub fn consumer(namespace: &str, name: &str) -> ConsumerB {
    ConsumerB {
        meta: Meta::new(Some(namespace), name),
        body: Map::new(),
    }
    .annotation("kubernetes.io/ingress.class", CLASS)
}

impl ConsumerB {
    pub fn username(mut self, username: &str) -> Self {
        self.body.insert("username".into(), json!(username));
        self
    }

    pub fn custom_id(mut self, custom_id: &str) -> Self {
        self.body.insert("custom_id".into(), json!(custom_id));
        self
    }

    /// A `consumerGroups` entry (a KongConsumerGroup's object name).
    pub fn group(mut self, group: &str) -> Self {
        let groups = self
            .body
            .entry("consumerGroups")
            .or_insert_with(|| json!([]));
        groups.as_array_mut().expect("an array").push(json!(group));
        self
    }
}

/// A KongConsumerGroup of class `kong`.
pub struct ConsumerGroupB {
    meta: Meta,
    spec_name: Option<String>,
}

pub fn consumer_group(namespace: &str, name: &str) -> ConsumerGroupB {
    ConsumerGroupB {
        meta: Meta::new(Some(namespace), name),
        spec_name: None,
    }
    .annotation("kubernetes.io/ingress.class", CLASS)
}

impl ConsumerGroupB {
    /// `spec.name`: the Konnect group's name.
    pub fn spec_name(mut self, name: &str) -> Self {
        self.spec_name = Some(name.into());
        self
    }
}

/// An Ingress of class `kong` (`spec.ingressClassName`).
pub struct IngressB {
    meta: Meta,
    /// (host, paths) in rule order.
    rules: Vec<(Option<String>, Vec<Value>)>,
}

pub fn ingress(namespace: &str, name: &str) -> IngressB {
    IngressB {
        meta: Meta::new(Some(namespace), name),
        rules: Vec::new(),
    }
}

impl IngressB {
    /// A path to a Service port number, in the rule of `host` (`""`: no host), which is
    /// added after the others if it is new.
    pub fn path(self, host: &str, path: &str, path_type: &str, svc: &str, port: i32) -> Self {
        self.backend(host, path, path_type, svc, json!({ "number": port }))
    }

    /// A path to a Service port by name.
    pub fn path_to_named(
        self,
        host: &str,
        path: &str,
        path_type: &str,
        svc: &str,
        port: &str,
    ) -> Self {
        self.backend(host, path, path_type, svc, json!({ "name": port }))
    }

    fn backend(mut self, host: &str, path: &str, path_type: &str, svc: &str, port: Value) -> Self {
        let host = (!host.is_empty()).then(|| host.to_owned());
        let entry = json!({
            "path": path,
            "pathType": path_type,
            "backend": { "service": { "name": svc, "port": port } },
        });
        match self.rules.iter_mut().find(|(h, _)| *h == host) {
            Some((_, paths)) => paths.push(entry),
            None => self.rules.push((host, vec![entry])),
        }
        self
    }
}

/// One HTTPRoute rule.
#[derive(Default)]
pub struct RuleB {
    matches: Option<Vec<Value>>,
    backends: Vec<Value>,
    filters: Vec<Value>,
}

pub fn rule() -> RuleB {
    RuleB::default()
}

impl RuleB {
    /// A match on a path prefix.
    pub fn prefix(self, path: &str) -> Self {
        self.matching(json!({ "path": { "type": "PathPrefix", "value": path } }))
    }

    /// A match as written.
    pub fn matching(mut self, m: Value) -> Self {
        self.matches.get_or_insert_with(Vec::new).push(m);
        self
    }

    /// `matches: []` (present, empty).
    pub fn no_matches(mut self) -> Self {
        self.matches = Some(Vec::new());
        self
    }

    /// A Service backend in the route's namespace (weight left to the default).
    pub fn backend(mut self, svc: &str, port: i32) -> Self {
        self.backends.push(json!({ "name": svc, "port": port }));
        self
    }

    /// An `ExtensionRef` filter naming a KongPlugin.
    pub fn plugin(mut self, name: &str) -> Self {
        self.filters.push(json!({
            "type": "ExtensionRef",
            "extensionRef": { "group": "configuration.konghq.com", "kind": "KongPlugin", "name": name },
        }));
        self
    }

    fn to_json(&self) -> Value {
        let mut r = json!({ "backendRefs": self.backends });
        if let Some(m) = &self.matches {
            r["matches"] = json!(m);
        }
        if !self.filters.is_empty() {
            r["filters"] = json!(self.filters);
        }
        r
    }
}

/// An HTTPRoute; `parent` names its Gateway in the same namespace.
pub struct HttpRouteB {
    meta: Meta,
    parents: Vec<String>,
    hostnames: Vec<String>,
    rules: Vec<RuleB>,
}

pub fn http_route(namespace: &str, name: &str) -> HttpRouteB {
    HttpRouteB {
        meta: Meta::new(Some(namespace), name),
        parents: Vec::new(),
        hostnames: Vec::new(),
        rules: Vec::new(),
    }
}

impl HttpRouteB {
    pub fn parent(mut self, gateway: &str) -> Self {
        self.parents.push(gateway.into());
        self
    }

    pub fn hostname(mut self, host: &str) -> Self {
        self.hostnames.push(host.into());
        self
    }

    pub fn rule(mut self, rule: RuleB) -> Self {
        self.rules.push(rule);
        self
    }
}

/// A Gateway of GatewayClass `kong`; listeners (name, protocol, port).
pub struct GatewayB {
    meta: Meta,
    listeners: Vec<Value>,
}

pub fn gateway(namespace: &str, name: &str) -> GatewayB {
    GatewayB {
        meta: Meta::new(Some(namespace), name),
        listeners: Vec::new(),
    }
}

impl GatewayB {
    pub fn listener(mut self, name: &str, protocol: &str, port: i32) -> Self {
        self.listeners
            .push(json!({ "name": name, "protocol": protocol, "port": port }));
        self
    }
}

with_meta!(
    ServiceB,
    PluginB,
    ConsumerB,
    ConsumerGroupB,
    IngressB,
    HttpRouteB,
    GatewayB
);

/// Something a [`Fixture`] can hold.
pub trait AddTo {
    fn add_to(self, snapshot: &mut Snapshot);
}

impl AddTo for ServiceB {
    fn add_to(self, s: &mut Snapshot) {
        let v = json!({ "metadata": self.meta.to_json(), "spec": { "ports": self.ports } });
        s.services.push(object(v));
    }
}

impl AddTo for PluginB {
    fn add_to(self, s: &mut Snapshot) {
        let mut v = Value::Object(self.body);
        v["metadata"] = self.meta.to_json();
        if self.meta.namespace.is_some() {
            s.kong_plugins.push(object(v));
        } else {
            s.kong_cluster_plugins.push(object(v));
        }
    }
}

impl AddTo for ConsumerB {
    fn add_to(self, s: &mut Snapshot) {
        let mut v = Value::Object(self.body);
        v["metadata"] = self.meta.to_json();
        s.kong_consumers.push(object(v));
    }
}

impl AddTo for ConsumerGroupB {
    fn add_to(self, s: &mut Snapshot) {
        let mut v = json!({ "metadata": self.meta.to_json(), "spec": {} });
        if let Some(n) = self.spec_name {
            v["spec"]["name"] = json!(n);
        }
        s.kong_consumer_groups.push(object(v));
    }
}

impl AddTo for IngressB {
    fn add_to(self, s: &mut Snapshot) {
        let rules: Vec<Value> = self
            .rules
            .into_iter()
            .map(|(host, paths)| {
                let mut r = json!({ "http": { "paths": paths } });
                if let Some(h) = host {
                    r["host"] = json!(h);
                }
                r
            })
            .collect();
        let v = json!({
            "metadata": self.meta.to_json(),
            "spec": { "ingressClassName": CLASS, "rules": rules },
        });
        s.ingresses.push(object(v));
    }
}

impl AddTo for HttpRouteB {
    fn add_to(self, s: &mut Snapshot) {
        let parents: Vec<Value> = self.parents.iter().map(|p| json!({ "name": p })).collect();
        let rules: Vec<Value> = self.rules.iter().map(RuleB::to_json).collect();
        let mut spec = json!({ "parentRefs": parents, "rules": rules });
        if !self.hostnames.is_empty() {
            spec["hostnames"] = json!(self.hostnames);
        }
        let v = json!({ "metadata": self.meta.to_json(), "spec": spec });
        s.http_routes.push(object(v));
    }
}

impl AddTo for GatewayB {
    fn add_to(self, s: &mut Snapshot) {
        let v = json!({
            "metadata": self.meta.to_json(),
            "spec": { "gatewayClassName": CLASS, "listeners": self.listeners },
        });
        s.gateways.push(object(v));
        if s.gateway_classes.is_empty() {
            s.gateway_classes.push(object(json!({
                "metadata": { "name": CLASS },
                "spec": { "controllerName": KIC_GATEWAY_CONTROLLER },
            })));
        }
    }
}

/// A snapshot under construction.
#[derive(Default)]
pub struct Fixture {
    pub snapshot: Snapshot,
}

impl Fixture {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with(mut self, object: impl AddTo) -> Self {
        object.add_to(&mut self.snapshot);
        self
    }

    /// Translates with the default options (class `kong`).
    pub fn translate(&self) -> DesiredState {
        translate(&self.snapshot, &TranslateOptions::default())
    }
}

/// The result of one object, by kind and name.
pub fn result<'s>(state: &'s DesiredState, kind: &str, name: &str) -> &'s ObjectResult {
    state
        .results
        .iter()
        .find(|r| r.kind == kind && r.name == name)
        .unwrap_or_else(|| panic!("no result for {kind} {name}"))
}

/// The route named `name`.
pub fn route<'s>(state: &'s DesiredState, name: &str) -> &'s Route {
    state
        .routes
        .iter()
        .find(|r| r.name.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("no route {name}; routes: {:?}", names(&state.routes)))
}

/// The service named `name`.
pub fn service_named<'s>(state: &'s DesiredState, name: &str) -> &'s Service {
    state
        .services
        .iter()
        .find(|s| s.name.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("no service {name}"))
}

/// The names of routes (or services), sorted.
pub fn names<T: serde::Serialize>(entities: &[T]) -> Vec<String> {
    let mut out: Vec<String> = entities
        .iter()
        .filter_map(|e| {
            serde_json::to_value(e)
                .ok()?
                .get("name")?
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    out.sort();
    out
}

/// An id as text.
pub fn id(id: Option<EntityId>) -> String {
    id.map(|i| i.to_string()).unwrap_or_default()
}

/// A plugin's parents as (service, route, consumer, consumer group) ids, each "" when absent.
pub fn parents(p: &Plugin) -> [String; 4] {
    let fk = |f: &Option<crate::konnect::models::ForeignKey>| {
        f.as_ref().map(|f| f.id.to_string()).unwrap_or_default()
    };
    [
        fk(&p.service),
        fk(&p.route),
        fk(&p.consumer),
        fk(&p.consumer_group),
    ]
}
