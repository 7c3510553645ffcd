//! Plugins: KIC's reading of `konghq.com/plugins`, exactly.
//!
//! - lookup: a bare name resolves to a KongPlugin in the referrer's namespace, then to a
//!   KongClusterPlugin of that name (one of another class is reported as such, not as
//!   missing); `ns:name` with another namespace needs a ReferenceGrant in `ns` from the
//!   referrer's group/kind/namespace to `configuration.konghq.com` `KongPlugin`. `ns:name` with
//!   the referrer's own namespace needs no grant (Gateway API grants only govern
//!   cross-namespace references) but, being qualified, names a KongPlugin only: it never falls
//!   back to a KongClusterPlugin, which has no namespace;
//! - configuration: `config`, or `configFrom` (a Secret key, JSON or YAML), with `configPatches`
//!   (RFC 6902 `add` of a Secret's JSON value, missing parents created) — errors name the
//!   Secret and key, never the value; which values came from Secrets is tracked alongside
//!   (see [`super::redact`]) and schema messages that echo one are scrubbed. The same code
//!   serves `validate` ([`resolve_plugin_config`], [`check_plugin_config`]), so the two
//!   commands never disagree;
//! - KIC's combination rule over all referrers of one plugin object, instance names with the
//!   relation-hash suffix (two plugin objects ending with one instance name: the older keeps
//!   it), global KongClusterPlugins (two of one type are both refused), and "older wins" when
//!   two plugin objects put the same plugin type on the same target.
//!
//! [`build`] reads the index and the services, routes, consumers and groups the earlier steps
//! returned, and returns the plugin instances with what is held back ([`Plugins`]); its
//! numbered sub-steps are methods of a private `Step` holding those borrows and the results
//! sink, [`super::hold`] the last of them.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::rc::Rc;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::KONG_GROUP;
use super::annotations::{self as ann, PluginRef};
use super::consumers::{Age, Consumers, age_key};
use super::hold::{Held, PluginInfo, PluginUse};
use super::ids::{self, PluginParents};
use super::redact::{Scrubber, SecretField, SecretSource, Shadow, redact_config};
use super::result::{ObjectRef, Reason, Results};
use super::services::ServiceMap;
use super::sorted::{SortedMap, SortedSet};
use super::tags::SourceMeta;
use super::{Built, BuiltPlugin, BuiltRoute, Index, Referrer, ns_name, source_meta};
use crate::crd::{KongClusterPlugin, KongPlugin, PluginOrdering, SecretRef};
use crate::konnect::models::{ForeignKey, Plugin};
use crate::schema::{PluginSchema, Registry, ValidationOutcome};

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
pub(crate) struct Relations {
    services: NameSet,
    routes: NameSet,
    consumers: NameSet,
    groups: NameSet,
}

/// Entity names, sorted and without duplicates. Most plugin objects have one referrer; a
/// `BTreeSet` would allocate a node of eleven slots for it.
pub(crate) type NameSet = SortedSet<String>;

/// Which kind of parent a referrer gives a plugin.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Slot {
    Service,
    Route,
    Consumer,
    Group,
}

impl Relations {
    fn slot(&mut self, slot: Slot) -> &mut NameSet {
        match slot {
            Slot::Service => &mut self.services,
            Slot::Route => &mut self.routes,
            Slot::Consumer => &mut self.consumers,
            Slot::Group => &mut self.groups,
        }
    }

    /// How many [`Relations::combinations`] there are, without listing them.
    pub(crate) fn combination_count(&self) -> usize {
        let scoped = self.services.len() + self.routes.len();
        let per = |n: usize| if scoped > 0 { n * scoped } else { n };
        if !self.consumers.is_empty() {
            per(self.consumers.len())
        } else if !self.groups.is_empty() {
            per(self.groups.len())
        } else {
            scoped
        }
    }

    /// KIC's `ForeignRelations.GetCombinations`.
    pub(crate) fn combinations(&self) -> Vec<PluginParents> {
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
/// A plugin object with its configuration resolved, ready to instantiate; the configuration is
/// borrowed from the object when it holds no Secret value.
struct Base<'a> {
    plugin: &'a str,
    config: Cow<'a, Value>,
    /// The values of `config` that came from Secrets.
    secret_fields: Vec<SecretField>,
    enabled: bool,
    protocols: Option<Vec<String>>,
    ordering: Option<Value>,
    instance_name: Option<String>,
    source: Rc<SourceMeta>,
    origin: ObjectRef,
    age: Age,
}

/// One `configPatches` entry, its Secret reference made explicit.
struct Patch {
    /// JSON Pointer into the configuration.
    path: String,
    secret: SecretSource,
}

/// The fields KongPlugin and KongClusterPlugin share, with Secret references made explicit.
struct PluginFields<'a> {
    meta: &'a ObjectMeta,
    kind: &'static str,
    plugin: &'a str,
    config: Option<&'a Value>,
    config_from: Option<SecretSource>,
    patches: Vec<Patch>,
    disabled: bool,
    instance_name: Option<&'a str>,
    ordering: Option<&'a PluginOrdering>,
    protocols: Option<Vec<String>>,
    run_on: bool,
    consumer_ref: bool,
    tags: &'a [String],
}

/// Builds [`PluginFields`] from either plugin kind: their fields have the same names and only
/// their Secret references differ, which [`SecretRef`] resolves.
macro_rules! plugin_fields {
    ($p:expr, $kind:literal) => {{
        let p = $p;
        let (ns, _) = ns_name(&p.metadata);
        let source = |r: &dyn SecretRef| {
            let (namespace, name, key) = r.locate(&ns);
            secret_source(namespace, name, key)
        };
        PluginFields {
            meta: &p.metadata,
            kind: $kind,
            plugin: &p.plugin,
            config: p.config.as_ref(),
            config_from: p.config_from.as_ref().map(|c| source(&c.secret_key_ref)),
            patches: p
                .config_patches
                .iter()
                .flatten()
                .map(|c| Patch {
                    path: c.path.clone(),
                    secret: source(&c.value_from.secret_key_ref),
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
    }};
}

impl<'a> PluginFields<'a> {
    fn from_kong_plugin(p: &'a KongPlugin) -> Self {
        plugin_fields!(p, "KongPlugin")
    }

    fn from_cluster_plugin(p: &'a KongClusterPlugin) -> Self {
        plugin_fields!(p, "KongClusterPlugin")
    }
}

/// A KongPlugin or a KongClusterPlugin, for [`resolve_plugin_config`].
#[derive(Clone, Copy, Debug)]
pub enum PluginObject<'a> {
    Kong(&'a KongPlugin),
    Cluster(&'a KongClusterPlugin),
}

impl<'a> PluginObject<'a> {
    fn fields(self) -> PluginFields<'a> {
        match self {
            Self::Kong(p) => PluginFields::from_kong_plugin(p),
            Self::Cluster(p) => PluginFields::from_cluster_plugin(p),
        }
    }
}

impl PluginFields<'_> {
    /// `(namespace, name)` of every Secret the plugin's configuration reads.
    fn secrets(&self) -> impl Iterator<Item = (String, String)> + '_ {
        self.config_from
            .iter()
            .chain(self.patches.iter().map(|p| &p.secret))
            .map(|s| (s.namespace.clone(), s.name.clone()))
    }
}

/// `(namespace, name)` of every Secret a KongPlugin or KongClusterPlugin of the snapshot reads
/// (`configFrom`, `configPatches`): the only Secrets translation needs. The controller keeps
/// the data of these alone.
pub fn referenced_secrets<'a>(
    kong_plugins: impl IntoIterator<Item = &'a KongPlugin>,
    cluster_plugins: impl IntoIterator<Item = &'a KongClusterPlugin>,
) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for p in kong_plugins {
        out.extend(PluginFields::from_kong_plugin(p).secrets());
    }
    for p in cluster_plugins {
        out.extend(PluginFields::from_cluster_plugin(p).secrets());
    }
    out
}

/// A plugin's configuration as translation builds it, with the values of it that came from
/// Secrets.
///
/// A configuration written in the object itself is borrowed from it, not copied: translation
/// keeps one per plugin object until the instances are built (10k in `render_memory`).
#[derive(Clone, PartialEq)]
pub struct ResolvedConfig<'c> {
    pub config: Cow<'c, Value>,
    pub secret_fields: Vec<SecretField>,
}

/// Debug shows the configuration with its Secret-derived values redacted.
impl std::fmt::Debug for ResolvedConfig<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResolvedConfig")
            .field("config", &redact_config(&self.config, &self.secret_fields))
            .field("secret_fields", &self.secret_fields)
            .finish()
    }
}

