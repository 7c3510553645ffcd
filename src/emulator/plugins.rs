//! Plugin checks for plugin writes and `schemas/plugins/...`: the one place the emulator meets
//! plugin knowledge.
//!
//! Owns: refusing plugin names Konnect does not know, in Kong's words, and validating configs
//! with the operator's own schema engine ([`crate::schema`]), storing the config with the
//! defaults the engine fills. A plugin Konnect bundles but whose schema the engine does not
//! embed is accepted with its config stored as sent, and its schema is served as an open
//! record (`allow_unknown_fields`), so the emulator never refuses what Konnect would take.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use serde_json::{Map, Value, json};

use super::errors::{ApiError, Detail};
use crate::schema::{FieldError, Registry};

static REGISTRY: LazyLock<Registry> = LazyLock::new(Registry::embedded);

/// Plugins bundled with Kong Gateway Enterprise, which Konnect accepts by name.
const KNOWN_PLUGINS: &[&str] = &[
    "ace",
    "acl",
    "acme",
    "ai-aws-guardrails",
    "ai-azure-content-safety",
    "ai-prompt-decorator",
    "ai-prompt-guard",
    "ai-prompt-template",
    "ai-proxy",
    "ai-proxy-advanced",
    "ai-rate-limiting-advanced",
    "ai-request-transformer",
    "ai-response-transformer",
    "ai-semantic-cache",
    "ai-semantic-prompt-guard",
    "app-dynamics",
    "aws-lambda",
    "azure-functions",
    "basic-auth",
    "bot-detection",
    "canary",
    "confluent",
    "correlation-id",
    "cors",
    "datadog",
    "datakit",
    "degraphql",
    "exit-transformer",
    "file-log",
    "forward-proxy",
    "graphql-proxy-cache-advanced",
    "graphql-rate-limiting-advanced",
    "grpc-gateway",
    "grpc-web",
    "header-cert-auth",
    "hmac-auth",
    "http-log",
    "injection-protection",
    "ip-restriction",
    "jq",
    "json-threat-protection",
    "jwe-decrypt",
    "jwt",
    "jwt-signer",
    "kafka-consume",
    "kafka-log",
    "kafka-upstream",
    "key-auth",
    "key-auth-enc",
    "ldap-auth",
    "ldap-auth-advanced",
    "loggly",
    "mocking",
    "mtls-auth",
    "oas-validation",
    "oauth2",
    "oauth2-introspection",
    "opa",
    "openid-connect",
    "opentelemetry",
    "post-function",
    "pre-function",
    "prometheus",
    "proxy-cache",
    "proxy-cache-advanced",
    "rate-limiting",
    "rate-limiting-advanced",
    "redirect",
    "request-callout",
    "request-size-limiting",
    "request-termination",
    "request-transformer",
    "request-transformer-advanced",
    "request-validator",
    "response-ratelimiting",
    "response-transformer",
    "response-transformer-advanced",
    "route-by-header",
    "route-transformer-advanced",
    "saml",
    "service-protection",
    "session",
    "solace-upstream",
    "standard-webhooks",
    "statsd",
    "statsd-advanced",
    "syslog",
    "tcp-log",
    "tls-handshake-modifier",
    "tls-metadata-headers",
    "udp-log",
    "upstream-oauth",
    "upstream-timeout",
    "vault-auth",
    "websocket-size-limit",
    "websocket-validator",
    "xml-threat-protection",
    "zipkin",
];

/// Whether Konnect would accept a plugin of this name.
pub fn is_known(name: &str) -> bool {
    REGISTRY.get(name).is_some() || KNOWN_PLUGINS.binary_search(&name).is_ok()
}

/// Kong's refusal of a plugin it does not have.
fn unknown(name: &str) -> ApiError {
    ApiError::Validation(vec![Detail::field(
        "name",
        format!("plugin '{name}' not enabled; add it to the 'plugins' configuration property"),
    )])
}

/// One detail per field, messages grouped, as koko reports schema violations; the plugin's
/// entity-level errors (Kong's `@entity`) as `ERROR_TYPE_ENTITY` details without a field.
fn field_errors(errors: &[FieldError], entity: &[String]) -> ApiError {
    let mut by_field: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for e in errors {
        by_field
            .entry(&e.field)
            .or_default()
            .push(e.message.clone());
    }
    let mut details: Vec<Detail> = by_field
        .into_iter()
        .map(|(field, messages)| Detail {
            messages,
            ..Detail::field(field, "")
        })
        .collect();
    if !entity.is_empty() {
        details.push(Detail {
            messages: entity.to_vec(),
            ..Detail::entity("")
        });
    }
    ApiError::Validation(details)
}

