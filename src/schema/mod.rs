//! Plugin configuration validation with Kong's schema format.
//!
//! This module owns: the interpreter of the JSON Konnect returns for
//! `GET .../core-entities/schemas/plugins/{name}` (`{"fields": [...], "entity_checks": [...]}`),
//! the schemas embedded in the binary (`plugins/*.json`), the cache of schemas fetched from
//! Konnect for plugins we do not embed, and the error shapes (`config.<path>: <message>`, and
//! Konnect's 400 body for the emulator).
//!
//! No I/O here (no files, network, environment or process): fetching a schema is the caller's
//! job ([`SchemaCache`] takes the fetch as a closure and guards its map with a `tokio` lock), so
//! the operator, `render`/`validate` (offline) and the emulator share one engine and one set of
//! schemas. It depends on no other module of ours; its only side effect is a `tracing` event for
//! a schema it cannot interpret or a custom validator it does not know.
//!
//! Extensions to Kong's format, used only by embedded schemas: `custom_validator` on a record
//! names a Rust validator (see `custom.rs`); `subschema_key` + `subschemas` on a record pick
//! extra fields by the value of one field (datakit's node types); `allow_unknown_fields` keeps
//! a partially embedded schema from refusing fields it does not list.

mod cache;
mod checks;
mod custom;
mod interp;
mod lua_pattern;
mod model;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, LazyLock};

use serde_json::{Value, json};

pub use cache::SchemaCache;
pub use custom::DATAKIT_IMPLICIT_NODES;

/// A schema that cannot be interpreted.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("plugin schema must be a JSON object with a 'fields' array")]
    NotAnObject,
    #[error("plugin schema has no 'config' record field")]
    MissingConfig,
    #[error("invalid plugin schema at {path}: {reason}")]
    Invalid { path: String, reason: String },
}

/// One validation error: the dotted path of the field (`config.cache.strategy`,
/// `config.nodes[2].input`; `config` or the record's path for cross-field rules) and Kong's
/// message for it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Why [`Registry::validate_plugin`] refused a configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ValidationOutcome {
    /// No schema is known for the plugin name.
    UnknownPlugin,
    /// The configuration breaks the schema; every error is listed.
    Invalid(Vec<FieldError>),
}

impl fmt::Display for ValidationOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ValidationOutcome::UnknownPlugin => write!(f, "unknown plugin"),
            ValidationOutcome::Invalid(errors) => {
                let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
                write!(f, "{}", lines.join("; "))
            }
        }
    }
}

#[derive(Debug)]
struct Inner {
    root: model::Record,
    raw: Value,
}

/// One plugin's schema. Cheap to clone.
#[derive(Clone, Debug)]
pub struct PluginSchema {
    inner: Arc<Inner>,
}

impl PluginSchema {
    /// Parses the body of `GET schemas/plugins/{name}`: the plugin entity's fields, one of which
    /// is the `config` record, and the entity checks (whose `config.*` rules apply to config).
    pub fn from_konnect_json(value: &Value) -> Result<PluginSchema, SchemaError> {
        let obj = value.as_object().ok_or(SchemaError::NotAnObject)?;
        if !obj.get("fields").is_some_and(Value::is_array) {
            return Err(SchemaError::NotAnObject);
        }
        let root = model::parse_record(obj, "")?;
        match root.field("config") {
            Some(f) if f.record.is_some() => {}
            _ => return Err(SchemaError::MissingConfig),
        }
        Ok(PluginSchema {
            inner: Arc::new(Inner {
                root,
                raw: value.clone(),
            }),
        })
    }

    /// The schema as Konnect serves it (the JSON it was parsed from).
    pub fn to_konnect_json(&self) -> Value {
        self.inner.raw.clone()
    }

