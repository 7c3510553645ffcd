//! Plugins: KIC's reading of `konghq.com/plugins`, exactly.
//!
//! - lookup: a bare name resolves to a KongPlugin in the referrer's namespace, then to a
//!   KongClusterPlugin of that name; `ns:name` (another namespace) needs a ReferenceGrant in `ns`
//!   from the referrer's group/kind/namespace to `configuration.konghq.com` `KongPlugin`;
//! - configuration: `config`, or `configFrom` (a Secret key, JSON or YAML), with `configPatches`
//!   (RFC 6902 `add` of a Secret's JSON value, missing parents created) — errors name the
//!   Secret and key, never the value; which values came from Secrets is tracked alongside
//!   (see [`super::redact`]) and schema messages that echo one are scrubbed;
//! - KIC's combination rule over all referrers of one plugin object, instance names with the
//!   relation-hash suffix, global KongClusterPlugins (two of one type are both refused), and
//!   "older wins" when two plugin objects put the same plugin type on the same target.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::annotations::{self as ann, PluginRef};
use super::consumers::age_key;
use super::ids::{self, PluginParents};
use super::redact::{Scrubber, SecretField, SecretSource, Shadow};
use super::result::{ObjectRef, Reason};
use super::tags::SourceMeta;
use super::{Built, BuiltPlugin, Ctx, Referrer, ns_name};
use crate::crd::{KongClusterPlugin, KongPlugin, PluginOrdering};
use crate::konnect::models::{ForeignKey, Plugin};
use crate::schema::ValidationOutcome;

const KONG_GROUP: &str = "configuration.konghq.com";
/// Label that makes a KongClusterPlugin global.
pub const GLOBAL_LABEL: &str = "global";
/// Length of the relation-hash suffix of instance names.
const INSTANCE_SUFFIX_LEN: usize = 9;

/// A plugin object.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum PluginSource {
    Namespaced(String, String),
    Cluster(String),
}

/// The referrers of one plugin object, by Konnect entity name.
#[derive(Default)]
struct Relations {
    services: BTreeSet<String>,
    routes: BTreeSet<String>,
    consumers: BTreeSet<String>,
    groups: BTreeSet<String>,
}

impl Relations {
    /// KIC's `ForeignRelations.GetCombinations`.
    fn combinations(&self) -> Vec<PluginParents> {
        let mut out = Vec::new();
        let scoped =
            |out: &mut Vec<PluginParents>, consumer: Option<&String>, group: Option<&String>| {
                for s in &self.services {
                    out.push(PluginParents {
                        service: Some(s.clone()),
                        consumer: consumer.cloned(),
                        consumer_group: group.cloned(),
                        ..Default::default()
                    });
                }
                for r in &self.routes {
                    out.push(PluginParents {
                        route: Some(r.clone()),
                        consumer: consumer.cloned(),
                        consumer_group: group.cloned(),
                        ..Default::default()
                    });
                }
            };
        let has_target = !self.services.is_empty() || !self.routes.is_empty();
        if !self.consumers.is_empty() {
            for c in &self.consumers {
                if has_target {
                    scoped(&mut out, Some(c), None);
                } else {
                    out.push(PluginParents {
                        consumer: Some(c.clone()),
                        ..Default::default()
                    });
                }
            }
        } else if !self.groups.is_empty() {
            for g in &self.groups {
                if has_target {
                    scoped(&mut out, None, Some(g));
                } else {
                    out.push(PluginParents {
                        consumer_group: Some(g.clone()),
                        ..Default::default()
                    });
                }
            }
        } else {
            scoped(&mut out, None, None);
        }
        out
    }
}

/// A plugin object with its configuration resolved, ready to instantiate.
struct Base {
    plugin: String,
    config: Value,
    /// The values of `config` that came from Secrets.
    secret_fields: Vec<SecretField>,
    enabled: bool,
    protocols: Option<Vec<String>>,
    ordering: Option<Value>,
    instance_name: Option<String>,
    source: SourceMeta,
    origin: ObjectRef,
    age: (bool, Option<Time>, String, String),
}