/// Checks a plugin body whose generic fields are already checked: the name is known, the
/// config fits the plugin's schema (stored with its defaults), the protocols are ones the
/// plugin supports (defaulting to the plugin's own default).
pub fn check(body: &mut Map<String, Value>) -> Result<(), ApiError> {
    let name = body
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let config = body.get("config").cloned().unwrap_or_else(|| json!({}));
    let Some(schema) = REGISTRY.get(&name) else {
        if !is_known(&name) {
            return Err(unknown(&name));
        }
        body.insert("config".into(), config);
        return Ok(());
    };
    // Kong reports every error of a body at once: config and protocols together.
    let mut errors = Vec::new();
    let mut entity_errors = Vec::new();
    let filled = match schema.validate_split(&config) {
        Ok(v) => Some(v),
        Err((fields, entity)) => {
            errors.extend(fields);
            entity_errors = entity;
            None
        }
    };
    // What the plugin is attached to: `consumer = typedefs.no_consumer` and the like.
    if let Err(e) = schema.validate_scope(body) {
        errors.extend(e);
    }
    // The schema's own `protocols` field decides what is allowed and fills its default.
    let protocols = match schema.validate_protocols(body.get("protocols")) {
        Ok(v) => Some(v),
        Err(e) => {
            errors.extend(e);
            None
        }
    };
    if !errors.is_empty() || !entity_errors.is_empty() {
        return Err(field_errors(&errors, &entity_errors));
    }
    if let Some(config) = filled {
        body.insert("config".into(), config);
    }
    if let Some(protocols) = protocols.filter(|p| !p.is_null()) {
        body.insert("protocols".into(), protocols);
    }
    Ok(())
}

/// The `{"fields": [...]}` body of `GET schemas/plugins/{name}`, or `None` when unknown.
pub fn schema_json(name: &str) -> Option<Value> {
    if let Some(s) = REGISTRY.get(name) {
        return Some(s.to_konnect_json());
    }
    is_known(name).then(|| {
        json!({ "fields": [
            { "config": { "type": "record", "required": true, "fields": [], "allow_unknown_fields": true } }
        ] })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_is_sorted_for_binary_search() {
        assert!(KNOWN_PLUGINS.windows(2).all(|w| w[0] < w[1]));
        for name in REGISTRY.names() {
            assert!(
                KNOWN_PLUGINS.contains(&name),
                "{name} is embedded but not listed"
            );
        }
        assert!(is_known("datakit") && is_known("upstream-oauth") && is_known("session"));
    }

    #[test]
    fn unknown_plugin_reads_like_kong() {
        let mut body = json!({"name": "nope"}).as_object().unwrap().clone();
        let e = check(&mut body).unwrap_err();
        let b = e.body();
        assert_eq!(b["message"], "validation error");
        assert_eq!(b["details"][0]["field"], "name");
        assert!(
            b["details"][0]["messages"][0]
                .as_str()
                .unwrap()
                .contains("not enabled")
        );
    }
}

#[cfg(test)]
mod engine_tests {
    use super::*;

    #[test]
    fn config_gets_defaults_and_errors_name_fields() {
        let mut body = json!({"name": "cors", "config": {}})
            .as_object()
            .unwrap()
            .clone();
        check(&mut body).unwrap();
        let config = body["config"].as_object().unwrap();
        assert!(config.len() > 1, "defaults were not filled: {config:?}");

        let mut body = json!({"name": "cors", "config": {"no_such_field": 1}})
            .as_object()
            .unwrap()
            .clone();
        let b = check(&mut body).unwrap_err().body();
        assert_eq!(b["message"], "validation error");
        assert!(
            b["details"][0]["field"]
                .as_str()
                .unwrap()
                .starts_with("config")
        );
    }

    #[test]
    fn protocols_follow_the_plugin_schema_and_errors_come_together() {
        let mut body = json!({"name": "cors", "config": {}})
            .as_object()
            .unwrap()
            .clone();
        check(&mut body).unwrap();
        assert_eq!(body["protocols"], json!(["grpc", "grpcs", "http", "https"]));

        let mut body =
            json!({"name": "cors", "config": {"no_such_field": 1}, "protocols": ["http", "tcp"]})
                .as_object()
                .unwrap()
                .clone();
        let b = check(&mut body).unwrap_err().body();
        let fields: Vec<&str> = b["details"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|d| d["field"].as_str())
            .collect();
        assert!(fields.contains(&"config.no_such_field"), "{b}");
        assert!(fields.contains(&"protocols[1]"), "{b}");
    }

    #[test]
    fn embedded_schemas_fill_kongs_defaults() {
        // Kong/kong kong/plugins/prometheus/schema.lua: every metric switch defaults to false.
        let mut body = json!({"name": "prometheus", "config": {"per_consumer": true}})
            .as_object()
            .unwrap()
            .clone();
        check(&mut body).unwrap();
        assert_eq!(body["config"]["per_consumer"], true);
        assert_eq!(body["config"]["status_code_metrics"], false);
        // kong/plugins/request-termination/schema.lua: status_code 503, echo false.
        let mut body = json!({"name": "request-termination", "config": {}})
            .as_object()
            .unwrap()
            .clone();
        check(&mut body).unwrap();
        assert_eq!(body["config"]["status_code"], 503);
        assert_eq!(body["config"]["echo"], false);
        // kong/plugins/proxy-cache/schema.lua: `strategy` is required and has no default.
        let mut body = json!({"name": "proxy-cache", "config": {}})
            .as_object()
            .unwrap()
            .clone();
        let b = check(&mut body).unwrap_err().body();
        assert_eq!(b["details"][0]["field"], "config.strategy", "{b}");
    }

    #[test]
    fn bundled_plugin_without_embedded_schema_is_accepted_as_sent() {
        let mut body = json!({"name": "zipkin", "config": {"sample_ratio": 1}})
            .as_object()
            .unwrap()
            .clone();
        check(&mut body).unwrap();
        assert_eq!(body["config"], json!({"sample_ratio": 1}));
        assert!(schema_json("zipkin").is_some());
        assert!(schema_json("no-such-plugin").is_none());
    }
}