    /// Validates a plugin configuration. On success returns the configuration as Konnect
    /// would store it: every field present, defaults filled, absent optional fields `null`.
    /// On failure returns every error, in schema order. `null` counts as an empty config.
    pub fn validate(&self, config: &Value) -> Result<Value, Vec<FieldError>> {
        let (value, mut errs, entity) = self.check(config);
        // The operator reports a plugin-level rule on `config`, the record it is about.
        errs.extend(entity.into_iter().map(|message| FieldError {
            field: "config".to_owned(),
            message,
        }));
        let mut seen = std::collections::HashSet::new();
        errs.retain(|e| seen.insert(e.clone()));
        if errs.is_empty() {
            Ok(value)
        } else {
            Err(errs)
        }
    }

    /// [`PluginSchema::validate`], with the errors of the plugin-level entity checks apart:
    /// Kong files them under `@entity` (no field), and Konnect answers them as
    /// `ERROR_TYPE_ENTITY` details without a field. `Err((field errors, entity messages))`.
    #[allow(clippy::type_complexity)]
    pub fn validate_split(&self, config: &Value) -> Result<Value, (Vec<FieldError>, Vec<String>)> {
        let (value, mut errs, mut entity) = self.check(config);
        let mut seen = std::collections::HashSet::new();
        errs.retain(|e| seen.insert(e.clone()));
        let mut seen = std::collections::HashSet::new();
        entity.retain(|e| seen.insert(e.clone()));
        if errs.is_empty() && entity.is_empty() {
            Ok(value)
        } else {
            Err((errs, entity))
        }
    }

    /// Processes a config: (config with defaults, field errors, plugin-level entity errors).
    fn check(&self, config: &Value) -> (Value, Vec<FieldError>, Vec<String>) {
        let root = &self.inner.root;
        let mut errs = Vec::new();
        let config_field = root.field("config");
        let processed = match config_field {
            Some(field) => {
                let given = if config.is_null() { None } else { Some(config) };
                interp::process_field(field, given, "config", &mut errs)
            }
            None => config.clone(),
        };
        let mut entity = serde_json::Map::new();
        entity.insert("config".to_owned(), processed);
        // Plugin-level checks may also name `consumer`, `route`, ...: only the ones about
        // config can be decided from a config.
        let mut entity_errs = Vec::new();
        for check in &root.entity_checks {
            let names = check.field_names();
            if !names.is_empty() && names.iter().all(|n| n.starts_with("config.")) {
                let mut found = Vec::new();
                checks::run(check, &entity, "", "config", &mut found);
                for e in found {
                    // Reported on the entity path: an `@entity` error in Kong.
                    if e.field == "config" {
                        entity_errs.push(e.message);
                    } else {
                        errs.push(e);
                    }
                }
            }
        }
        let value = entity.remove("config").unwrap_or(Value::Null);
        (value, errs, entity_errs)
    }

    /// Validates a plugin's `protocols` (`None` when the body has no `protocols` key) with the
    /// schema's own `protocols` field, the way Kong checks that field of the plugin entity: an
    /// absent value takes the plugin's default, each element must be one of the protocols the
    /// plugin declares (every embedded plugin is HTTP-only, Kong's `typedefs.protocols_http`).
    /// Errors name the element: `protocols[0]: expected one of: grpc, grpcs, http, https, ws, wss`.
    /// Returns the protocols as Konnect stores them. A schema without a `protocols` field
    /// accepts the value unchanged.
    pub fn validate_protocols(&self, protocols: Option<&Value>) -> Result<Value, Vec<FieldError>> {
        let Some(field) = self.inner.root.field("protocols") else {
            return Ok(protocols.cloned().unwrap_or(Value::Null));
        };
        let mut errs = Vec::new();
        let out = interp::process_field(field, protocols, "protocols", &mut errs);
        if errs.is_empty() { Ok(out) } else { Err(errs) }
    }