/// A resolved configuration and the values of it that came from Secrets.
type Resolved = (Value, Vec<SecretField>);

/// The fields KongPlugin and KongClusterPlugin share, with Secret references made explicit.
struct PluginFields<'a> {
    meta: &'a ObjectMeta,
    kind: &'static str,
    plugin: &'a str,
    config: Option<&'a Value>,
    /// (namespace, name, key)
    config_from: Option<(String, String, String)>,
    /// (path, namespace, name, key)
    patches: Vec<(String, String, String, String)>,
    disabled: bool,
    instance_name: Option<&'a str>,
    ordering: Option<&'a PluginOrdering>,
    protocols: Option<Vec<String>>,
    run_on: bool,
    consumer_ref: bool,
    tags: &'a [String],
}

impl<'a> PluginFields<'a> {
    fn from_kong_plugin(p: &'a KongPlugin) -> Self {
        let (ns, _) = ns_name(&p.metadata);
        Self {
            meta: &p.metadata,
            kind: "KongPlugin",
            plugin: &p.plugin,
            config: p.config.as_ref(),
            config_from: p.config_from.as_ref().map(|c| {
                (
                    ns.clone(),
                    c.secret_key_ref.name.clone(),
                    c.secret_key_ref.key.clone(),
                )
            }),
            patches: p
                .config_patches
                .iter()
                .flatten()
                .map(|c| {
                    let r = &c.value_from.secret_key_ref;
                    (c.path.clone(), ns.clone(), r.name.clone(), r.key.clone())
                })
                .collect(),
            disabled: p.disabled.unwrap_or(false),
            instance_name: p.instance_name.as_deref(),
            ordering: p.ordering.as_ref(),
            protocols: p
                .protocols
                .as_ref()
                .map(|ps| ps.iter().map(|x| x.as_str().to_owned()).collect()),
            run_on: p.run_on.is_some(),
            consumer_ref: p.consumer_ref.is_some(),
            tags: p.tags.as_deref().unwrap_or_default(),
        }
    }

    fn from_cluster_plugin(p: &'a KongClusterPlugin) -> Self {
        Self {
            meta: &p.metadata,
            kind: "KongClusterPlugin",
            plugin: &p.plugin,
            config: p.config.as_ref(),
            config_from: p.config_from.as_ref().map(|c| {
                let r = &c.secret_key_ref;
                (r.namespace.clone(), r.name.clone(), r.key.clone())
            }),
            patches: p
                .config_patches
                .iter()
                .flatten()
                .map(|c| {
                    let r = &c.value_from.secret_key_ref;
                    (
                        c.path.clone(),
                        r.namespace.clone(),
                        r.name.clone(),
                        r.key.clone(),
                    )
                })
                .collect(),
            disabled: p.disabled.unwrap_or(false),
            instance_name: p.instance_name.as_deref(),
            ordering: p.ordering.as_ref(),
            protocols: p
                .protocols
                .as_ref()
                .map(|ps| ps.iter().map(|x| x.as_str().to_owned()).collect()),
            run_on: p.run_on.is_some(),
            consumer_ref: p.consumer_ref.is_some(),
            tags: p.tags.as_deref().unwrap_or_default(),
        }
    }
}