/// Why a plugin's configuration cannot be built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigProblem {
    pub reason: Reason,
    /// Starts with the field (`configFrom.secretKeyRef: ...`); never a Secret's value.
    pub message: String,
    /// `(namespace, name)` when the problem is a Secret that does not exist (the offline
    /// `validate` reports that as a warning: the Secret may well be in the cluster).
    pub missing_secret: Option<(String, String)>,
}

impl ConfigProblem {
    fn new(reason: Reason, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
            missing_secret: None,
        }
    }

    /// The same problem with `field: ` in front of the message.
    fn in_field(mut self, field: &str) -> Self {
        self.message = format!("{field}: {}", self.message);
        self
    }
}

/// `Secret <ns>/<name> key "<key>"`, as messages name a Secret key (the key quoted, since it
/// may hold any character).
fn quoted(src: &SecretSource) -> String {
    format!("Secret {}/{} key {:?}", src.namespace, src.name, src.key)
}

/// Reads one Secret key as text; the error names the Secret and key, never the value.
fn secret_text<'s>(
    secrets: &dyn Fn(&str, &str) -> Option<&'s Secret>,
    src: &SecretSource,
) -> Result<String, ConfigProblem> {
    let SecretSource {
        namespace,
        name,
        key,
    } = src;
    let Some(secret) = secrets(namespace, name) else {
        return Err(ConfigProblem {
            reason: Reason::ReferenceNotFound,
            message: format!("Secret {namespace}/{name} not found"),
            missing_secret: Some((namespace.clone(), name.clone())),
        });
    };
    if let Some(text) = secret.string_data.as_ref().and_then(|d| d.get(key)) {
        return Ok(text.clone());
    }
    match secret.data.as_ref().and_then(|d| d.get(key)) {
        Some(bytes) => String::from_utf8(bytes.0.clone()).map_err(|_| {
            ConfigProblem::new(
                Reason::InvalidConfig,
                format!("Secret {namespace}/{name} key {key:?} is not UTF-8 text"),
            )
        }),
        None => Err(ConfigProblem::new(
            Reason::ReferenceNotFound,
            format!("Secret {namespace}/{name} has no key {key:?}"),
        )),
    }
}

/// Builds the configuration of a KongPlugin or KongClusterPlugin exactly as translation does
/// (`config` or `configFrom`, then `configPatches`), looking Secrets up with `secrets`
/// (namespace, name). Every problem is returned, each message starting with its field.
pub fn resolve_plugin_config<'c, 's>(
    plugin: PluginObject<'c>,
    secrets: &dyn Fn(&str, &str) -> Option<&'s Secret>,
) -> Result<ResolvedConfig<'c>, Vec<ConfigProblem>> {
    resolve_fields(&plugin.fields(), secrets)
}

fn resolve_fields<'c, 's>(
    f: &PluginFields<'c>,
    secrets: &dyn Fn(&str, &str) -> Option<&'s Secret>,
) -> Result<ResolvedConfig<'c>, Vec<ConfigProblem>> {
    if f.config.is_some() && f.config_from.is_some() {
        return Err(vec![ConfigProblem::new(
            Reason::InvalidConfig,
            "config: Using both config and configFrom fields is not allowed.",
        )]);
    }
    if f.config_from.is_some() && !f.patches.is_empty() {
        return Err(vec![ConfigProblem::new(
            Reason::InvalidConfig,
            "configFrom: Using both configFrom and configPatches fields is not allowed.",
        )]);
    }
    let (config, shadow) = base_config(f, secrets)?;
    let (config, shadow) = patched(f, secrets, config, shadow)?;
    if !config.is_object() {
        return Err(vec![ConfigProblem::new(
            Reason::InvalidConfig,
            "configPatches: the patched configuration is not an object",
        )]);
    }
    Ok(ResolvedConfig {
        config,
        secret_fields: shadow.fields(),
    })
}

/// The configuration before `configPatches` (`configFrom`'s Secret, every value of it marked as
/// the Secret's; `config`; or `{}`), with its shadow (see [`super::redact`]).
fn base_config<'c, 's>(
    f: &PluginFields<'c>,
    secrets: &dyn Fn(&str, &str) -> Option<&'s Secret>,
) -> Result<(Cow<'c, Value>, Shadow), Vec<ConfigProblem>> {
    let mut shadow = Shadow::default();
    let config = match (&f.config_from, f.config) {
        (Some(src), _) => {
            let field = "configFrom.secretKeyRef";
            let text = secret_text(secrets, src).map_err(|p| vec![p.in_field(field)])?;
            let parsed = serde_json::from_str::<Value>(&text)
                .ok()
                .or_else(|| serde_norway::from_str::<Value>(&text).ok())
                .ok_or_else(|| {
                    vec![ConfigProblem::new(
                        Reason::InvalidConfig,
                        format!("{field}: {} holds neither JSON nor YAML", quoted(src)),
                    )]
                })?;
            if !parsed.is_object() {
                return Err(vec![ConfigProblem::new(
                    Reason::InvalidConfig,
                    format!("{field}: {} does not hold an object", quoted(src)),
                )]);
            }
            // configFrom: every value of the configuration is the Secret's.
            let marked = shadow.secret_value(&parsed, src.clone());
            shadow.set(marked);
            Cow::Owned(parsed)
        }
        // The shadow of a user-written configuration holds no marker: it only matters as the
        // base that `configPatches` add Secret values to, so it is built only then.
        (None, Some(config)) if config.is_object() => {
            if !f.patches.is_empty() {
                shadow = Shadow::from_user_config(config);
            }
            Cow::Borrowed(config)
        }
        (None, Some(Value::Null)) | (None, None) => {
            let empty = Value::Object(serde_json::Map::new());
            if !f.patches.is_empty() {
                shadow = Shadow::from_user_config(&empty);
            }
            Cow::Owned(empty)
        }
        (None, Some(_)) => {
            return Err(vec![ConfigProblem::new(
                Reason::InvalidConfig,
                "config: must be an object",
            )]);
        }
    };
    Ok((config, shadow))
}

