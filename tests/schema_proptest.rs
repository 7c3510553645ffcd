//! The interpreter never panics, whatever the configuration or the schema, and what it accepts
//! is a fixed point (validating its output again gives the same output).

use konnect_plugin_operator::schema::{PluginSchema, Registry};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

/// Keys that occur in the embedded schemas, so random objects reach deep into them.
const KEYS: &[&str] = &[
    "oauth",
    "token_endpoint",
    "grant_type",
    "client_id",
    "client_secret",
    "username",
    "password",
    "cache",
    "strategy",
    "redis",
    "memory",
    "host",
    "port",
    "sentinel_nodes",
    "cluster_nodes",
    "sentinel_master",
    "sentinel_role",
    "client",
    "auth_method",
    "behavior",
    "nodes",
    "name",
    "type",
    "input",
    "inputs",
    "output",
    "outputs",
    "jq",
    "url",
    "values",
    "then",
    "else",
    "minute",
    "hour",
    "policy",
    "limit_by",
    "allow",
    "deny",
    "config",
    "fields",
    "record",
    "elements",
    "one_of",
    "between",
    "match",
    "entity_checks",
    "required",
    "default",
    "cookie_path",
    "storage",
    "redis_host",
    "key_names",
    "methods",
    "add",
    "headers",
    "issuer",
];

const STRINGS: &[&str] = &[
    "",
    "redis",
    "memory",
    "password",
    "none",
    "jq",
    "call",
    "static",
    "branch",
    "exit",
    "A",
    "B",
    "request.body",
    "A.out",
    "service_request.headers",
    "/",
    "GET",
    "x:y",
    "string",
    "record",
    "array",
    "map",
    "set",
    "integer",
    "%b()",
    "[",
    "^%u+$",
    "%",
    "(",
    "%1",
];

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (-1e6f64..1e6).prop_map(Value::from),
        prop::sample::select(STRINGS).prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(KEYS), inner), 0..6).prop_map(|kv| {
                Value::Object(
                    kv.into_iter()
                        .map(|(k, v)| (k.to_owned(), v))
                        .collect::<Map<_, _>>(),
                )
            }),
        ]
    })
}

fn plugin_name() -> impl Strategy<Value = String> {
    let names: Vec<String> = Registry::embedded().names().map(str::to_owned).collect();
    prop::sample::select(names)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn any_config_never_panics_and_accepted_output_is_a_fixed_point(
        name in plugin_name(),
        config in json_value(),
    ) {
        let registry = Registry::embedded();
        match registry.validate_plugin(&name, &config) {
            Ok(out) => {
                let again = registry.validate_plugin(&name, &out);
                prop_assert_eq!(again.as_ref().ok(), Some(&out), "{}", name);
            }
            Err(outcome) => {
                let text = outcome.to_string();
                prop_assert!(!text.is_empty());
            }
        }
    }

    #[test]
    fn every_error_names_a_config_path(name in plugin_name(), config in json_value()) {
        if let Err(konnect_plugin_operator::schema::ValidationOutcome::Invalid(errors)) =
            Registry::embedded().validate_plugin(&name, &config)
        {
            prop_assert!(!errors.is_empty());
            for e in errors {
                prop_assert!(e.field.starts_with("config"), "{}", e);
                prop_assert!(!e.message.is_empty());
            }
        }
    }

    #[test]
    fn mutating_a_valid_datakit_graph_never_panics(
        node in 0usize..4,
        key in prop::sample::select(KEYS),
        value in json_value(),
    ) {
        let mut config = json!({"nodes": [
            {"name": "A", "type": "jq", "input": "request.body", "jq": "."},
            {"name": "B", "type": "jq", "input": "A", "jq": "."},
            {"name": "C", "type": "call", "inputs": {"body": "B"}, "url": "https://x"},
            {"name": "D", "type": "exit", "inputs": {"body": "C.body"}}
        ]});
        config["nodes"][node][key] = value;
        let _ = Registry::embedded().validate_plugin("datakit", &config);
    }

    #[test]
    fn any_schema_json_never_panics(schema in json_value(), config in json_value()) {
        let wrapped = json!({"fields": [{"config": {"type": "record", "fields": [{"x": schema.clone()}]}}]});
        for candidate in [schema, wrapped] {
            if let Ok(s) = PluginSchema::from_konnect_json(&candidate) {
                let _ = s.validate(&config);
            }
        }
    }

    #[test]
    fn any_lua_pattern_never_panics(pattern in ".{0,16}", value in ".{0,16}") {
        let schema = json!({"fields": [{"config": {"type": "record", "fields": [
            {"s": {"type": "string", "match": pattern.clone(), "not_match": pattern.clone(),
                   "match_any": {"patterns": [pattern.clone()], "err": "no"},
                   "match_none": [{"pattern": pattern, "err": "no"}]}}]}}]});
        if let Ok(s) = PluginSchema::from_konnect_json(&schema) {
            let _ = s.validate(&json!({"s": value}));
        }
    }
}