/// RFC 6902 `add` of `value` at JSON Pointer `path`, creating missing parent objects; an empty
/// path replaces the whole document. Errors never contain the value.
pub(crate) fn add_at(doc: &mut Value, path: &str, value: Value) -> Result<(), String> {
    if path.is_empty() {
        *doc = value;
        return Ok(());
    }
    let Some(rest) = path.strip_prefix('/') else {
        return Err(format!(
            "{path:?} is not a JSON Pointer (it must be empty or start with '/')"
        ));
    };
    let tokens: Vec<String> = rest
        .split('/')
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect();
    let mut value = Some(value);
    let mut cur = doc;
    let last = tokens.len().saturating_sub(1);
    for (i, token) in tokens.iter().enumerate() {
        let at_end = i == last;
        cur = match cur {
            Value::Object(map) => {
                if at_end {
                    map.insert(token.clone(), value.take().unwrap_or(Value::Null));
                    return Ok(());
                }
                map.entry(token.clone())
                    .or_insert_with(|| Value::Object(serde_json::Map::new()))
            }
            Value::Array(items) => {
                if token == "-" && at_end {
                    items.push(value.take().unwrap_or(Value::Null));
                    return Ok(());
                }
                let index = token
                    .parse::<usize>()
                    .map_err(|_| format!("{path:?}: {token:?} is not an array index"))?;
                if at_end {
                    if index > items.len() {
                        return Err(format!(
                            "{path:?}: index {index} is past the end of the array"
                        ));
                    }
                    items.insert(index, value.take().unwrap_or(Value::Null));
                    return Ok(());
                }
                items.get_mut(index).ok_or_else(|| {
                    format!("{path:?}: index {index} is past the end of the array")
                })?
            }
            _ => {
                return Err(format!(
                    "{path:?}: the value at {token:?}'s parent is neither an object nor an array"
                ));
            }
        };
    }
    Ok(())
}

fn secret_source(namespace: &str, name: &str, key: &str) -> SecretSource {
    SecretSource {
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        key: key.to_owned(),
    }
}

/// The relation-hash suffix KIC puts on instance names.
fn relation_hash(parents: &PluginParents) -> String {
    let mut input = String::new();
    for (label, value) in [
        ("service", &parents.service),
        ("route", &parents.route),
        ("consumer", &parents.consumer),
        ("group", &parents.consumer_group),
    ] {
        if let Some(v) = value {
            input.push('_');
            input.push_str(label);
            input.push('-');
            input.push_str(v);
        }
    }
    hex::encode(Sha256::digest(input.as_bytes()))
}

fn describe_target(parents: &PluginParents) -> String {
    let mut parts = Vec::new();
    for (label, value) in [
        ("service", &parents.service),
        ("route", &parents.route),
        ("consumer", &parents.consumer),
        ("consumer group", &parents.consumer_group),
    ] {
        if let Some(v) = value {
            parts.push(format!("{label} {v:?}"));
        }
    }
    if parts.is_empty() {
        "the control plane (global)".into()
    } else {
        parts.join(" and ")
    }
}

/// A plugin instance under construction.
struct Instance {
    source: PluginSource,
    parents: PluginParents,
    hash: String,
    entity: Plugin,
}