/// `config` and its shadow with the `configPatches` applied: each an RFC 6902 `add` of a
/// Secret's JSON value, marked on the shadow as that Secret's.
fn patched<'c, 's>(
    f: &PluginFields<'_>,
    secrets: &dyn Fn(&str, &str) -> Option<&'s Secret>,
    config: Cow<'c, Value>,
    mut shadow: Shadow,
) -> Result<(Cow<'c, Value>, Shadow), Vec<ConfigProblem>> {
    if f.patches.is_empty() {
        return Ok((config, shadow));
    }
    let mut config = config.into_owned();
    let mut errors = Vec::new();
    for (i, patch) in f.patches.iter().enumerate() {
        let field = format!("configPatches[{i}]");
        let src = &patch.secret;
        let text = match secret_text(secrets, src) {
            Ok(t) => t,
            Err(p) => {
                errors.push(p.in_field(&format!("{field}.valueFrom.secretKeyRef")));
                continue;
            }
        };
        let Ok(value) = serde_json::from_str::<Value>(&text) else {
            errors.push(ConfigProblem::new(
                Reason::InvalidConfig,
                format!("{field}.valueFrom.secretKeyRef: {} is not JSON (a string value needs its quotes)", quoted(src)),
            ));
            continue;
        };
        // The same `add` on the shadow, with the value's scalars marked as this Secret's.
        let marked = shadow.secret_value(&value, src.clone());
        if let Err(e) = add_at(&mut config, &patch.path, value) {
            errors.push(ConfigProblem::new(
                Reason::InvalidConfig,
                format!("{field}.path: {e}"),
            ));
        } else if add_at(shadow.doc_mut(), &patch.path, marked).is_err() {
            // Unreachable while the shadow mirrors the configuration's structure; if it
            // ever did not, refusing is the only way to be sure nothing leaks.
            errors.push(ConfigProblem::new(
                Reason::InvalidConfig,
                format!(
                    "{field}.path: cannot track the Secret value at {:?}",
                    patch.path
                ),
            ));
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok((Cow::Owned(config), shadow))
}

/// Drops, from `resolved.secret_fields`, the objects read from a Secret whose keys are field
/// names of the plugin's schema (a `record`: `minute`, `client_secret`...): those names are
/// public, only the values are the Secret's. The keys of a `map` (header names, say), of free
/// `json`, or of a plugin without a schema stay Secret-derived and are hidden with the object.
pub(crate) fn keep_secret_keys_only(
    schemas: &Registry,
    plugin: &str,
    resolved: &mut ResolvedConfig,
) {
    // Most plugins take no object from a Secret: skip rendering the schema (it cost a quarter
    // of a 10k-object translation when done for every plugin).
    let config = &resolved.config;
    if !resolved
        .secret_fields
        .iter()
        .any(|f| config.pointer(&f.pointer).is_some_and(Value::is_object))
    {
        return;
    }
    let Some(schema) = schemas.get(plugin) else {
        return;
    };
    let raw = schema.to_konnect_json();
    let config_def = raw
        .get("fields")
        .and_then(Value::as_array)
        .and_then(|fields| fields.iter().find_map(|f| f.get("config")));
    let config = &resolved.config;
    resolved.secret_fields.retain(|f| {
        if !config.pointer(&f.pointer).is_some_and(Value::is_object) {
            return true;
        }
        !config_def.is_some_and(|def| is_record_at(def, &f.pointer))
    });
}

/// True when the field definition reached by `pointer` (from a Kong schema field `def`) is a
/// record. Kong's schema format: `{"type": "record", "fields": [{"name": def}, ...]}`, arrays and
/// sets have `elements`, maps `values`.
fn is_record_at(def: &Value, pointer: &str) -> bool {
    let mut cur = def;
    for token in pointer.split('/').skip(1) {
        let token = token.replace("~1", "/").replace("~0", "~");
        let next = match cur.get("type").and_then(Value::as_str) {
            Some("record") => cur
                .get("fields")
                .and_then(Value::as_array)
                .and_then(|fields| fields.iter().find_map(|f| f.get(&token))),
            Some("array" | "set") => cur.get("elements"),
            Some("map") => cur.get("values"),
            _ => None,
        };
        match next {
            Some(n) => cur = n,
            None => return false,
        }
    }
    cur.get("type").and_then(Value::as_str) == Some("record")
}

/// Why a configuration fails its plugin's schema check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigCheck {
    /// `schemas` has no schema for the plugin: Konnect validates it on write.
    UnknownPlugin,
    /// `config.<path>: <message>` per problem, Secret-derived values replaced by their marker.
    Invalid(Vec<String>),
}

/// Checks a resolved configuration against `plugin`'s schema in `schemas`, as translation
/// does. Messages that echo a value have the Secret-derived ones replaced by their marker
/// (see [`Scrubber`]).
pub fn check_plugin_config(
    schemas: &Registry,
    plugin: &str,
    resolved: &ResolvedConfig,
) -> Result<(), ConfigCheck> {
    let named;
    let resolved = if resolved.secret_fields.iter().any(|f| {
        resolved
            .config
            .pointer(&f.pointer)
            .is_some_and(Value::is_object)
    }) {
        let mut copy = resolved.clone();
        keep_secret_keys_only(schemas, plugin, &mut copy);
        named = copy;
        &named
    } else {
        resolved
    };
    match schemas.validate_plugin(plugin, &resolved.config) {
        Ok(_) => Ok(()),
        Err(ValidationOutcome::UnknownPlugin) => Err(ConfigCheck::UnknownPlugin),
        Err(ValidationOutcome::Invalid(errors)) => {
            let scrubber = Scrubber::new(&resolved.config, &resolved.secret_fields);
            Err(ConfigCheck::Invalid(
                errors
                    .into_iter()
                    .map(|e| {
                        if scrubber.is_empty() {
                            format!("{}: {}", e.field, e.message)
                        } else {
                            let message = scrubber.scrub(&e.field, &e.message);
                            format!("{}: {message}", scrubber.scrub_field(&e.field))
                        }
                    })
                    .collect(),
            ))
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

/// A plugin instance under construction; its entity's configuration is set last (see
/// [`plugin_entity`]).
pub(crate) struct Instance {
    pub source: PluginSource,
    pub parents: PluginParents,
    hash: String,
    pub entity: Plugin,
}
/// Schema verdicts by (plugin name, configuration JSON), for [`Step::resolve_plugin`].
type CheckCache = HashMap<(String, Vec<u8>), Result<(), ConfigCheck>>;

/// Plugin objects per thread below which [`prechecked`] does not start another thread.
const CHECKS_PER_THREAD: usize = 64;

/// The schema verdicts on every distinct configuration without Secret values among the
/// plugin objects we serve, computed up front over the machine's cores ([`super::par`]): the
/// checks are the costliest part of resolving plugins, and independent. Each configuration is
/// built by [`resolve_fields`] with no Secret to read, so an object that reads one fails here
/// and is left to [`Step::resolve_plugin`]; the keys are those [`Step::check_config`] looks
/// up, so resolving then finds every verdict made here.
fn prechecked(ix: &Index<'_>, schemas: &Registry) -> CheckCache {
    let fields = ix
        .kong_plugins
        .values()
        .map(|p| PluginFields::from_kong_plugin(p))
        .chain(
            ix.cluster_plugins
                .values()
                .map(|p| PluginFields::from_cluster_plugin(p)),
        );
    let no_secrets = |_: &str, _: &str| -> Option<&Secret> { None };
    let mut distinct: HashMap<(String, Vec<u8>), ResolvedConfig<'_>> = HashMap::new();
    for f in fields {
        if f.plugin.trim().is_empty() {
            continue;
        }
        let Ok(resolved) = resolve_fields(&f, &no_secrets) else {
            continue;
        };
        let key = (
            f.plugin.to_owned(),
            serde_json::to_vec(&resolved.config).unwrap_or_default(),
        );
        distinct.entry(key).or_insert(resolved);
    }
    let distinct: Vec<((String, Vec<u8>), ResolvedConfig<'_>)> = distinct.into_iter().collect();
    let verdicts = super::par::map(&distinct, CHECKS_PER_THREAD, |((plugin, _), resolved)| {
        check_plugin_config(schemas, plugin, resolved)
    });
    distinct
        .into_iter()
        .map(|(key, _)| key)
        .zip(verdicts)
        .collect()
}

/// The field named when an HTTPRoute `ExtensionRef` filter names a plugin.
const EXTENSION_REF_FIELD: &str = "spec.rules[].filters[].extensionRef";

/// One referrer's plugin references, and the Konnect entity they attach plugins to.
struct Referral<'a> {
    slot: Slot,
    /// The Konnect entity's name.
    entity: String,
    referrer: Referrer<'a>,
    /// Each reference with the field it was read from.
    refs: Vec<(PluginRef, String)>,
}

/// The plugins step's output.
pub(crate) struct Plugins {
    /// The plugin instances, the held ones left out.
    pub plugins: Vec<BuiltPlugin>,
    /// What is held back (see [`super::hold`]): the services, routes, consumers and groups
    /// to leave out of the desired state, and the held instances' ids.
    pub held: Held,
}

/// Every plugin instance of the plugin objects the services, routes, consumers and consumer
/// groups refer to, and the global ones (the numbered steps below, each a function of its
/// own), then what fails closed is held back. Reads `results` back: a plugin object with an
/// error there is Invalid (see [`Step::hold`]).
pub(crate) fn build<'a>(
    ix: &Index<'a>,
    schemas: &Registry,
    services: &ServiceMap,
    routes: &BTreeMap<String, BuiltRoute<'a>>,
    consumers: &Consumers<'a>,
    results: &mut Results,
) -> Plugins {
    let mut step = Step {
        ix,
        schemas,
        services,
        routes,
        consumers,
        results,
    };
    step.plugins()
}

/// The step in progress: what it reads, and where its results go.
pub(super) struct Step<'s, 'a> {
    pub ix: &'s Index<'a>,
    pub schemas: &'s Registry,
    pub services: &'s ServiceMap,
    pub routes: &'s BTreeMap<String, BuiltRoute<'a>>,
    pub consumers: &'s Consumers<'a>,
    pub results: &'s mut Results,
}

impl<'a> Step<'_, 'a> {
    /// Resolves a plugin object into a [`Base`], recording problems on it. `checked` holds the
    /// schema verdicts of this translation on configurations without Secret values, by plugin
    /// and configuration JSON: many plugin objects carry the same configuration.
    fn resolve_plugin(
        &mut self,
        f: PluginFields<'a>,
        checked: &mut CheckCache,
    ) -> Option<Base<'a>> {
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
        let secrets = &self.ix.secrets;
        let lookup = |ns: &str, name: &str| secrets.get(&(ns, name)).copied();
        let mut resolved = match resolve_fields(&f, &lookup) {
            Ok(r) => r,
            Err(problems) => {
                for p in problems {
                    let message = self.problem_message(p.message, p.missing_secret);
                    self.results.error(&key, p.reason, message);
                }
                return None;
            }
        };
        keep_secret_keys_only(self.schemas, f.plugin, &mut resolved);
        match self.check_config(f.plugin, &resolved, checked) {
            Ok(()) => {}
            Err(ConfigCheck::UnknownPlugin) => self.results.warn(
                &key,
                format!(
                    "plugin: no embedded schema for plugin {:?}; Konnect will validate its configuration",
                    f.plugin
                ),
            ),
            Err(ConfigCheck::Invalid(errors)) => {
                for e in errors {
                    self.results.error(&key, Reason::InvalidConfig, e);
                }
                return None;
            }
        }
        Some(base(f, resolved, key))
    }

    /// The message of a configuration problem: a Secret that is present but undecodable
    /// (reported on the Secret itself) is said to be so, as "not found" would send the user
    /// looking for the wrong problem.
    fn problem_message(&self, message: String, missing_secret: Option<(String, String)>) -> String {
        match missing_secret {
            Some((ns, name))
                if self.ix.malformed.contains(&ObjectRef {
                    kind: "Secret",
                    namespace: Some(ns.clone()),
                    name: name.clone(),
                }) =>
            {
                let field = message.split(": ").next().unwrap_or_default();
                format!("{field}: Secret {ns}/{name} cannot be decoded (see its own error)")
            }
            _ => message,
        }
    }

    /// The schema verdict on a resolved configuration. The desired payload keeps the user's
    /// configuration (not the defaults-filled one), so the hash does not move when a schema
    /// version adds a default. With Secret values the messages are scrubbed per object: those
    /// are not shared through `checked`.
    fn check_config(
        &self,
        plugin: &str,
        resolved: &ResolvedConfig,
        checked: &mut CheckCache,
    ) -> Result<(), ConfigCheck> {
        if resolved.secret_fields.is_empty() {
            let key = (
                plugin.to_owned(),
                serde_json::to_vec(&resolved.config).unwrap_or_default(),
            );
            checked
                .entry(key)
                .or_insert_with(|| check_plugin_config(self.schemas, plugin, resolved))
                .clone()
        } else {
            check_plugin_config(self.schemas, plugin, resolved)
        }
    }

    /// Resolves a `konghq.com/plugins` entry (or an ExtensionRef) of a referrer; a plugin
    /// that is missing or not permitted comes back as the reason and a message starting with
    /// the field (the caller holds the referrer back, see [`super::hold`]).
    fn resolve_ref(
        &self,
        referrer: &Referrer,
        pref: &PluginRef,
        field: &str,
    ) -> Result<PluginSource, (Reason, String)> {
        let ns = pref
            .namespace
            .clone()
            .unwrap_or_else(|| referrer.namespace.clone());
        self.find_ref(referrer, pref, field, &ns)
            .map_err(|missing| match self.unreadable_ref(pref, &ns) {
                // Say why it is missing: it exists but could not be read, so it is Invalid.
                Some(r) => (
                    Reason::PluginInvalid,
                    format!("{field}: {r} cannot be read (see its own result)"),
                ),
                None => missing,
            })
    }

    /// [`Self::resolve_ref`]'s lookup, `ns` the KongPlugin's namespace (the referrer's unless
    /// the reference names one).
    fn find_ref(
        &self,
        referrer: &Referrer,
        pref: &PluginRef,
        field: &str,
        ns: &str,
    ) -> Result<PluginSource, (Reason, String)> {
        let own_ns = &referrer.namespace;
        let kong_plugin = self
            .ix
            .kong_plugins
            .contains_key(&(ns, pref.name.as_str()))
            .then(|| PluginSource::Namespaced(ns.to_owned(), pref.name.clone()));
        match pref.namespace.as_deref() {
            Some(ns) if ns != own_ns => self.find_granted(referrer, pref, field, ns, kong_plugin),
            // `own:name`: no grant is needed (ReferenceGrants only govern cross-namespace
            // references), but a namespace-qualified name names a KongPlugin: it never falls
            // back to a KongClusterPlugin, which has no namespace.
            Some(ns) => kong_plugin.ok_or_else(|| {
                (
                    Reason::ReferenceNotFound,
                    format!(
                        "{field}: KongPlugin {ns}/{} not found (a namespace-qualified name never refers to a KongClusterPlugin)",
                        pref.name
                    ),
                )
            }),
            None => self.find_bare(pref, field, own_ns, kong_plugin),
        }
    }

    /// [`Self::find_ref`] of `ns:name` with `ns` another namespace than the referrer's: the
    /// KongPlugin `kong_plugin` (if it exists), when a ReferenceGrant in `ns` allows it.
    fn find_granted(
        &self,
        referrer: &Referrer,
        pref: &PluginRef,
        field: &str,
        ns: &str,
        kong_plugin: Option<PluginSource>,
    ) -> Result<PluginSource, (Reason, String)> {
        let own_ns = &referrer.namespace;
        let allowed = self.ix.grant_allows(
            (referrer.group, referrer.key.kind, own_ns),
            ns,
            (KONG_GROUP, "KongPlugin", &pref.name),
        );
        if !allowed {
            Err((
                Reason::ReferenceNotPermitted,
                format!(
                    "{field}: plugin \"{pref}\": no ReferenceGrant in namespace {ns} allows {} from namespace {own_ns} to refer to KongPlugin {}",
                    referrer.key.kind, pref.name
                ),
            ))
        } else {
            kong_plugin.ok_or_else(|| {
                (
                    Reason::ReferenceNotFound,
                    format!("{field}: KongPlugin {ns}/{} not found", pref.name),
                )
            })
        }
    }

    /// [`Self::find_ref`] of a bare name: the KongPlugin `kong_plugin` of the referrer's
    /// namespace `own_ns` (if it exists), else the KongClusterPlugin of that name.
    fn find_bare(
        &self,
        pref: &PluginRef,
        field: &str,
        own_ns: &str,
        kong_plugin: Option<PluginSource>,
    ) -> Result<PluginSource, (Reason, String)> {
        if let Some(src) = kong_plugin {
            return Ok(src);
        }
        if self.ix.cluster_plugins.contains_key(pref.name.as_str()) {
            return Ok(PluginSource::Cluster(pref.name.clone()));
        }
        let message = if self
            .ix
            .ignored_cluster_plugins
            .contains_key(pref.name.as_str())
        {
            format!(
                "{field}: no KongPlugin {own_ns}/{0}, and KongClusterPlugin {0} exists but is not of class {1:?} ({2})",
                pref.name,
                self.ix.ingress_class,
                ann::INGRESS_CLASS
            )
        } else {
            format!(
                "{field}: no KongPlugin {own_ns}/{0} and no KongClusterPlugin {0}",
                pref.name
            )
        };
        Err((Reason::ReferenceNotFound, message))
    }

    /// The plugin object a reference names that exists but could not be read (the
    /// KongPlugin, or for a bare name the KongClusterPlugin too), if any.
    fn unreadable_ref(&self, pref: &PluginRef, ns: &str) -> Option<ObjectRef> {
        [
            ObjectRef {
                kind: "KongPlugin",
                namespace: Some(ns.to_owned()),
                name: pref.name.clone(),
            },
            ObjectRef {
                kind: "KongClusterPlugin",
                namespace: None,
                name: pref.name.clone(),
            },
        ]
        .into_iter()
        .filter(|r| r.kind == "KongPlugin" || pref.namespace.is_none())
        .find(|r| self.ix.malformed.contains(r))
    }

    /// Every referrer with its plugin references: core Services (through the Konnect services
    /// they back), routes (annotations of their Ingress/HTTPRoute, plus ExtensionRef filters),
    /// consumers and consumer groups.
    fn referrals(&self) -> Vec<Referral<'a>> {
        let field = format!("metadata.annotations[{}]", ann::PLUGINS);
        let annotated = |r: &Referrer| -> Vec<(PluginRef, String)> {
            ann::plugin_refs(r.annotations)
                .into_iter()
                .map(|p| (p, field.clone()))
                .collect()
        };
        let mut out = Vec::new();
        for (name, s) in self.services {
            for svc in s
                .k8s_services
                .iter()
                .filter_map(|key| self.ix.services.get(&key))
            {
                let referrer = Referrer {
                    key: ObjectRef::new("Service", &svc.metadata),
                    group: "",
                    namespace: ns_name(&svc.metadata).0,
                    annotations: svc.metadata.annotations.as_ref(),
                };
                out.push(Referral {
                    slot: Slot::Service,
                    entity: name.clone(),
                    refs: annotated(&referrer),
                    referrer,
                });
            }
        }
        for (name, r) in self.routes {
            let mut refs = annotated(&r.referrer);
            refs.extend(
                r.extra_plugins
                    .iter()
                    .map(|p| (p.clone(), EXTENSION_REF_FIELD.to_owned())),
            );
            out.push(Referral {
                slot: Slot::Route,
                entity: name.clone(),
                referrer: r.referrer.clone(),
                refs,
            });
        }
        for (name, (_, referrer)) in &self.consumers.consumers {
            out.push(Referral {
                slot: Slot::Consumer,
                entity: name.clone(),
                refs: annotated(referrer),
                referrer: referrer.clone(),
            });
        }
        for (name, (_, referrer)) in &self.consumers.groups {
            out.push(Referral {
                slot: Slot::Group,
                entity: name.clone(),
                refs: annotated(referrer),
                referrer: referrer.clone(),
            });
        }
        out
    }

    /// Builds every plugin instance: the numbered steps below, each a function of its own.
    fn plugins(&mut self) -> Plugins {
        let cluster_plugins: Vec<(&'a str, &'a KongClusterPlugin)> = self
            .ix
            .cluster_plugins
            .iter()
            .map(|(k, v)| (*k, *v))
            .collect();
        let (mut bases, infos) = self.resolve_plugin_objects(&cluster_plugins);
        let References {
            relations,
            uses,
            entities,
        } = self.references();
        for src in self.misplaced(&relations, &bases, &infos) {
            bases.insert(src, None);
        }
        let instances = instantiate(&relations, &bases);
        let instances = self.drop_target_conflicts(instances, &bases);
        let mut instances = name_instances(instances);
        let globals = global_plugins(&cluster_plugins);
        let global = self.global_instances(&globals, &bases);
        instances.reserve_exact(global.len());
        instances.extend(global);
        let instances = self.drop_name_conflicts(instances, &bases);
        self.report_unreferenced(&bases, &relations, &globals);
        // 9. Fail closed: hold back the referrers of missing or Invalid plugins, and all that
        // derives from them.
        let (instances, held) = self.hold(&uses, &entities, &infos, &relations, instances);
        // Freed before the instances get their configurations and final form below.
        drop((uses, entities, infos, relations, globals));
        // Each instance becomes its final form in place (an instance is larger than a built
        // plugin, so the vector's buffer is reused), and only now gets its own copy of its
        // configuration: until here it was read from the plugin object's base.
        let plugins = instances
            .into_iter()
            .filter_map(|inst| {
                let Some(Some(base)) = bases.get(&inst.source) else {
                    return None;
                };
                let mut entity = inst.entity;
                entity.config = base.config.as_ref().clone();
                Some(BuiltPlugin {
                    built: Built {
                        entity,
                        source: base.source.clone(),
                        origin: base.origin.clone(),
                    },
                    secret_fields: base.secret_fields.clone(),
                })
            })
            .collect();
        Plugins { plugins, held }
    }

    /// Step 1: Resolves every plugin object we serve, referenced or not, so bad ones are reported;
    /// with every plugin object's result key and plugin type, valid or not (for holding).
    fn resolve_plugin_objects(
        &mut self,
        cluster_plugins: &[(&'a str, &'a KongClusterPlugin)],
    ) -> (Bases<'a>, Infos) {
        let objects = self.ix.kong_plugins.len() + cluster_plugins.len();
        let mut bases = Bases::with_capacity(objects);
        let mut infos = Infos::with_capacity(objects);
        let mut checked = prechecked(self.ix, self.schemas);
        let kong_plugins: Vec<_> = self.ix.kong_plugins.iter().map(|(k, v)| (*k, *v)).collect();
        for ((ns, name), p) in kong_plugins {
            if is_global(&p.metadata) {
                let key = ObjectRef::new("KongPlugin", &p.metadata);
                self.results.warn(&key, "metadata.labels[global]: KongPlugins are never global; use a KongClusterPlugin");
            }
            let base = self.resolve_plugin(PluginFields::from_kong_plugin(p), &mut checked);
            let src = PluginSource::Namespaced(ns.to_owned(), name.to_owned());
            infos.insert(
                src.clone(),
                PluginInfo {
                    key: ObjectRef::new("KongPlugin", &p.metadata),
                    plugin: p.plugin.clone(),
                    global: false,
                },
            );
            bases.insert(src, base);
        }
        for (name, p) in cluster_plugins {
            let base = self.resolve_plugin(PluginFields::from_cluster_plugin(p), &mut checked);
            let src = PluginSource::Cluster((*name).to_owned());
            infos.insert(
                src.clone(),
                PluginInfo {
                    key: ObjectRef::new("KongClusterPlugin", &p.metadata),
                    plugin: p.plugin.clone(),
                    global: is_global(&p.metadata),
                },
            );
            bases.insert(src, base);
        }
        (bases, infos)
    }

    /// Step 2: Relations: who refers to which plugin object. Every reference, to a plugin valid or
    /// not, is kept for holding (step 9); a missing one makes no relation.
    fn references(&self) -> References {
        let referrals = self.referrals();
        // Sized exactly: these lists live through this step's peak of memory.
        let mut out = References {
            relations: BTreeMap::new(),
            uses: Vec::with_capacity(referrals.iter().map(|r| r.refs.len()).sum()),
            entities: Vec::with_capacity(referrals.len()),
        };
        for referral in referrals {
            for (pref, field) in &referral.refs {
                let found = self.resolve_ref(&referral.referrer, pref, field);
                if let Ok(src) = &found {
                    out.relations
                        .entry(src.clone())
                        .or_default()
                        .slot(referral.slot)
                        .add(referral.entity.clone());
                }
                out.uses.push(PluginUse {
                    referrer: referral.referrer.key.clone(),
                    found,
                });
            }
            out.entities
                .push((referral.referrer.key, referral.slot, referral.entity));
        }
        out
    }

    /// Step 2b: Where a plugin may be attached: Kong's plugin schema can forbid a consumer, a
    /// route, a service or a consumer group (`consumer = typedefs.no_consumer`, in
    /// kong/plugins/<name>/schema.lua; `eq = null` in kong/db/schema/typedefs.lua), and
    /// Konnect then answers 400 `consumer: value must be null`. The plugin object is invalid,
    /// like one with a bad config, so its referrers are held (step 9). Returns those objects.
    fn misplaced(
        &mut self,
        relations: &BTreeMap<PluginSource, Relations>,
        bases: &Bases<'_>,
        infos: &Infos,
    ) -> Vec<PluginSource> {
        let mut misplaced = Vec::new();
        for (src, rels) in relations {
            let (Some(Some(base)), Some(info)) = (bases.get(src), infos.get(src)) else {
                continue;
            };
            let Some(schema) = self.schemas.get(base.plugin) else {
                continue;
            };
            let errors = scope_errors(schema, base.plugin, rels);
            if !errors.is_empty() {
                for e in errors {
                    self.results.error(&info.key, Reason::InvalidConfig, e);
                }
                misplaced.push(src.clone());
            }
        }
        misplaced
    }

    /// Step 4: Two plugin objects putting one plugin type on one target: the older wins.
    /// Grouped by hash (nearly every group has one instance), then the groups with a conflict
    /// are handled in (plugin, target) order.
    fn drop_target_conflicts(
        &mut self,
        instances: Vec<Instance>,
        bases: &Bases<'_>,
    ) -> Vec<Instance> {
        let mut by_target: HashMap<(&str, &PluginParents), Vec<usize>> =
            HashMap::with_capacity(instances.len());
        for (i, inst) in instances.iter().enumerate() {
            by_target
                .entry((inst.entity.name.as_str(), &inst.parents))
                .or_default()
                .push(i);
        }
        let mut conflicts: Vec<((&str, &PluginParents), Vec<usize>)> = by_target
            .into_iter()
            .filter(|(_, idx)| idx.len() > 1)
            .collect();
        conflicts.sort();
        let mut dropped = BTreeSet::new();
        for ((plugin, parents), mut idx) in conflicts {
            idx.sort_by(|a, b| {
                let (sa, sb) = (&instances[*a].source, &instances[*b].source);
                (age_of(bases, sa), sa).cmp(&(age_of(bases, sb), sb))
            });
            let winner = origin_of(bases, &instances[idx[0]].source);
            for loser in &idx[1..] {
                dropped.insert(*loser);
                let Some(Some(base)) = bases.get(&instances[*loser].source) else {
                    continue;
                };
                self.results.error(
                    &base.origin,
                    Reason::Conflict,
                    format!(
                        "plugin: {plugin:?} on {}: {} conflicts with {winner}, which is older and wins; this instance is not created",
                        describe_target(parents),
                        base.origin
                    ),
                );
            }
        }
        without(instances, &dropped)
    }

    /// Step 6: Global instances: KongClusterPlugins labelled global; two of one type are both
    /// refused.
    fn global_instances(&mut self, globals: &Globals, bases: &Bases<'_>) -> Vec<Instance> {
        let mut instances = Vec::new();
        for (plugin, entries) in globals {
            if entries.len() > 1 {
                for (name, key) in entries {
                    let others: Vec<&str> = entries
                        .iter()
                        .filter(|(n, _)| n != name)
                        .map(|(n, _)| n.as_str())
                        .collect();
                    self.results.error(
                        key,
                        Reason::Conflict,
                        format!(
                            "metadata.labels[global]: KongClusterPlugin {} is also a global {plugin:?} plugin; two global plugins of one type are both refused",
                            others.join(", ")
                        ),
                    );
                }
                continue;
            }
            let src = PluginSource::Cluster(entries[0].0.clone());
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
        instances
    }

    /// Step 7: Instance names are unique in a control plane: two plugin objects ending with one
    /// (same instance_name on one target, or a global one equal to a suffixed one), the older
    /// keeps it and the newer's instance is not created.
    fn drop_name_conflicts(
        &mut self,
        instances: Vec<Instance>,
        bases: &Bases<'_>,
    ) -> Vec<Instance> {
        let mut by_name: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, inst) in instances.iter().enumerate() {
            if let Some(n) = &inst.entity.instance_name {
                by_name.entry(n.clone()).or_default().push(i);
            }
        }
        let mut dropped = BTreeSet::new();
        for (name, idx) in by_name {
            let winner_src = idx
                .iter()
                .map(|i| &instances[*i].source)
                .min_by(|a, b| (age_of(bases, a), *a).cmp(&(age_of(bases, b), *b)));
            let Some(winner_src) = winner_src.cloned() else {
                continue;
            };
            let winner = origin_of(bases, &winner_src);
            for i in idx {
                let inst = &instances[i];
                if inst.source == winner_src {
                    continue;
                }
                dropped.insert(i);
                let Some(Some(base)) = bases.get(&inst.source) else {
                    continue;
                };
                self.results.error(
                    &base.origin,
                    Reason::Conflict,
                    format!(
                        "instance_name: the instance on {} would be named {name:?}, which {winner}'s instance already is; {winner} is older and wins; this instance is not created",
                        describe_target(&inst.parents)
                    ),
                );
            }
        }
        without(instances, &dropped)
    }

    /// Step 8: Plugin objects nothing refers to are pending, not errors.
    fn report_unreferenced(
        &mut self,
        bases: &Bases<'_>,
        relations: &BTreeMap<PluginSource, Relations>,
        globals: &Globals,
    ) {
        for (src, base) in bases.iter() {
            let Some(base) = base else { continue };
            let is_global = matches!(src, PluginSource::Cluster(n) if globals.get(base.plugin).is_some_and(|v| v.iter().any(|(g, _)| g == n)));
            if !relations.contains_key(src) && !is_global {
                self.results.pending(
                    &base.origin,
                    Reason::NotReferenced,
                    "not referenced by any konghq.com/plugins annotation or ExtensionRef filter",
                );
            }
        }
    }
}

