//! An oracle for the schema engine that the operator and the emulator share: the emulator
//! validates plugins with the same engine, so a test against the emulator cannot catch an
//! engine bug. These fixtures are Kong's own rules and messages, taken from Kong's source, not
//! from the engine:
//!
//! - messages: Kong/kong `kong/db/schema/init.lua` (commit
//!   265fae885047cf92f2f4abda3a119f5aa39ab071), table `validation_errors` and the functions of
//!   `Schema.validators`; the order in which a field's validators run is its
//!   `Schema.validators_order` (eq, ne, not_one_of, one_of, gt, timestamp, uuid, is_regex,
//!   between, len_eq, len_min, len_max, starts_with, not_match, match_none, match, match_all,
//!   match_any, contains, custom_validator);
//! - entity checkers: the same file, `Schema.entity_checkers` and `quoted_list`;
//! - `eq = null` foreign fields: `kong/db/schema/typedefs.lua` (`no_consumer`, `no_route`,
//!   `no_service`).
//!
//! And a completeness check: no rule of an embedded schema may be skipped by the engine (a Lua
//! pattern it cannot translate, an entity check or custom validator it does not know).

use konnect_plugin_operator::schema::{PluginSchema, embedded_json, skipped_rules};
use serde_json::{Value, json};

/// A schema with one config field `f` defined by `def`.
fn one_field(def: Value) -> PluginSchema {
    PluginSchema::from_konnect_json(&json!({
        "fields": [{"config": {"type": "record", "fields": [{"f": def}]}}]
    }))
    .expect("fixture schema parses")
}

/// (field definition, value, Kong's message or None when Kong accepts the value).
fn field_fixtures() -> Vec<(Value, Value, Option<&'static str>)> {
    vec![
        // Types (validation_errors ARRAY..INTEGER).
        (
            json!({"type": "string"}),
            json!(1),
            Some("expected a string"),
        ),
        (
            json!({"type": "number"}),
            json!("1"),
            Some("expected a number"),
        ),
        (
            json!({"type": "integer"}),
            json!(1.5),
            Some("expected an integer"),
        ),
        (
            json!({"type": "boolean"}),
            json!("true"),
            Some("expected a boolean"),
        ),
        (
            json!({"type": "array", "elements": {"type": "string"}}),
            json!("x"),
            Some("expected an array"),
        ),
        (
            json!({"type": "set", "elements": {"type": "string"}}),
            json!("x"),
            Some("expected a set"),
        ),
        (
            json!({"type": "map", "keys": {"type": "string"}, "values": {"type": "string"}}),
            json!("x"),
            Some("expected a map"),
        ),
        (
            json!({"type": "record", "fields": []}),
            json!("x"),
            Some("expected a record"),
        ),
        // EQ / NE ("value must be %s", "value must not be %s").
        (
            json!({"type": "string", "eq": "a"}),
            json!("b"),
            Some("value must be a"),
        ),
        (json!({"type": "string", "eq": "a"}), json!("a"), None),
        (
            json!({"type": "string", "ne": "a"}),
            json!("a"),
            Some("value must not be a"),
        ),
        // GT, BETWEEN ("value should be between %d and %d").
        (
            json!({"type": "number", "gt": 5}),
            json!(5),
            Some("value must be greater than 5"),
        ),
        (
            json!({"type": "integer", "between": [1, 10]}),
            json!(11),
            Some("value should be between 1 and 10"),
        ),
        (
            json!({"type": "integer", "between": [1, 10]}),
            json!(10),
            None,
        ),
        // Lengths; strings have an implicit len_min of 1 (Schema.validate_field).
        (
            json!({"type": "string", "len_eq": 3}),
            json!("ab"),
            Some("length must be 3"),
        ),
        (
            json!({"type": "string", "len_min": 3}),
            json!("ab"),
            Some("length must be at least 3"),
        ),
        (
            json!({"type": "string", "len_max": 2}),
            json!("abc"),
            Some("length must be at most 2"),
        ),
        (
            json!({"type": "string"}),
            json!(""),
            Some("length must be at least 1"),
        ),
        (
            json!({"type": "array", "elements": {"type": "string"}, "len_min": 1}),
            json!([]),
            Some("length must be at least 1"),
        ),
        // Patterns: MATCH / NOT_MATCH ("invalid value: %s"); match_all, match_none and
        // match_any report their own `err`.
        (
            json!({"type": "string", "match": "^%d+$"}),
            json!("x1"),
            Some("invalid value: x1"),
        ),
        (
            json!({"type": "string", "match": "^%d+$"}),
            json!("12"),
            None,
        ),
        (
            json!({"type": "string", "not_match": "^%d+$"}),
            json!("12"),
            Some("invalid value: 12"),
        ),
        (
            json!({"type": "string", "match_all": [{"pattern": "^a", "err": "must start with a"}]}),
            json!("ba"),
            Some("must start with a"),
        ),
        (
            json!({"type": "string", "match_none": [{"pattern": "//", "err": "must not have empty segments"}]}),
            json!("/a//b"),
            Some("must not have empty segments"),
        ),
        (
            json!({"type": "string", "match_any": {"patterns": ["^/", "^~/"], "err": "should start with: / (fixed path) or ~/ (regex path)"}}),
            json!("a"),
            Some("should start with: / (fixed path) or ~/ (regex path)"),
        ),
        (
            json!({"type": "string", "match_any": {"patterns": ["^/", "^~/"], "err": "x"}}),
            json!("~/a"),
            None,
        ),
        // A Lua character class and a frontier-free pattern Kong uses (typedefs.tag before 3.x,
        // key-auth key names).
        (
            json!({"type": "string", "match": "^[%w%.%-%_~]+$"}),
            json!("a.b-c_d~e"),
            None,
        ),
        (
            json!({"type": "string", "match": "^[%w%.%-%_~]+$"}),
            json!("a b"),
            Some("invalid value: a b"),
        ),
        (
            json!({"type": "string", "match": "^%u+$"}),
            json!("GET"),
            None,
        ),
        (
            json!({"type": "string", "match": "^%u+$"}),
            json!("get"),
            Some("invalid value: get"),
        ),
        // STARTS_WITH, CONTAINS, ONE_OF, NOT_ONE_OF, UUID.
        (
            json!({"type": "string", "starts_with": "/"}),
            json!("a"),
            Some("should start with: /"),
        ),
        (
            json!({"type": "array", "elements": {"type": "string"}, "contains": "exp"}),
            json!(["nbf"]),
            Some("expected to contain: exp"),
        ),
        (
            json!({"type": "string", "one_of": ["a", "b"]}),
            json!("c"),
            Some("expected one of: a, b"),
        ),
        (
            json!({"type": "string", "not_one_of": ["a", "b"]}),
            json!("a"),
            Some("must not be one of: a, b"),
        ),
        (
            json!({"type": "string", "uuid": true}),
            json!("nope"),
            Some("expected a valid UUID"),
        ),
        // validators_order: not_one_of runs before one_of.
        (
            json!({"type": "string", "one_of": ["a", "b"], "not_one_of": ["c"]}),
            json!("c"),
            Some("must not be one of: c"),
        ),
        // ... and starts_with before match.
        (
            json!({"type": "string", "starts_with": "/", "match": "^/%w+$"}),
            json!("a"),
            Some("should start with: /"),
        ),
        // REQUIRED.
        (
            json!({"type": "string", "required": true}),
            Value::Null,
            Some("required field missing"),
        ),
    ]
}