    /// Checks what a plugin is attached to against the schema's own foreign fields, the way
    /// Kong checks those fields of the plugin entity: a plugin that declares
    /// `consumer = typedefs.no_consumer` (or `no_route`, `no_service`, `no_consumer_group`;
    /// Kong's `kong/db/schema/typedefs.lua`: `type = "foreign", eq = null`) refuses to be
    /// attached there with `consumer: value must be null`. `scope` holds the plugin entity's
    /// `consumer`, `consumer_group`, `route` and `service` (`{"id": ...}` or absent).
    pub fn validate_scope(
        &self,
        scope: &serde_json::Map<String, Value>,
    ) -> Result<(), Vec<FieldError>> {
        let mut errs = Vec::new();
        for name in SCOPE_FIELDS {
            if let Some(field) = self.inner.root.field(name) {
                interp::process_field(field, scope.get(name), name, &mut errs);
            }
        }
        if errs.is_empty() { Ok(()) } else { Err(errs) }
    }

    /// The entity fields this plugin may not be attached through (`eq = null` in its schema),
    /// in schema order.
    pub fn forbidden_scopes(&self) -> Vec<&'static str> {
        SCOPE_FIELDS
            .into_iter()
            .filter(|name| {
                self.inner
                    .root
                    .field(name)
                    .is_some_and(|f| f.validators.eq.as_ref().is_some_and(Value::is_null))
            })
            .collect()
    }

    /// The plugin's allowed protocols (`one_of` of the `protocols` elements), when declared.
    pub fn allowed_protocols(&self) -> Option<Vec<String>> {
        let f = self.inner.root.field("protocols")?;
        let one_of = f.elements.as_ref()?.validators.one_of.as_ref()?;
        Some(
            one_of
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
        )
    }

    /// The plugin's default `protocols`, when declared.
    pub fn default_protocols(&self) -> Option<Vec<String>> {
        let d = self.inner.root.field("protocols")?.default.as_ref()?;
        d.as_array().map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
    }
}

/// Every rule of a schema (Konnect's JSON) that the engine would skip rather than check: a Lua
/// pattern it cannot translate (`match`, `not_match`, `match_all`, `match_none`, `match_any`),
/// an entity check it does not interpret, a custom validator it does not implement. Each entry
/// names the path and the rule. Empty means every rule of the schema is enforced; the tests
/// require that of every embedded schema, so an engine gap cannot hide behind a schema.
pub fn skipped_rules(schema: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk_rules(schema, "", &mut out);
    out
}