/// Every plugin object we serve, by source: its [`Base`], or `None` when it is Invalid. A
/// vector sorted by source: the plugin objects arrive in order, and a `BTreeMap` filled in
/// order leaves its nodes half empty (10k bases in `render_memory`).
type Bases<'a> = SortedMap<PluginSource, Option<Base<'a>>>;

/// Every plugin object's result key and plugin type, valid or not (for holding); sorted by
/// source, filled in order like [`Bases`].
pub(crate) type Infos = SortedMap<PluginSource, PluginInfo>;
/// Global KongClusterPlugins by plugin type: (object name, result key) of each.
type Globals = BTreeMap<String, Vec<(String, ObjectRef)>>;

/// Step 2's output: the relations, and every reference and referrer (for holding).
#[derive(Default)]
struct References {
    relations: BTreeMap<PluginSource, Relations>,
    uses: Vec<PluginUse>,
    entities: Vec<(ObjectRef, Slot, String)>,
}

/// The age of a plugin object with a [`Base`], for "older wins".
fn age_of(bases: &Bases<'_>, src: &PluginSource) -> Option<Age> {
    bases
        .get(src)
        .and_then(|b| b.as_ref().map(|b| b.age.clone()))
}

/// The result key of a plugin object with a [`Base`], as text ("" without one).
fn origin_of(bases: &Bases<'_>, src: &PluginSource) -> String {
    bases
        .get(src)
        .and_then(Option::as_ref)
        .map(|b| b.origin.to_string())
        .unwrap_or_default()
}