impl Ctx<'_> {
    /// Reads one Secret key as text; the error names the Secret and key, never the value.
    fn secret_text(
        &self,
        namespace: &str,
        name: &str,
        key: &str,
    ) -> Result<String, (Reason, String)> {
        let Some(secret) = self
            .ix
            .secrets
            .get(&(namespace.to_owned(), name.to_owned()))
        else {
            return Err((
                Reason::ReferenceNotFound,
                format!("Secret {namespace}/{name} not found"),
            ));
        };
        if let Some(text) = secret.string_data.as_ref().and_then(|d| d.get(key)) {
            return Ok(text.clone());
        }
        match secret.data.as_ref().and_then(|d| d.get(key)) {
            Some(bytes) => String::from_utf8(bytes.0.clone()).map_err(|_| {
                (
                    Reason::InvalidConfig,
                    format!("Secret {namespace}/{name} key {key:?} is not UTF-8 text"),
                )
            }),
            None => Err((
                Reason::ReferenceNotFound,
                format!("Secret {namespace}/{name} has no key {key:?}"),
            )),
        }
    }

    /// Builds the configuration of a plugin object, with the values that came from Secrets;
    /// every error names its field.
    fn resolve_config(&self, f: &PluginFields<'_>) -> Result<Resolved, Vec<(Reason, String)>> {
        if f.config.is_some() && f.config_from.is_some() {
            return Err(vec![(
                Reason::InvalidConfig,
                "config: Using both config and configFrom fields is not allowed.".into(),
            )]);
        }
        if f.config_from.is_some() && !f.patches.is_empty() {
            return Err(vec![(
                Reason::InvalidConfig,
                "configFrom: Using both configFrom and configPatches fields is not allowed.".into(),
            )]);
        }
        let mut shadow = Shadow::default();
        let mut config = match (&f.config_from, f.config) {
            (Some((ns, name, key)), _) => {
                let text = self
                    .secret_text(ns, name, key)
                    .map_err(|(r, e)| vec![(r, format!("configFrom.secretKeyRef: {e}"))])?;
                let parsed = serde_json::from_str::<Value>(&text)
                    .ok()
                    .or_else(|| serde_norway::from_str::<Value>(&text).ok())
                    .ok_or_else(|| {
                        vec![(Reason::InvalidConfig, format!("configFrom.secretKeyRef: Secret {ns}/{name} key {key:?} holds neither JSON nor YAML"))]
                    })?;
                if !parsed.is_object() {
                    return Err(vec![(
                        Reason::InvalidConfig,
                        format!(
                            "configFrom.secretKeyRef: Secret {ns}/{name} key {key:?} does not hold an object"
                        ),
                    )]);
                }
                // configFrom: every value of the configuration is the Secret's.
                let marked = shadow.secret_value(&parsed, secret_source(ns, name, key));
                shadow.set(marked);
                parsed
            }
            (None, Some(config)) if config.is_object() => {
                shadow = Shadow::from_user_config(config);
                config.clone()
            }
            (None, Some(Value::Null)) | (None, None) => {
                let empty = Value::Object(serde_json::Map::new());
                shadow = Shadow::from_user_config(&empty);
                empty
            }
            (None, Some(_)) => {
                return Err(vec![(
                    Reason::InvalidConfig,
                    "config: must be an object".into(),
                )]);
            }
        };
        let mut errors = Vec::new();
        for (i, (path, ns, name, key)) in f.patches.iter().enumerate() {
            let field = format!("configPatches[{i}]");
            let text = match self.secret_text(ns, name, key) {
                Ok(t) => t,
                Err((r, e)) => {
                    errors.push((r, format!("{field}.valueFrom.secretKeyRef: {e}")));
                    continue;
                }
            };
            let Ok(value) = serde_json::from_str::<Value>(&text) else {
                errors.push((
                    Reason::InvalidConfig,
                    format!("{field}.valueFrom.secretKeyRef: Secret {ns}/{name} key {key:?} is not JSON (a string value needs its quotes)"),
                ));
                continue;
            };
            // The same `add` on the shadow, with the value's scalars marked as this Secret's.
            let marked = shadow.secret_value(&value, secret_source(ns, name, key));
            if let Err(e) = add_at(&mut config, path, value) {
                errors.push((Reason::InvalidConfig, format!("{field}.path: {e}")));
            } else if add_at(shadow.doc_mut(), path, marked).is_err() {
                // Unreachable while the shadow mirrors the configuration's structure; if it
                // ever did not, refusing is the only way to be sure nothing leaks.
                errors.push((
                    Reason::InvalidConfig,
                    format!("{field}.path: cannot track the Secret value at {path:?}"),
                ));
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        if !config.is_object() {
            return Err(vec![(
                Reason::InvalidConfig,
                "configPatches: the patched configuration is not an object".into(),
            )]);
        }
        Ok((config, shadow.fields()))
    }

    /// Resolves a plugin object into a [`Base`], recording problems on it.
    fn resolve_plugin(&mut self, f: PluginFields<'_>) -> Option<Base> {
        let key = self.results.track(f.kind, f.meta);
        if f.run_on {
            self.results
                .warn(&key, "run_on: Kong 3 and Konnect have no run_on; ignored");
        }
        if f.consumer_ref {
            self.results.warn(&key, "consumerRef: ignored, as KIC does; attach the plugin with the konghq.com/plugins annotation on the KongConsumer");
        }
        if f.plugin.trim().is_empty() {
            self.results
                .error(&key, Reason::InvalidSpec, "plugin: required");
            return None;
        }
        let (config, secret_fields) = match self.resolve_config(&f) {
            Ok(c) => c,
            Err(errors) => {
                for (reason, e) in errors {
                    self.results.error(&key, reason, e);
                }
                return None;
            }
        };
        let config = self.validate_config(f.plugin, config, &secret_fields, &key)?;
        let ordering = f
            .ordering
            .and_then(|o| serde_json::to_value(o).ok())
            .filter(|v| v.as_object().is_some_and(|m| !m.is_empty()));
        let source = Self::source_meta(f.kind, KONG_GROUP, "v1", f.meta, f.tags);
        Some(Base {
            plugin: f.plugin.to_owned(),
            config,
            secret_fields,
            enabled: !f.disabled,
            protocols: f.protocols.filter(|p| !p.is_empty()),
            ordering,
            instance_name: f.instance_name.filter(|n| !n.is_empty()).map(str::to_owned),
            source,
            origin: key,
            age: age_key(f.meta),
        })
    }

    /// Validates a configuration against the plugin's schema, when we have one. The desired
    /// payload keeps the user's configuration (not the defaults-filled one), so the hash does
    /// not move when a schema version adds a default. Messages that echo a value have the
    /// Secret-derived ones replaced by their marker (see [`Scrubber`]).
    fn validate_config(
        &mut self,
        plugin: &str,
        config: Value,
        secret_fields: &[SecretField],
        key: &ObjectRef,
    ) -> Option<Value> {
        match self.schemas.validate_plugin(plugin, &config) {
            Ok(_) | Err(ValidationOutcome::UnknownPlugin) => Some(config),
            Err(ValidationOutcome::Invalid(errors)) => {
                let scrubber = Scrubber::new(&config, secret_fields);
                for e in errors {
                    let message = if scrubber.is_empty() {
                        e.message
                    } else {
                        scrubber.scrub(&e.field, &e.message)
                    };
                    self.results.error(
                        key,
                        Reason::InvalidConfig,
                        format!("{}: {message}", e.field),
                    );
                }
                None
            }
        }
    }

    /// Resolves a `konghq.com/plugins` entry (or an ExtensionRef) of a referrer.
    fn resolve_ref(
        &mut self,
        referrer: &Referrer,
        pref: &PluginRef,
        field: &str,
    ) -> Option<PluginSource> {
        let own_ns = &referrer.namespace;
        match pref.namespace.as_deref() {
            Some(ns) if ns != own_ns => {
                let allowed = self.grant_allows(
                    (referrer.group, referrer.key.kind, own_ns),
                    ns,
                    (KONG_GROUP, "KongPlugin", &pref.name),
                );
                if !allowed {
                    self.results.error(
                        &referrer.key,
                        Reason::ReferenceNotPermitted,
                        format!(
                            "{field}: plugin \"{pref}\": no ReferenceGrant in namespace {ns} allows {} from namespace {own_ns} to refer to KongPlugin {}",
                            referrer.key.kind, pref.name
                        ),
                    );
                    return None;
                }
                let key = (ns.to_owned(), pref.name.clone());
                if self.ix.kong_plugins.contains_key(&key) {
                    Some(PluginSource::Namespaced(key.0, key.1))
                } else {
                    self.results.error(
                        &referrer.key,
                        Reason::ReferenceNotFound,
                        format!("{field}: KongPlugin {ns}/{} not found", pref.name),
                    );
                    None
                }
            }
            _ => {
                let key = (own_ns.clone(), pref.name.clone());
                if self.ix.kong_plugins.contains_key(&key) {
                    Some(PluginSource::Namespaced(key.0, key.1))
                } else if self.ix.cluster_plugins.contains_key(&pref.name) {
                    Some(PluginSource::Cluster(pref.name.clone()))
                } else {
                    self.results.error(
                        &referrer.key,
                        Reason::ReferenceNotFound,
                        format!(
                            "{field}: no KongPlugin {own_ns}/{0} and no KongClusterPlugin {0}",
                            pref.name
                        ),
                    );
                    None
                }
            }
        }
    }

    /// Builds every plugin instance.
    pub(crate) fn plugins(&mut self) {
        // 1. Resolve every plugin object we serve, referenced or not, so bad ones are reported.
        let mut bases: BTreeMap<PluginSource, Option<Base>> = BTreeMap::new();
        let kong_plugins: Vec<_> = self
            .ix
            .kong_plugins
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        for ((ns, name), p) in kong_plugins {
            if p.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(GLOBAL_LABEL))
                .is_some_and(|v| v == "true")
            {
                let key = ObjectRef::new("KongPlugin", &p.metadata);
                self.results.warn(&key, "metadata.labels[global]: KongPlugins are never global; use a KongClusterPlugin");
            }
            let base = self.resolve_plugin(PluginFields::from_kong_plugin(p));
            bases.insert(PluginSource::Namespaced(ns, name), base);
        }
        let cluster_plugins: Vec<_> = self
            .ix
            .cluster_plugins
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        for (name, p) in &cluster_plugins {
            let base = self.resolve_plugin(PluginFields::from_cluster_plugin(p));
            bases.insert(PluginSource::Cluster(name.clone()), base);
        }

        // 2. Relations: who refers to which plugin object.
        let mut relations: BTreeMap<PluginSource, Relations> = BTreeMap::new();
        let field = format!("metadata.annotations[{}]", ann::PLUGINS);
        let service_refs: Vec<(String, Vec<Referrer>)> = self
            .services
            .iter()
            .map(|(name, s)| {
                let referrers = s
                    .k8s_services
                    .iter()
                    .filter_map(|key| self.ix.services.get(key))
                    .map(|svc| Referrer {
                        key: ObjectRef::new("Service", &svc.metadata),
                        group: "",
                        namespace: ns_name(&svc.metadata).0,
                        annotations: svc.metadata.annotations.clone(),
                    })
                    .collect();
                (name.clone(), referrers)
            })
            .collect();
        for (service, referrers) in service_refs {
            for referrer in referrers {
                for pref in ann::plugin_refs(referrer.annotations.as_ref()) {
                    if let Some(src) = self.resolve_ref(&referrer, &pref, &field) {
                        relations
                            .entry(src)
                            .or_default()
                            .services
                            .insert(service.clone());
                    }
                }
            }
        }
        let route_refs: Vec<(String, Referrer, Vec<PluginRef>)> = self
            .routes
            .iter()
            .map(|(name, r)| (name.clone(), r.referrer.clone(), r.extra_plugins.clone()))
            .collect();
        for (route, referrer, extra) in route_refs {
            for pref in ann::plugin_refs(referrer.annotations.as_ref()) {
                if let Some(src) = self.resolve_ref(&referrer, &pref, &field) {
                    relations
                        .entry(src)
                        .or_default()
                        .routes
                        .insert(route.clone());
                }
            }
            for pref in extra {
                if let Some(src) =
                    self.resolve_ref(&referrer, &pref, "spec.rules[].filters[].extensionRef")
                {
                    relations
                        .entry(src)
                        .or_default()
                        .routes
                        .insert(route.clone());
                }
            }
        }
        let consumer_refs: Vec<(String, Referrer)> = self
            .consumers
            .iter()
            .map(|(n, (_, r))| (n.clone(), r.clone()))
            .collect();
        for (consumer, referrer) in consumer_refs {
            for pref in ann::plugin_refs(referrer.annotations.as_ref()) {
                if let Some(src) = self.resolve_ref(&referrer, &pref, &field) {
                    relations
                        .entry(src)
                        .or_default()
                        .consumers
                        .insert(consumer.clone());
                }
            }
        }
        let group_refs: Vec<(String, Referrer)> = self
            .groups
            .iter()
            .map(|(n, (_, r))| (n.clone(), r.clone()))
            .collect();
        for (group, referrer) in group_refs {
            for pref in ann::plugin_refs(referrer.annotations.as_ref()) {
                if let Some(src) = self.resolve_ref(&referrer, &pref, &field) {
                    relations
                        .entry(src)
                        .or_default()
                        .groups
                        .insert(group.clone());
                }
            }
        }

        // 3. Instances, by KIC's combination rule.
        let mut instances: Vec<Instance> = Vec::new();
        for (src, rels) in &relations {
            let Some(Some(base)) = bases.get(src) else {
                continue;
            };
            for parents in rels.combinations() {
                instances.push(Instance {
                    source: src.clone(),
                    hash: relation_hash(&parents),
                    entity: plugin_entity(base, &parents),
                    parents,
                });
            }
        }

        // 4. Two plugin objects putting one plugin type on one target: the older wins.
        let mut by_target: BTreeMap<(String, PluginParents), Vec<usize>> = BTreeMap::new();
        for (i, inst) in instances.iter().enumerate() {
            by_target
                .entry((inst.entity.name.clone(), inst.parents.clone()))
                .or_default()
                .push(i);
        }
        let mut dropped = BTreeSet::new();
        for ((plugin, parents), mut idx) in by_target {
            if idx.len() < 2 {
                continue;
            }
            idx.sort_by(|a, b| {
                let (ia, ib) = (&instances[*a], &instances[*b]);
                let age = |i: &Instance| {
                    bases
                        .get(&i.source)
                        .and_then(|b| b.as_ref().map(|b| b.age.clone()))
                };
                (age(ia), &ia.source).cmp(&(age(ib), &ib.source))
            });
            let winner = bases
                .get(&instances[idx[0]].source)
                .and_then(Option::as_ref)
                .map(|b| b.origin.clone());
            for loser in &idx[1..] {
                dropped.insert(*loser);
                let Some(Some(base)) = bases.get(&instances[*loser].source) else {
                    continue;
                };
                let winner = winner.as_ref().map(ToString::to_string).unwrap_or_default();
                self.results.error(
                    &base.origin,
                    Reason::Conflict,
                    format!(
                        "plugin: {plugin:?} on {}: {} conflicts with {winner}, which is older and wins; this instance is not created",
                        describe_target(&parents),
                        base.origin
                    ),
                );
            }
        }
        let mut instances: Vec<Instance> = instances
            .into_iter()
            .enumerate()
            .filter(|(i, _)| !dropped.contains(i))
            .map(|(_, inst)| inst)
            .collect();

        // 5. Instance names: `<instance_name>-<9 hex>`, the full hash where 9 collide.
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for inst in &instances {
            if let Some(n) = &inst.entity.instance_name {
                *counts
                    .entry(format!("{n}-{}", &inst.hash[..INSTANCE_SUFFIX_LEN]))
                    .or_default() += 1;
            }
        }
        for inst in &mut instances {
            if let Some(n) = inst.entity.instance_name.clone() {
                let short = format!("{n}-{}", &inst.hash[..INSTANCE_SUFFIX_LEN]);
                let collides = counts.get(&short).is_some_and(|c| *c > 1);
                inst.entity.instance_name = Some(if collides {
                    format!("{n}-{}", inst.hash)
                } else {
                    short
                });
            }
        }

        // 6. Globals: KongClusterPlugins labelled global; two of one type are both refused.
        let mut globals: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (name, p) in &cluster_plugins {
            if p.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(GLOBAL_LABEL))
                .is_some_and(|v| v == "true")
            {
                globals
                    .entry(p.plugin.clone())
                    .or_default()
                    .push(name.clone());
            }
        }
        for (plugin, names) in &globals {
            if names.len() > 1 {
                for name in names {
                    let others: Vec<&str> = names
                        .iter()
                        .filter(|n| *n != name)
                        .map(String::as_str)
                        .collect();
                    let key = ObjectRef {
                        kind: "KongClusterPlugin",
                        namespace: None,
                        name: name.clone(),
                    };
                    self.results.error(
                        &key,
                        Reason::Conflict,
                        format!(
                            "metadata.labels[global]: KongClusterPlugin {} is also a global {plugin:?} plugin; two global plugins of one type are both refused",
                            others.join(", ")
                        ),
                    );
                }
                continue;
            }
            let src = PluginSource::Cluster(names[0].clone());
            if let Some(Some(base)) = bases.get(&src) {
                // Global instances keep their instance name unsuffixed.
                let parents = PluginParents::default();
                instances.push(Instance {
                    source: src,
                    hash: String::new(),
                    entity: plugin_entity(base, &parents),
                    parents,
                });
            }
        }

        // 7. Plugin objects nothing refers to are pending, not errors.
        for (src, base) in &bases {
            let Some(base) = base else { continue };
            let is_global = matches!(src, PluginSource::Cluster(n) if globals.get(&base.plugin).is_some_and(|v| v.contains(n)));
            if !relations.contains_key(src) && !is_global {
                self.results.pending(
                    &base.origin,
                    Reason::NotReferenced,
                    "not referenced by any konghq.com/plugins annotation or ExtensionRef filter",
                );
            }
        }

        for inst in instances {
            let Some(Some(base)) = bases.get(&inst.source) else {
                continue;
            };
            self.plugins.push(BuiltPlugin {
                built: Built {
                    entity: inst.entity,
                    source: base.source.clone(),
                    origin: base.origin.clone(),
                },
                secret_fields: base.secret_fields.clone(),
            });
        }
    }
}