fn walk_rules(v: &Value, path: &str, out: &mut Vec<String>) {
    match v {
        Value::Object(o) => {
            for (k, val) in o {
                let here = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                let mut pat = |p: &Value| {
                    if let Some(src) = p.as_str()
                        && lua_pattern::LuaPattern::new(src).is_none()
                    {
                        out.push(format!("{here}: unsupported Lua pattern {src:?}"));
                    }
                };
                match k.as_str() {
                    "match" | "not_match" => pat(val),
                    "match_all" | "match_none" => {
                        for item in val.as_array().into_iter().flatten() {
                            if let Some(p) = item.get("pattern") {
                                pat(p);
                            }
                        }
                    }
                    "match_any" => {
                        for p in val
                            .get("patterns")
                            .and_then(Value::as_array)
                            .into_iter()
                            .flatten()
                        {
                            pat(p);
                        }
                    }
                    "entity_checks" => {
                        for c in val.as_array().into_iter().flatten() {
                            for name in c.as_object().into_iter().flat_map(|m| m.keys()) {
                                if !model::KNOWN_ENTITY_CHECKS.contains(&name.as_str()) {
                                    out.push(format!("{here}: unknown entity check {name:?}"));
                                }
                            }
                        }
                    }
                    "custom_validator" => {
                        if let Some(name) = val.as_str()
                            && !custom::KNOWN.contains(&name)
                        {
                            out.push(format!("{here}: unknown custom validator {name:?}"));
                        }
                    }
                    _ => {}
                }
                if !matches!(k.as_str(), "default" | "description" | "examples") {
                    walk_rules(val, &here, out);
                }
            }
        }
        Value::Array(a) => {
            for (i, item) in a.iter().enumerate() {
                walk_rules(item, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// The raw JSON of every embedded schema: (plugin name, schema).
pub fn embedded_json() -> impl Iterator<Item = (&'static str, Value)> {
    EMBEDDED
        .iter()
        .filter_map(|(n, t)| serde_json::from_str(t).ok().map(|v| (*n, v)))
}

/// The plugin entity's foreign fields: what a plugin can be attached to.
pub const SCOPE_FIELDS: [&str; 4] = ["consumer", "consumer_group", "route", "service"];

/// The embedded schemas: (plugin name, Kong schema JSON).
const EMBEDDED: &[(&str, &str)] = &[
    ("acl", include_str!("plugins/acl.json")),
    ("basic-auth", include_str!("plugins/basic-auth.json")),
    ("bot-detection", include_str!("plugins/bot-detection.json")),
    (
        "correlation-id",
        include_str!("plugins/correlation-id.json"),
    ),
    ("cors", include_str!("plugins/cors.json")),
    ("datakit", include_str!("plugins/datakit.json")),
    ("file-log", include_str!("plugins/file-log.json")),
    ("http-log", include_str!("plugins/http-log.json")),
    (
        "ip-restriction",
        include_str!("plugins/ip-restriction.json"),
    ),
    ("jwt", include_str!("plugins/jwt.json")),
    ("key-auth", include_str!("plugins/key-auth.json")),
    (
        "openid-connect",
        include_str!("plugins/openid-connect.json"),
    ),
    ("prometheus", include_str!("plugins/prometheus.json")),
    ("proxy-cache", include_str!("plugins/proxy-cache.json")),
    ("rate-limiting", include_str!("plugins/rate-limiting.json")),
    (
        "request-termination",
        include_str!("plugins/request-termination.json"),
    ),
    (
        "request-transformer",
        include_str!("plugins/request-transformer.json"),
    ),
    (
        "response-ratelimiting",
        include_str!("plugins/response-ratelimiting.json"),
    ),
    (
        "response-transformer",
        include_str!("plugins/response-transformer.json"),
    ),
    ("session", include_str!("plugins/session.json")),
    (
        "upstream-oauth",
        include_str!("plugins/upstream-oauth.json"),
    ),
];

/// Parses one embedded schema. A failure is a bug in a file of this module (the tests parse
/// every one); at run time it is logged and the plugin is left to Konnect, never a panic.
fn parse_embedded(name: &str, text: &str) -> Option<PluginSchema> {
    let parsed = serde_json::from_str::<Value>(text)
        .map_err(|e| e.to_string())
        .and_then(|v| PluginSchema::from_konnect_json(&v).map_err(|e| e.to_string()));
    match parsed {
        Ok(s) => Some(s),
        Err(error) => {
            tracing::error!(plugin = name, %error, "embedded plugin schema is invalid");
            None
        }
    }
}

static EMBEDDED_REGISTRY: LazyLock<Registry> = LazyLock::new(|| {
    let mut r = Registry::default();
    for (name, text) in EMBEDDED {
        if let Some(s) = parse_embedded(name, text) {
            r.insert(name, s);
        }
    }
    r
});

/// Plugin schemas by plugin name.
#[derive(Clone, Debug, Default)]
pub struct Registry {
    schemas: BTreeMap<String, PluginSchema>,
}

impl Registry {
    /// Every embedded schema (parsed once per process; this clones `Arc`s).
    pub fn embedded() -> Registry {
        EMBEDDED_REGISTRY.clone()
    }

    /// The names of the embedded schemas, without parsing them.
    pub fn embedded_names() -> impl Iterator<Item = &'static str> {
        EMBEDDED.iter().map(|(n, _)| *n)
    }

    pub fn get(&self, name: &str) -> Option<&PluginSchema> {
        self.schemas.get(name)
    }

    pub fn insert(&mut self, name: &str, schema: PluginSchema) {
        self.schemas.insert(name.to_owned(), schema);
    }

    /// Known plugin names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.schemas.keys().map(String::as_str)
    }

    /// Validates `config` for plugin `name`; see [`PluginSchema::validate`].
    pub fn validate_plugin(&self, name: &str, config: &Value) -> Result<Value, ValidationOutcome> {
        let schema = self.get(name).ok_or(ValidationOutcome::UnknownPlugin)?;
        schema.validate(config).map_err(ValidationOutcome::Invalid)
    }
}

/// Konnect's 400 body for a refused plugin configuration (gRPC-status style, as its core-entity
/// API answers): one `ERROR_TYPE_FIELD` detail per field, messages grouped by field.
pub fn konnect_validation_error_body(errors: &[FieldError]) -> Value {
    let mut by_field: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for e in errors {
        by_field.entry(&e.field).or_default().push(&e.message);
    }
    let details: Vec<Value> = by_field
        .into_iter()
        .map(|(field, messages)| {
            json!({
                "@type": "type.googleapis.com/kong.admin.model.v1.ErrorDetail",
                "type": "ERROR_TYPE_FIELD",
                "field": field,
                "messages": messages,
            })
        })
        .collect();
    json!({"code": 3, "message": "validation error", "details": details})
}

/// Konnect's 400 body for a plugin name it does not know.
pub fn konnect_unknown_plugin_body(name: &str) -> Value {
    json!({
        "code": 3,
        "message": "validation error",
        "details": [{
            "@type": "type.googleapis.com/kong.admin.model.v1.ErrorDetail",
            "type": "ERROR_TYPE_FIELD",
            "field": "name",
            "messages": [format!("plugin '{name}' not enabled; add it to the 'plugins' configuration property")],
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_embedded_schema_parses() {
        for (name, text) in EMBEDDED {
            let v: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{name}: {e}"));
            PluginSchema::from_konnect_json(&v).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        assert_eq!(Registry::embedded().names().count(), EMBEDDED.len());
    }

    #[test]
    fn schema_errors() {
        assert!(matches!(
            PluginSchema::from_konnect_json(&json!([])),
            Err(SchemaError::NotAnObject)
        ));
        assert!(matches!(
            PluginSchema::from_konnect_json(
                &json!({"fields": [{"protocols": {"type": "set", "elements": {"type": "string"}}}]})
            ),
            Err(SchemaError::MissingConfig)
        ));
        let bad = json!({"fields": [{"config": {"type": "record", "fields": [{"a": {"type": "bogus"}}]}}]});
        let e = PluginSchema::from_konnect_json(&bad)
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some("invalid plugin schema at config.a: unknown type 'bogus'")
        );
    }

    #[test]
    fn round_trip_and_unknown_plugin() {
        let r = Registry::embedded();
        let s = r.get("session").expect("session embedded");
        let again = PluginSchema::from_konnect_json(&s.to_konnect_json()).expect("reparses");
        assert_eq!(again.to_konnect_json(), s.to_konnect_json());
        assert_eq!(
            r.validate_plugin("no-such-plugin", &json!({})),
            Err(ValidationOutcome::UnknownPlugin)
        );
    }

    #[test]
    fn konnect_body_groups_by_field() {
        let body = konnect_validation_error_body(&[
            FieldError {
                field: "config.a".into(),
                message: "x".into(),
            },
            FieldError {
                field: "config.a".into(),
                message: "y".into(),
            },
        ]);
        assert_eq!(body["details"][0]["field"], "config.a");
        assert_eq!(body["details"][0]["messages"], json!(["x", "y"]));
        assert_eq!(body["code"], 3);
    }
}