/// The instances whose index is not in `dropped`, in order.
fn without(instances: Vec<Instance>, dropped: &BTreeSet<usize>) -> Vec<Instance> {
    instances
        .into_iter()
        .enumerate()
        .filter(|(i, _)| !dropped.contains(i))
        .map(|(_, inst)| inst)
        .collect()
}

/// Step 2b for one plugin object: the schema's refusal of each kind of parent it has (the
/// first entity of each kind stands for all: the schema only tells whether one may be set).
fn scope_errors(schema: &PluginSchema, plugin: &str, rels: &Relations) -> Vec<String> {
    let slots = [
        ("service", &rels.services),
        ("route", &rels.routes),
        ("consumer", &rels.consumers),
        ("consumer_group", &rels.groups),
    ];
    let mut errors = Vec::new();
    for (field, names) in slots {
        let Some(name) = names.keys().next() else {
            continue;
        };
        let mut scope = serde_json::Map::new();
        scope.insert(field.to_owned(), serde_json::json!({ "id": name }));
        if let Err(es) = schema.validate_scope(&scope) {
            errors.extend(es.into_iter().map(|e| {
                format!(
                    "{}: {} (plugin {:?} cannot be attached to a {})",
                    e.field,
                    e.message,
                    plugin,
                    field.replace('_', " ")
                )
            }));
        }
    }
    errors
}