/// One plugin instance from its base and parents.
fn plugin_entity(base: &Base, parents: &PluginParents) -> Plugin {
    Plugin {
        id: Some(ids::plugin_id(&base.plugin, parents)),
        name: base.plugin.clone(),
        instance_name: base.instance_name.clone(),
        config: base.config.clone(),
        enabled: Some(base.enabled),
        protocols: base.protocols.clone(),
        service: parents
            .service
            .as_deref()
            .map(|n| ForeignKey::new(ids::service_id(n))),
        route: parents
            .route
            .as_deref()
            .map(|n| ForeignKey::new(ids::route_id(n))),
        consumer: parents
            .consumer
            .as_deref()
            .map(|n| ForeignKey::new(ids::consumer_id(n))),
        consumer_group: parents
            .consumer_group
            .as_deref()
            .map(|n| ForeignKey::new(ids::consumer_group_id(n))),
        ordering: base.ordering.clone(),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rels(services: &[&str], routes: &[&str], consumers: &[&str], groups: &[&str]) -> Relations {
        let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
        Relations {
            services: set(services),
            routes: set(routes),
            consumers: set(consumers),
            groups: set(groups),
        }
    }

    #[test]
    fn combinations_follow_kic() {
        assert_eq!(rels(&["s"], &["r"], &[], &[]).combinations().len(), 2);
        let c = rels(&["s"], &["r1", "r2"], &["c1", "c2"], &["g"]).combinations();
        assert_eq!(c.len(), 6);
        assert!(
            c.iter()
                .all(|p| p.consumer.is_some() && p.consumer_group.is_none())
        );
        assert!(c.iter().all(|p| p.service.is_some() != p.route.is_some()));
        let c = rels(&[], &[], &["c1", "c2"], &[]).combinations();
        assert_eq!(c.len(), 2);
        assert!(c.iter().all(|p| p.service.is_none() && p.route.is_none()));
        let c = rels(&[], &["r"], &[], &["g1", "g2"]).combinations();
        assert_eq!(c.len(), 2);
        assert!(
            c.iter()
                .all(|p| p.route.is_some() && p.consumer_group.is_some())
        );
    }

    #[test]
    fn patches_add_and_create_parents() {
        let mut doc = json!({"a": 1, "list": [1, 3]});
        assert!(add_at(&mut doc, "/b/c", json!("x")).is_ok());
        assert!(add_at(&mut doc, "/list/1", json!(2)).is_ok());
        assert!(add_at(&mut doc, "/list/-", json!(4)).is_ok());
        assert!(add_at(&mut doc, "/a~1b", json!(true)).is_ok());
        assert_eq!(
            doc,
            json!({"a": 1, "list": [1, 2, 3, 4], "b": {"c": "x"}, "a/b": true})
        );
        assert!(add_at(&mut doc, "/a/x", json!(1)).is_err());
        assert!(add_at(&mut doc, "/list/9", json!(1)).is_err());
        assert!(add_at(&mut doc, "nope", json!(1)).is_err());
        assert!(add_at(&mut doc, "", json!({"z": 1})).is_ok());
        assert_eq!(doc, json!({"z": 1}));
    }

    #[test]
    fn relation_hash_uses_present_parts() {
        let p = PluginParents {
            route: Some("r".into()),
            consumer: Some("c".into()),
            ..Default::default()
        };
        let expected = hex::encode(Sha256::digest(b"_route-r_consumer-c"));
        assert_eq!(relation_hash(&p), expected);
    }
}