#[test]
fn field_rules_and_messages_match_kong() {
    let mut failures = Vec::new();
    for (def, value, want) in field_fixtures() {
        let schema = one_field(def.clone());
        let config = if value.is_null() {
            json!({})
        } else {
            json!({ "f": value })
        };
        let got = schema.validate(&config);
        let got_msgs: Vec<String> = match &got {
            Ok(_) => Vec::new(),
            Err(es) => es.iter().map(ToString::to_string).collect(),
        };
        let ok = match want {
            None => got.is_ok(),
            Some(m) => got_msgs == [format!("config.f: {m}")],
        };
        if !ok {
            failures.push(format!(
                "{def} with {value}: want {want:?}, got {got_msgs:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn unknown_fields_are_refused_like_kong() {
    // validation_errors.UNKNOWN.
    let schema = one_field(json!({"type": "string"}));
    let e = schema.validate(&json!({"g": 1})).unwrap_err();
    assert_eq!(e[0].to_string(), "config.g: unknown field");
}

#[test]
fn entity_checkers_match_kong() {
    // (entity check, config, Kong's message). Messages: validation_errors AT_LEAST_ONE_OF,
    // ONLY_ONE_OF, MUTUALLY_REQUIRED, DISTINCT, with `quoted_list` of the field names.
    let fields = json!([
        {"a": {"type": "string"}},
        {"b": {"type": "string"}},
    ]);
    let cases = [
        (
            json!({"at_least_one_of": ["config.a", "config.b"]}),
            json!({}),
            "at least one of these fields must be non-empty: 'config.a', 'config.b'",
        ),
        (
            json!({"only_one_of": ["config.a", "config.b"]}),
            json!({"a": "x", "b": "y"}),
            "only one of these fields must be non-empty: 'config.a', 'config.b'",
        ),
        (
            json!({"mutually_required": ["config.a", "config.b"]}),
            json!({"a": "x"}),
            "all or none of these fields must be set: 'config.a', 'config.b'",
        ),
        (
            json!({"distinct": ["config.a", "config.b"]}),
            json!({"a": "x", "b": "x"}),
            "values of these fields must be distinct: 'config.a', 'config.b'",
        ),
    ];
    for (check, config, want) in cases {
        let schema = PluginSchema::from_konnect_json(&json!({
            "fields": [{"config": {"type": "record", "fields": fields}}],
            "entity_checks": [check],
        }))
        .expect("parses");
        // Plugin-level checks are Kong `@entity` errors: apart from the field errors.
        match schema.validate_split(&config) {
            Err((field_errors, entity)) => {
                assert!(field_errors.is_empty(), "{check}: {field_errors:?}");
                assert_eq!(entity, vec![want.to_string()], "{check}");
            }
            Ok(v) => panic!("{check}: accepted {v}"),
        }
    }
}

#[test]
fn eq_null_foreign_fields_forbid_the_scope() {
    // typedefs.no_consumer / no_route / no_service: `type = "foreign", eq = null`; the eq
    // validator answers "value must be null" (`(wanted == null) and "null"`).
    let schema = PluginSchema::from_konnect_json(&json!({
        "fields": [
            {"consumer": {"type": "foreign", "reference": "consumers", "eq": null}},
            {"route": {"type": "foreign", "reference": "routes", "eq": null}},
            {"service": {"type": "foreign", "reference": "services"}},
            {"config": {"type": "record", "fields": []}},
        ]
    }))
    .expect("parses");
    let scope = |k: &str| {
        let mut m = serde_json::Map::new();
        m.insert(
            k.into(),
            json!({"id": "7c2ab0b4-9d1e-4a0c-8d55-1f2b3c4d5e6f"}),
        );
        m
    };
    let e = schema.validate_scope(&scope("consumer")).unwrap_err();
    assert_eq!(e[0].to_string(), "consumer: value must be null");
    let e = schema.validate_scope(&scope("route")).unwrap_err();
    assert_eq!(e[0].to_string(), "route: value must be null");
    schema
        .validate_scope(&scope("service"))
        .expect("services allowed");
    schema
        .validate_scope(&serde_json::Map::new())
        .expect("global allowed");
    assert_eq!(schema.forbidden_scopes(), vec!["consumer", "route"]);
}

/// Kong's plugin schemas that declare `consumer = typedefs.no_consumer`, each in
/// Kong/kong `kong/plugins/<name>/schema.lua` (key-auth, cors, acl, basic-auth, jwt, session,
/// bot-detection); openid-connect is Kong Gateway Enterprise's, whose documentation lists
/// no consumer scope for it.
#[test]
fn embedded_schemas_forbid_consumers_where_kong_does() {
    const NO_CONSUMER: &[&str] = &[
        "acl",
        "basic-auth",
        "bot-detection",
        "cors",
        "jwt",
        "key-auth",
        "openid-connect",
        "session",
    ];
    // Plugins Kong allows on consumers (no `consumer` restriction in their schema.lua).
    const CONSUMER_OK: &[&str] = &[
        "correlation-id",
        "file-log",
        "http-log",
        "ip-restriction",
        "prometheus",
        "proxy-cache",
        "rate-limiting",
        "request-termination",
        "request-transformer",
        "response-ratelimiting",
        "response-transformer",
    ];
    for (name, v) in embedded_json() {
        let schema = PluginSchema::from_konnect_json(&v).expect("parses");
        let forbids = schema.forbidden_scopes().contains(&"consumer");
        if NO_CONSUMER.contains(&name) {
            assert!(forbids, "{name} must forbid consumers");
        }
        if CONSUMER_OK.contains(&name) {
            assert!(!forbids, "{name} must allow consumers");
        }
    }
}

#[test]
fn no_embedded_schema_rule_is_skipped() {
    let mut skipped = Vec::new();
    for (name, v) in embedded_json() {
        skipped.extend(
            skipped_rules(&v)
                .into_iter()
                .map(|s| format!("{name}: {s}")),
        );
    }
    assert!(
        skipped.is_empty(),
        "rules the engine would not check:\n{}",
        skipped.join("\n")
    );
}

#[test]
fn the_skip_detector_can_fail() {
    let v = json!({
        "fields": [{"config": {"type": "record", "fields": [
            {"a": {"type": "string", "match": "%f[%w]x"}},
        ]}}],
        "entity_checks": [{"custom_entity_check": {"field_sources": ["config.a"]}}],
    });
    let s = skipped_rules(&v);
    assert_eq!(s.len(), 2, "{s:?}");
}