/// Step 3: Instances, by KIC's combination rule: one per combination of each valid plugin
/// object's referrers.
fn instantiate(relations: &BTreeMap<PluginSource, Relations>, bases: &Bases<'_>) -> Vec<Instance> {
    let served = || {
        relations
            .iter()
            .filter_map(|(src, rels)| match bases.get(src) {
                Some(Some(base)) => Some((src, base, rels)),
                _ => None,
            })
    };
    // Counted first: an instance is large, and a vector grown by doubling would hold up to
    // twice the room, and both buffers while it moves. Counted, not listed: a list of every
    // object's combinations would be this step's peak.
    let count = served().map(|(_, _, rels)| rels.combination_count()).sum();
    let mut instances = Vec::with_capacity(count);
    for (src, base, rels) in served() {
        for parents in rels.combinations() {
            // The relation hash only serves instance names (step 5).
            let hash = if base.instance_name.is_some() {
                relation_hash(&parents)
            } else {
                String::new()
            };
            instances.push(Instance {
                source: src.clone(),
                hash,
                entity: plugin_entity(base, &parents),
                parents,
            });
        }
    }
    instances
}

/// Step 5: Instance names: `<instance_name>-<9 hex>`, the full hash where 9 collide.
fn name_instances(mut instances: Vec<Instance>) -> Vec<Instance> {
    let short =
        |n: &str, hash: &str| format!("{n}-{}", hash.get(..INSTANCE_SUFFIX_LEN).unwrap_or(hash));
    // A collision is two different relations whose 9 hex digits agree; two plugin objects
    // on the same relation have the same full hash too, so step 7 settles those instead.
    let mut hashes: BTreeMap<String, BTreeSet<&str>> = BTreeMap::new();
    for inst in &instances {
        if let Some(n) = &inst.entity.instance_name {
            hashes
                .entry(short(n, &inst.hash))
                .or_default()
                .insert(&inst.hash);
        }
    }
    let collisions: BTreeSet<String> = hashes
        .into_iter()
        .filter(|(_, h)| h.len() > 1)
        .map(|(name, _)| name)
        .collect();
    for inst in &mut instances {
        if let Some(n) = inst.entity.instance_name.clone() {
            let name = short(&n, &inst.hash);
            let collides = collisions.contains(&name);
            inst.entity.instance_name = Some(if collides {
                format!("{n}-{}", inst.hash)
            } else {
                name
            });
        }
    }
    instances
}

/// Step 6: Globals: the KongClusterPlugins labelled global, by plugin type.
fn global_plugins(cluster_plugins: &[(&str, &KongClusterPlugin)]) -> Globals {
    let mut globals = Globals::new();
    for (name, p) in cluster_plugins {
        if is_global(&p.metadata) {
            // Keyed like the object's other results (ObjectRef::new), never rebuilt.
            let key = ObjectRef::new("KongClusterPlugin", &p.metadata);
            globals
                .entry(p.plugin.clone())
                .or_default()
                .push(((*name).to_owned(), key));
        }
    }
    globals
}

/// The [`Base`] of a plugin object whose configuration resolved and passed its schema.
fn base<'a>(f: PluginFields<'a>, resolved: ResolvedConfig<'a>, origin: ObjectRef) -> Base<'a> {
    let ordering = f
        .ordering
        .and_then(|o| serde_json::to_value(o).ok())
        .filter(|v| v.as_object().is_some_and(|m| !m.is_empty()));
    let source = source_meta(f.kind, KONG_GROUP, "v1", f.meta, f.tags);
    Base {
        plugin: f.plugin,
        config: resolved.config,
        secret_fields: resolved.secret_fields,
        enabled: !f.disabled,
        protocols: f.protocols.filter(|p| !p.is_empty()),
        ordering,
        instance_name: f.instance_name.filter(|n| !n.is_empty()).map(str::to_owned),
        source,
        age: age_key(f.meta),
        origin,
    }
}

/// True when an object carries the `global: "true"` label.
fn is_global(meta: &ObjectMeta) -> bool {
    meta.labels
        .as_ref()
        .and_then(|l| l.get(GLOBAL_LABEL))
        .is_some_and(|v| v == "true")
}

/// The plugin entity of one instance, without its configuration (`null`): instances are
/// filtered, named and held before they become final, and a copy of each configuration made
/// here would be this step's largest allocation (the final step in [`Step::plugins`] copies
/// the configuration of each instance kept).
fn plugin_entity(base: &Base<'_>, parents: &PluginParents) -> Plugin {
    Plugin {
        id: Some(ids::plugin_id(base.plugin, parents)),
        name: base.plugin.to_owned(),
        instance_name: base.instance_name.clone(),
        config: Value::Null,
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

    proptest::proptest! {
        /// The count `instantiate` sizes its vector with is the number of combinations.
        #[test]
        fn combination_count_counts_the_combinations(
            sizes in proptest::collection::vec(0usize..4, 4),
        ) {
            let names = |prefix: &str, n: usize| -> Vec<String> {
                (0..n).map(|i| format!("{prefix}{i}")).collect()
            };
            let [s, r, c, g] = [("s", sizes[0]), ("r", sizes[1]), ("c", sizes[2]), ("g", sizes[3])]
                .map(|(p, n)| names(p, n));
            fn strs(v: &[String]) -> Vec<&str> {
                v.iter().map(String::as_str).collect()
            }
            let rels = rels(&strs(&s), &strs(&r), &strs(&c), &strs(&g));
            proptest::prop_assert_eq!(rels.combination_count(), rels.combinations().len());
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

    #[test]
    fn resolve_plugin_config_flags_missing_secrets_and_redacts_debug() {
        use k8s_openapi::api::core::v1::Secret;
        use std::collections::BTreeMap as Map;
        let mut p = KongPlugin::new("ns", "p", "session");
        p.config_patches = Some(vec![crate::crd::ConfigPatch {
            path: "/secret".into(),
            value_from: crate::crd::ConfigSource {
                secret_key_ref: crate::crd::SecretKeyRef {
                    name: "s".into(),
                    key: "k".into(),
                },
            },
        }]);
        let none = |_: &str, _: &str| -> Option<&Secret> { None };
        let problems = resolve_plugin_config(PluginObject::Kong(&p), &none)
            .err()
            .unwrap_or_default();
        assert_eq!(problems.len(), 1);
        assert_eq!(
            problems[0].missing_secret,
            Some(("ns".to_owned(), "s".to_owned()))
        );
        assert_eq!(
            problems[0].message,
            "configPatches[0].valueFrom.secretKeyRef: Secret ns/s not found"
        );

        let secret = Secret {
            string_data: Some(Map::from([("k".to_owned(), "\"canary-x\"".to_owned())])),
            ..Default::default()
        };
        let some = |_: &str, _: &str| Some(&secret);
        let resolved = resolve_plugin_config(PluginObject::Kong(&p), &some);
        let Ok(resolved) = resolved else {
            panic!("resolves: {resolved:?}");
        };
        assert_eq!(*resolved.config, json!({"secret": "canary-x"}));
        let debug = format!("{resolved:?}");
        assert!(!debug.contains("canary"), "{debug}");
        assert!(debug.contains("<redacted: Secret ns/s key k>"), "{debug}");
    }

    /// A configFrom Secret's keys: the names of schema record fields (`oauth`, `client_id`)
    /// are public and stay visible, the keys of a `map` field (upstream-oauth's
    /// `config.oauth.token_headers`, a map in Kong's kong/plugins/upstream-oauth/schema.lua)
    /// are the Secret's and are hidden with their values.
    #[test]
    fn secret_map_keys_are_redacted_record_field_names_are_not() {
        use crate::translate::{Snapshot, TranslateOptions, translate};
        let secret_config = "oauth:\n  token_endpoint: https://idp.example.com/token\n  grant_type: client_credentials\n  client_id: c\n  client_secret: s3cr3t\n  token_headers:\n    X-Canary-Header-Name: v\n";
        let secret: Secret = serde_json::from_value(json!({
            "metadata": {"name": "oauth", "namespace": "default"},
            "stringData": {"config": secret_config}
        }))
        .expect("secret");
        let mut plugin = KongPlugin::new("default", "oauth", "upstream-oauth");
        plugin.config_from = Some(crate::crd::ConfigSource {
            secret_key_ref: crate::crd::SecretKeyRef {
                name: "oauth".into(),
                key: "config".into(),
            },
        });
        let service: k8s_openapi::api::core::v1::Service = serde_json::from_value(json!({
            "metadata": {"name": "svc", "namespace": "default",
                         "annotations": {"konghq.com/plugins": "oauth"}},
            "spec": {"ports": [{"port": 80}]}
        }))
        .expect("service");
        let snap = Snapshot {
            services: vec![service.into()],
            secrets: vec![secret.into()],
            kong_plugins: vec![plugin.into()],
            ..Snapshot::default()
        };
        let state = translate(&snap, &TranslateOptions::default());
        assert_eq!(state.plugins.len(), 1, "{:?}", state.results);
        // Konnect gets the real header name.
        assert_eq!(
            state.plugins[0].config["oauth"]["token_headers"]["X-Canary-Header-Name"],
            json!("v")
        );
        let shown = state.redacted_plugin(&state.plugins[0]);
        let text = shown.config.to_string();
        assert!(!text.contains("X-Canary-Header-Name"), "{text}");
        assert!(!text.contains("s3cr3t"), "{text}");
        assert_eq!(
            shown.config["oauth"]["token_headers"],
            json!("<redacted: Secret default/oauth key config>")
        );
        // Record field names are not secret: the structure stays readable.
        assert_eq!(
            shown.config["oauth"]["client_id"],
            json!("<redacted: Secret default/oauth key config>")
        );
    }

    use super::super::fixtures::{self as fx, Fixture};
    use crate::translate::DesiredState;

    const PLUGINS: &str = "konghq.com/plugins";

    /// Service default/echo behind Ingress default/app (host app.example.com).
    fn echo_app(service_plugins: &str, ingress_plugins: &str) -> Fixture {
        let mut svc = fx::service("default", "echo").port(80);
        if !service_plugins.is_empty() {
            svc = svc.annotation(PLUGINS, service_plugins);
        }
        let mut ing =
            fx::ingress("default", "app").path("app.example.com", "/", "Prefix", "echo", 80);
        if !ingress_plugins.is_empty() {
            ing = ing.annotation(PLUGINS, ingress_plugins);
        }
        Fixture::new().with(svc).with(ing)
    }

    fn rate_limiting(name: &str, minute: i64) -> fx::PluginB {
        fx::kong_plugin("default", name, "rate-limiting").config(json!({ "minute": minute }))
    }

    /// Plugin ids with their parents' ids (service, route, consumer, group; "" when absent).
    fn instances(state: &DesiredState) -> Vec<(String, [String; 4])> {
        let mut out: Vec<_> = state
            .plugins
            .iter()
            .map(|p| (fx::id(p.id), fx::parents(p)))
            .collect();
        out.sort();
        out
    }

    fn s(x: &str) -> String {
        x.to_owned()
    }

    /// The scope of an instance is its referrer: a Service annotation gives a service plugin
    /// (on each Konnect service of that Service), an Ingress one a route plugin, a KongConsumer
    /// one a consumer plugin, a global KongClusterPlugin one without parents (KIC's
    /// `ForeignRelations.GetCombinations`, internal/dataplane/kongstate/kongstate.go, and
    /// `getPluginRelations`; docs/compatibility.md "Plugin instances"). Ids: python3 uuid.uuid5
    /// over go-kong's scheme ("plugins", "<plugin>:service/<name>" and so on).
    #[test]
    fn plugin_scope_is_global_service_route_or_consumer_by_referrer() {
        let state = echo_app("svc-rl", "route-rl")
            .with(rate_limiting("svc-rl", 5))
            .with(rate_limiting("route-rl", 10))
            .with(rate_limiting("consumer-rl", 1))
            .with(
                fx::consumer("default", "alice")
                    .username("alice")
                    .annotation(PLUGINS, "consumer-rl"),
            )
            .with(fx::cluster_plugin("cid", "correlation-id").global())
            .translate();
        let service = s("8e980ed1-7cfc-5fc0-9756-290ab293e834");
        let route = s("ef0d30f1-9c2d-5219-a29f-cc3fc54ff38d");
        let alice = s("b32379d9-3d28-5683-a79c-72139be6e34f");
        let mut expected = vec![
            (
                s("4125f259-07a9-5a23-bdda-9c764c4a6121"),
                [service, s(""), s(""), s("")],
            ),
            (
                s("249d52ce-b9c3-5404-ac7c-5face7f0bdf7"),
                [s(""), route, s(""), s("")],
            ),
            (
                s("7afbe842-050e-5eca-9533-8f0ed98adf48"),
                [s(""), s(""), alice, s("")],
            ),
            (
                s("403593f5-c05b-5a26-bea7-b0c5e23934bc"),
                [s(""), s(""), s(""), s("")],
            ),
        ];
        expected.sort();
        assert_eq!(instances(&state), expected);
        assert!(state.held.is_empty());
    }

    /// KIC's combination rule: a plugin named by a route and by a consumer is one instance on
    /// (route, consumer), not one on each (`GetCombinations`: consumers times services/routes;
    /// tests/golden/plugin-combinations). Id: python3 uuid.uuid5 ("plugins",
    /// "rate-limiting:route/default.app.echo.app.example.com.80:consumer/bob").
    #[test]
    fn plugin_named_by_a_route_and_a_consumer_is_one_instance_on_both() {
        let state = echo_app("", "both")
            .with(rate_limiting("both", 3))
            .with(
                fx::consumer("default", "bob")
                    .username("bob")
                    .annotation(PLUGINS, "both"),
            )
            .translate();
        assert_eq!(
            instances(&state),
            [(
                s("9988ed61-5823-5447-b0e0-103b04e1b9bf"),
                [
                    s(""),
                    s("ef0d30f1-9c2d-5219-a29f-cc3fc54ff38d"),
                    s("def4f7d3-9863-5ad2-8fa9-c949bf26f55e"),
                    s("")
                ]
            )]
        );
    }

    /// KongPlugins are never global (KIC only reads the `global` label on KongClusterPlugins):
    /// the label is warned about and the unreferenced plugin is Pending; two global
    /// KongClusterPlugins of one type are both refused (docs/compatibility.md).
    #[test]
    fn only_one_global_cluster_plugin_per_type_and_never_a_kong_plugin() {
        let state = Fixture::new()
            .with(rate_limiting("not-global", 1).global())
            .with(fx::cluster_plugin("cid-a", "correlation-id").global())
            .with(fx::cluster_plugin("cid-b", "correlation-id").global())
            .translate();
        assert!(state.plugins.is_empty(), "{:?}", instances(&state));
        let kp = fx::result(&state, "KongPlugin", "not-global");
        assert_eq!(kp.status.reason(), Some(Reason::NotReferenced));
        assert!(
            kp.warnings.iter().any(|w| w.contains("never global")),
            "{kp:?}"
        );
        for name in ["cid-a", "cid-b"] {
            let r = fx::result(&state, "KongClusterPlugin", name);
            assert_eq!(r.status.reason(), Some(Reason::Conflict), "{r:?}");
        }
    }

    /// Fail closed, as KIC 3's fallback configuration (internal/dataplane/fallback/:
    /// `GenerateExcludingBrokenObjects` drops a broken plugin's dependants, which
    /// graph_dependencies_common.go `resolveObjectDependenciesPlugin` makes of its referrers;
    /// cited in tests/golden/fail-closed-*): a route or consumer naming an invalid plugin is
    /// held (its id and the would-be instance's in `held`), its object Pending PluginInvalid,
    /// the plugin Invalid; an Ingress to the same Service without the plugin is unaffected.
    /// Ids: python3 uuid.uuid5 over go-kong's scheme.
    #[test]
    fn an_invalid_plugin_holds_its_referrers() {
        let state = Fixture::new()
            .with(fx::service("shop", "echo").port(80))
            .with(
                fx::ingress("shop", "private")
                    .annotation(PLUGINS, "auth")
                    .path("private.example.com", "/", "Prefix", "echo", 80),
            )
            .with(fx::ingress("shop", "public").path(
                "public.example.com",
                "/",
                "Prefix",
                "echo",
                80,
            ))
            .with(
                fx::kong_plugin("shop", "auth", "key-auth")
                    .config(json!({ "key_names": "apikey" })),
            )
            .with(
                fx::kong_plugin("shop", "rl", "rate-limiting").config(json!({ "minute": "many" })),
            )
            .with(
                fx::consumer("shop", "carol")
                    .username("carol")
                    .annotation(PLUGINS, "rl"),
            )
            .translate();
        let held: Vec<String> = state.held.iter().map(|i| i.to_string()).collect();
        let mut expected = vec![
            s("22986a43-e1a7-55f2-9fca-6e971a64bb39"), // route shop.private.echo.private.example.com.80
            s("51b6de5f-6418-5c4d-8d0e-5287dff15c55"), // key-auth on that route
            s("ffba6a1f-e659-5189-8244-bb9a3171034f"), // consumer carol
            s("9960b3bb-5b75-5ae0-9fd5-24e7022a045d"), // rate-limiting on carol
        ];
        expected.sort();
        assert_eq!(held, expected);
        assert_eq!(
            fx::names(&state.routes),
            ["shop.public.echo.public.example.com.80"]
        );
        assert!(state.consumers.is_empty() && state.plugins.is_empty());
        for (kind, name) in [("Ingress", "private"), ("KongConsumer", "carol")] {
            let r = fx::result(&state, kind, name);
            assert_eq!(r.status.as_str(), "Pending", "{r:?}");
            assert_eq!(r.status.reason(), Some(Reason::PluginInvalid), "{r:?}");
        }
        for name in ["auth", "rl"] {
            let r = fx::result(&state, "KongPlugin", name);
            assert_eq!(r.status.reason(), Some(Reason::InvalidConfig), "{r:?}");
        }
        assert_eq!(
            fx::result(&state, "Ingress", "public").status.as_str(),
            "Accepted"
        );
    }

    /// A missing plugin holds its referrer too (KIC's fallback treats an unresolvable
    /// reference as broken): the Service naming it is Pending ReferenceNotFound, and the route
    /// through that Service's Konnect service is held with it
    /// (tests/golden/fail-closed-service-missing-plugin). Ids: python3 uuid.uuid5.
    #[test]
    fn a_missing_plugin_holds_its_referrer_and_what_hangs_off_it() {
        let state = echo_app("nope", "").translate();
        let held: Vec<String> = state.held.iter().map(|i| i.to_string()).collect();
        let mut expected = vec![
            s("8e980ed1-7cfc-5fc0-9756-290ab293e834"), // service default.echo.80
            s("ef0d30f1-9c2d-5219-a29f-cc3fc54ff38d"), // route default.app.echo.app.example.com.80
        ];
        expected.sort();
        assert_eq!(held, expected);
        assert!(state.services.is_empty() && state.routes.is_empty());
        let svc = fx::result(&state, "Service", "echo");
        assert_eq!(
            svc.status.reason(),
            Some(Reason::ReferenceNotFound),
            "{svc:?}"
        );
        assert!(
            svc.message.contains("no KongPlugin default/nope"),
            "{}",
            svc.message
        );
    }

    /// An HTTPRoute `ExtensionRef` filter naming a KongPlugin puts the plugin on the routes of
    /// its rule only: rules with other filters are another group (`groupRulesByFilter`), so
    /// another route, even with the same backends (subtranslator/httproute.go; as
    /// tests/golden/kic-cases.py `consolidation` derives). Id: python3 uuid.uuid5 ("plugins",
    /// "rate-limiting:route/httproute.shop.r.0.0").
    #[test]
    fn an_extension_ref_filter_puts_the_plugin_on_its_rule_routes_only() {
        let state = Fixture::new()
            .with(fx::gateway("shop", "gw").listener("http", "HTTP", 80))
            .with(fx::service("shop", "web").port(80))
            .with(fx::kong_plugin("shop", "limit", "rate-limiting").config(json!({ "minute": 2 })))
            .with(
                fx::http_route("shop", "r")
                    .parent("gw")
                    .rule(fx::rule().prefix("/a").backend("web", 80).plugin("limit"))
                    .rule(fx::rule().prefix("/b").backend("web", 80)),
            )
            .translate();
        assert_eq!(
            fx::names(&state.routes),
            ["httproute.shop.r.0.0", "httproute.shop.r.1.0"]
        );
        let route = s("416b3ebc-1fb1-5077-b6bb-b57dd7263fff"); // httproute.shop.r.0.0
        assert_eq!(
            instances(&state),
            [(
                s("1b283aea-47b6-5156-81d2-cafe2279dbea"),
                [s(""), route, s(""), s("")]
            )]
        );
    }
}
