//! The interpreter: walks a value against a [`Field`] / [`Record`], fills defaults the way Kong's
//! `process_auto_fields` does on insert, and collects every error with its dotted path.
//!
//! Semantics follow Kong's `kong/db/schema/init.lua`: a missing field takes its default, else
//! `null` unless required; a missing required record is expanded from its own defaults; strings
//! have an implicit `len_min = 1`; one error per scalar field (the first failing validator, in
//! Kong's validator order). Where Kong reports an array as one message, we report each element
//! (`config.nodes[2].name`, zero-based), which is more useful to someone editing YAML.

use serde_json::{Map, Value};

use super::FieldError;
use super::checks;
use super::custom;
use super::model::{Field, FieldType, Record, Validators};

pub(crate) const REQUIRED: &str = "required field missing";
const UNKNOWN: &str = "unknown field";

/// Joins a record path and a field name.
pub(crate) fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_owned()
    } else {
        format!("{path}.{name}")
    }
}

pub(crate) fn push(
    errs: &mut Vec<FieldError>,
    field: impl Into<String>,
    message: impl Into<String>,
) {
    errs.push(FieldError {
        field: field.into(),
        message: message.into(),
    });
}

/// Lua's `tostring` for the values that appear in schema messages.
pub(crate) fn lua_tostring(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => match n.as_f64() {
            Some(f) => fmt_num(f),
            None => n.to_string(),
        },
        Value::Null => "null".to_owned(),
        other => other.to_string(),
    }
}

pub(crate) fn fmt_num(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{}", f as i64)
    } else {
        format!("{f}")
    }
}

/// Equality as Lua sees it: numbers compare by value (`1 == 1.0`).
pub(crate) fn lua_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

/// Kong's `is_nonempty`: not null, not an empty string, not an empty table.
pub(crate) fn is_nonempty(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(o)) => !o.is_empty(),
        Some(_) => true,
    }
}

fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

/// The length `len_eq` / `len_min` / `len_max` compare. Kong measures strings with `utf8.len`,
/// so a string counts characters (code points), not bytes: "äöü" has length 3.
fn length(v: &Value) -> Option<u64> {
    match v {
        Value::String(s) => Some(s.chars().count() as u64),
        Value::Array(a) => Some(a.len() as u64),
        Value::Object(o) => Some(o.len() as u64),
        _ => None,
    }
}

/// Runs the validators in Kong's order; the first failure is the field's error.
pub(crate) fn run_validators(
    v: &Validators,
    value: &Value,
    implicit_len_min: bool,
) -> Result<(), String> {
    if let Some(want) = &v.eq
        && !lua_eq(value, want)
    {
        return Err(format!("value must be {}", lua_tostring(want)));
    }
    if let Some(unwanted) = &v.ne
        && lua_eq(value, unwanted)
    {
        return Err(format!("value must not be {}", lua_tostring(value)));
    }
    // Kong's `Schema.validators_order`: not_one_of before one_of.
    if let Some(options) = &v.not_one_of
        && options.iter().any(|o| lua_eq(value, o))
    {
        let list: Vec<String> = options.iter().map(lua_tostring).collect();
        return Err(format!("must not be one of: {}", list.join(", ")));
    }
    if let Some(options) = &v.one_of
        && !options.iter().any(|o| lua_eq(value, o))
    {
        let list: Vec<String> = options.iter().map(lua_tostring).collect();
        return Err(format!("expected one of: {}", list.join(", ")));
    }
    let num = value.as_f64();
    if let (Some(limit), Some(n)) = (v.gt, num)
        && n <= limit
    {
        return Err(format!("value must be greater than {}", fmt_num(limit)));
    }
    if v.timestamp && num.is_some_and(|n| n <= 0.0) {
        return Err("expected a valid timestamp".to_owned());
    }
    if v.uuid && value.as_str().is_some_and(|s| !is_uuid(s)) {
        return Err("expected a valid UUID".to_owned());
    }
    if let (Some((lo, hi)), Some(n)) = (v.between, num)
        && (n < lo || n > hi)
    {
        return Err(format!(
            "value should be between {} and {}",
            fmt_num(lo),
            fmt_num(hi)
        ));
    }
    if let Some(len) = length(value) {
        if let Some(n) = v.len_eq
            && len != n
        {
            return Err(format!("length must be {n}"));
        }
        let len_min = v.len_min.or(if implicit_len_min { Some(1) } else { None });
        if let Some(n) = len_min
            && len < n
        {
            return Err(format!("length must be at least {n}"));
        }
        if let Some(n) = v.len_max
            && len > n
        {
            return Err(format!("length must be at most {n}"));
        }
    }
    if let Some(s) = value.as_str() {
        if let Some(prefix) = &v.starts_with
            && !s.starts_with(prefix.as_str())
        {
            return Err(format!("should start with: {prefix}"));
        }
        if let Some(p) = &v.not_match
            && p.is_match(s)
        {
            return Err(format!("invalid value: {s}"));
        }
        if let Some(pe) = v.match_none.iter().find(|pe| pe.pattern.is_match(s)) {
            return Err(pe.err.clone());
        }
        if let Some(p) = &v.match_
            && !p.is_match(s)
        {
            return Err(format!("invalid value: {s}"));
        }
        if let Some(pe) = v.match_all.iter().find(|pe| !pe.pattern.is_match(s)) {
            return Err(pe.err.clone());
        }
        if let Some((patterns, e)) = &v.match_any
            && !patterns.iter().any(|p| p.is_match(s))
        {
            return Err(e.clone());
        }
    }
    if let (Some(want), Value::Array(items)) = (&v.contains, value)
        && !items.iter().any(|i| lua_eq(i, want))
    {
        return Err(format!("expected to contain: {}", lua_tostring(want)));
    }
    Ok(())
}

/// Kong's `handle_missing_field` for a field absent from the input.
fn missing(field: &Field, path: &str, errs: &mut Vec<FieldError>) -> Value {
    if let Some(d) = &field.default {
        return d.clone();
    }
    if !field.required {
        return Value::Null;
    }
    if let Some(rec) = &field.record {
        return process_record(rec, &Map::new(), path, errs);
    }
    push(errs, path, REQUIRED);
    Value::Null
}

/// Processes one value: `None` when the key is absent. Returns the value as Konnect would store
/// it (defaults filled); errors go to `errs`.
pub(crate) fn process_field(
    field: &Field,
    value: Option<&Value>,
    path: &str,
    errs: &mut Vec<FieldError>,
) -> Value {
    let value = match value {
        None => return missing(field, path, errs),
        Some(Value::Null) => {
            if field.required {
                push(errs, path, REQUIRED);
            }
            return Value::Null;
        }
        Some(v) => v,
    };
    let type_error = |errs: &mut Vec<FieldError>, what: &str| {
        push(errs, path, format!("expected {what}"));
        value.clone()
    };
    let out = match field.ty {
        FieldType::String if !value.is_string() => return type_error(errs, "a string"),
        FieldType::Number if !value.is_number() => return type_error(errs, "a number"),
        FieldType::Integer
            if !value
                .as_f64()
                .is_some_and(|f| f.is_finite() && f.fract() == 0.0) =>
        {
            return type_error(errs, "an integer");
        }
        FieldType::Boolean if !value.is_boolean() => return type_error(errs, "a boolean"),
        FieldType::Array | FieldType::Set => {
            let items: &[Value] = match value {
                Value::Array(a) => a,
                // An empty Lua table is both an empty array and an empty map.
                Value::Object(o) if o.is_empty() => &[],
                _ => {
                    let what = if field.ty == FieldType::Set {
                        "a set"
                    } else {
                        "an array"
                    };
                    return type_error(errs, what);
                }
            };
            let Some(elements) = &field.elements else {
                return value.clone();
            };
            let processed: Vec<Value> = items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    let p = format!("{path}[{i}]");
                    // Elements are implicitly required: a null element is an error.
                    if item.is_null() {
                        push(errs, &p, REQUIRED);
                        return Value::Null;
                    }
                    process_field(elements, Some(item), &p, errs)
                })
                .collect();
            Value::Array(processed)
        }
        FieldType::Map => {
            let obj = match value {
                Value::Object(o) => o.clone(),
                Value::Array(a) if a.is_empty() => Map::new(),
                _ => return type_error(errs, "a map"),
            };
            let (Some(keys), Some(values)) = (&field.keys, &field.values) else {
                return Value::Object(obj);
            };
            let mut out = Map::new();
            for (k, v) in &obj {
                let p = format!("{path}.{k}");
                let before = errs.len();
                process_field(keys, Some(&Value::String(k.clone())), &p, errs);
                if errs.len() > before {
                    out.insert(k.clone(), v.clone());
                    continue;
                }
                if v.is_null() {
                    push(errs, &p, REQUIRED);
                    out.insert(k.clone(), Value::Null);
                    continue;
                }
                out.insert(k.clone(), process_field(values, Some(v), &p, errs));
            }
            Value::Object(out)
        }
        FieldType::Record => {
            let Value::Object(obj) = value else {
                return type_error(errs, "a record");
            };
            match &field.record {
                Some(rec) => process_record(rec, obj, path, errs),
                None => value.clone(),
            }
        }
        FieldType::Foreign => {
            if !value.is_object() {
                return type_error(errs, "a record");
            }
            value.clone()
        }
        _ => value.clone(),
    };
    // Aggregates run the length/contains validators on their (processed) value too.
    if let Err(message) = run_validators(&field.validators, &out, field.ty == FieldType::String) {
        // Kong echoes the value in some messages ("invalid value: ..."); a secret must not
        // reach a log, an Event or a condition that way.
        let message = match (&out, field.sensitive) {
            (Value::String(s), true) if !s.is_empty() => message.replace(s.as_str(), "[redacted]"),
            _ => message,
        };
        push(errs, path, message);
    }
    out
}

/// Sets `value` at a relative dotted path inside `map`, creating records on the way; does not
/// overwrite a value the user gave at the new place.
fn set_path(map: &mut Map<String, Value>, target: &[String], value: Value) {
    let Some((last, parents)) = target.split_last() else {
        return;
    };
    let mut cur = map;
    for p in parents {
        let entry = cur
            .entry(p.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        if entry.is_null() {
            *entry = Value::Object(Map::new());
        }
        let Value::Object(next) = entry else {
            return;
        };
        cur = next;
    }
    if cur.get(last).is_none_or(Value::is_null) {
        cur.insert(last.clone(), value);
    }
}

/// Processes a record value: shorthands, subschema, unknown keys, each field, entity checks and
/// the named custom validator.
pub(crate) fn process_record(
    rec: &Record,
    input: &Map<String, Value>,
    path: &str,
    errs: &mut Vec<FieldError>,
) -> Value {
    // Deprecated aliases first, so the new fields see their values. The input is copied only
    // when it uses one (translation validates thousands of configurations that do not).
    let mut work = std::borrow::Cow::Borrowed(input);
    for sh in &rec.shorthands {
        if !work.contains_key(&sh.name) {
            continue;
        }
        let Some(v) = work.to_mut().remove(&sh.name) else {
            continue;
        };
        let before = errs.len();
        let v = process_field(&sh.field, Some(&v), &join(path, &sh.name), errs);
        if errs.len() == before
            && !v.is_null()
            && let Some(target) = &sh.target
        {
            set_path(work.to_mut(), target, v);
        }
    }

    let variant = rec.subschema_key.as_ref().and_then(|key| {
        work.get(key)
            .and_then(Value::as_str)
            .and_then(|k| rec.subschemas.get(k))
    });
    let mut fields: Vec<(&String, &Field)> = rec.fields.iter().map(|(n, f)| (n, f)).collect();
    if let Some(var) = variant {
        for (name, f) in &var.fields {
            match fields.iter_mut().find(|(n, _)| *n == name) {
                Some(slot) => slot.1 = f,
                None => fields.push((name, f)),
            }
        }
    }

    let mut out = Map::with_capacity(fields.len());
    for (name, field) in &fields {
        let v = process_field(field, work.get(name.as_str()), &join(path, name), errs);
        out.insert((*name).clone(), v);
    }
    for (k, v) in work.iter() {
        if fields.iter().any(|(n, _)| *n == k) {
            continue;
        }
        if rec.allow_unknown_fields {
            out.insert(k.clone(), v.clone());
        } else {
            push(errs, join(path, k), UNKNOWN);
        }
    }

    let entity_path = if path.is_empty() { "config" } else { path };
    let variant_checks = variant.map(|v| v.entity_checks.as_slice()).unwrap_or(&[]);
    for check in rec.entity_checks.iter().chain(variant_checks) {
        checks::run(check, &out, path, entity_path, errs);
    }
    if let Some(name) = &rec.custom_validator {
        custom::run(name, &out, path, errs);
    }
    if let Some(name) = variant.and_then(|v| v.custom_validator.as_ref()) {
        custom::run(name, &out, path, errs);
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::model::parse_field;
    use serde_json::json;

    fn check(def: Value, value: Value) -> (Value, Vec<String>) {
        let field = parse_field(&def, "config").expect("test schema parses");
        let mut errs = Vec::new();
        let out = process_field(&field, Some(&value), "config", &mut errs);
        (out, errs.iter().map(ToString::to_string).collect())
    }

    fn rec(fields: Value) -> Value {
        json!({"type": "record", "fields": fields})
    }

    #[test]
    fn scalar_types() {
        let (_, e) = check(rec(json!([{"a": {"type": "string"}}])), json!({"a": 1}));
        assert_eq!(e, ["config.a: expected a string"]);
        let (_, e) = check(rec(json!([{"a": {"type": "integer"}}])), json!({"a": 1.5}));
        assert_eq!(e, ["config.a: expected an integer"]);
        let (_, e) = check(rec(json!([{"a": {"type": "integer"}}])), json!({"a": 2.0}));
        assert!(e.is_empty(), "{e:?}");
        let (_, e) = check(rec(json!([{"a": {"type": "number"}}])), json!({"a": "1"}));
        assert_eq!(e, ["config.a: expected a number"]);
        let (_, e) = check(
            rec(json!([{"a": {"type": "boolean"}}])),
            json!({"a": "true"}),
        );
        assert_eq!(e, ["config.a: expected a boolean"]);
        let (_, e) = check(
            rec(json!([{"a": {"type": "json"}}])),
            json!({"a": {"x": [1]}}),
        );
        assert!(e.is_empty());
    }

    #[test]
    fn defaults_nulls_required_and_unknown() {
        let schema = rec(json!([
            {"a": {"type": "string", "default": "x"}},
            {"b": {"type": "string"}},
            {"c": {"type": "string", "required": true}},
            {"r": {"type": "record", "required": true, "fields": [{"d": {"type": "integer", "default": 5}}]}},
        ]));
        let (out, e) = check(schema.clone(), json!({"zz": 1}));
        assert_eq!(
            e,
            [
                "config.c: required field missing",
                "config.zz: unknown field"
            ]
        );
        assert_eq!(out, json!({"a": "x", "b": null, "c": null, "r": {"d": 5}}));
        let (out, e) = check(schema, json!({"c": "v", "a": "y", "r": {"d": 7}}));
        assert!(e.is_empty());
        assert_eq!(out, json!({"a": "y", "b": null, "c": "v", "r": {"d": 7}}));
    }

    #[test]
    fn validators_messages() {
        let cases = [
            (
                json!({"type": "string", "one_of": ["a", "b"]}),
                json!("c"),
                "expected one of: a, b",
            ),
            (
                json!({"type": "integer", "between": [0, 100]}),
                json!(101),
                "value should be between 0 and 100",
            ),
            (
                json!({"type": "number", "gt": 0}),
                json!(0),
                "value must be greater than 0",
            ),
            (
                json!({"type": "string"}),
                json!(""),
                "length must be at least 1",
            ),
            (
                json!({"type": "string", "len_max": 3}),
                json!("abcd"),
                "length must be at most 3",
            ),
            (
                json!({"type": "string", "len_eq": 2}),
                json!("abc"),
                "length must be 2",
            ),
            (
                json!({"type": "string", "match": "^%u+$"}),
                json!("get"),
                "invalid value: get",
            ),
            (
                json!({"type": "string", "not_match": "//"}),
                json!("/a//b"),
                "invalid value: /a//b",
            ),
            (
                json!({"type": "string", "match_none": [{"pattern": "//", "err": "must not have empty segments"}]}),
                json!("a//"),
                "must not have empty segments",
            ),
            (
                json!({"type": "string", "match_all": [{"pattern": "^a", "err": "must start with a"}]}),
                json!("b"),
                "must start with a",
            ),
            (
                json!({"type": "string", "match_any": {"patterns": ["^a", "^b"], "err": "must start with a or b"}}),
                json!("c"),
                "must start with a or b",
            ),
            (
                json!({"type": "string", "starts_with": "/"}),
                json!("x"),
                "should start with: /",
            ),
            (
                json!({"type": "string", "uuid": true}),
                json!("not-a-uuid"),
                "expected a valid UUID",
            ),
            (
                json!({"type": "string", "eq": "x"}),
                json!("y"),
                "value must be x",
            ),
            (
                json!({"type": "string", "ne": "x"}),
                json!("x"),
                "value must not be x",
            ),
            (
                json!({"type": "array", "elements": {"type": "string"}, "len_min": 1}),
                json!([]),
                "length must be at least 1",
            ),
            (
                json!({"type": "array", "elements": {"type": "string"}, "contains": "exp"}),
                json!(["nbf"]),
                "expected to contain: exp",
            ),
            (
                json!({"type": "integer", "timestamp": true}),
                json!(0),
                "expected a valid timestamp",
            ),
        ];
        for (def, value, msg) in cases {
            let (_, e) = check(rec(json!([{"f": def}])), json!({"f": value}));
            assert_eq!(e, [format!("config.f: {msg}")], "{def}");
        }
        let (_, e) = check(
            rec(json!([{"f": {"type": "string", "uuid": true}}])),
            json!({"f": "3473c251-5b6c-4f45-b1ff-7ede735a366d"}),
        );
        assert!(e.is_empty());
    }

    #[test]
    fn string_length_counts_characters_not_bytes() {
        // "äöü" is 3 characters in 6 UTF-8 bytes; "日本" is 2 characters in 6 bytes.
        let max3 = rec(json!([{"f": {"type": "string", "len_max": 3}}]));
        let (_, e) = check(max3.clone(), json!({"f": "äöü"}));
        assert!(e.is_empty(), "{e:?}");
        let (_, e) = check(max3, json!({"f": "äöüß"}));
        assert_eq!(e, ["config.f: length must be at most 3"]);
        let (_, e) = check(
            rec(json!([{"f": {"type": "string", "len_min": 4}}])),
            json!({"f": "äöü"}),
        );
        assert_eq!(e, ["config.f: length must be at least 4"]);
        let (_, e) = check(
            rec(json!([{"f": {"type": "string", "len_eq": 2}}])),
            json!({"f": "日本"}),
        );
        assert!(e.is_empty(), "{e:?}");
    }

    #[test]
    fn aggregates_report_each_element_with_its_path() {
        let schema = rec(json!([
            {"list": {"type": "array", "elements": {"type": "string", "one_of": ["a"]}}},
            {"m": {"type": "map", "keys": {"type": "string"}, "values": {"type": "integer"}}},
            {"recs": {"type": "array", "elements": {"type": "record", "fields": [{"n": {"type": "string", "required": true}}]}}},
        ]));
        let (_, e) = check(
            schema,
            json!({"list": ["a", "b", null], "m": {"k": "x"}, "recs": [{"n": "ok"}, {}]}),
        );
        assert_eq!(
            e,
            [
                "config.list[1]: expected one of: a",
                "config.list[2]: required field missing",
                "config.m.k: expected an integer",
                "config.recs[1].n: required field missing",
            ]
        );
        let (_, e) = check(
            rec(json!([{"s": {"type": "set", "elements": {"type": "string"}}}])),
            json!({"s": "x"}),
        );
        assert_eq!(e, ["config.s: expected a set"]);
    }

    #[test]
    fn sensitive_values_are_not_echoed() {
        let (_, e) = check(
            rec(json!([{"s": {"type": "string", "match": "^x", "referenceable": true}}])),
            json!({"s": "canary-123"}),
        );
        assert_eq!(e, ["config.s: invalid value: [redacted]"]);
        let (_, e) = check(
            rec(json!([{"s": {"type": "string", "match": "^x"}}])),
            json!({"s": "plain"}),
        );
        assert_eq!(e, ["config.s: invalid value: plain"]);
    }

    #[test]
    fn shorthand_moves_to_new_place() {
        let schema = json!({"type": "record",
            "fields": [{"redis": {"type": "record", "required": true, "fields": [{"host": {"type": "string"}}]}}],
            "shorthand_fields": [{"redis_host": {"type": "string", "translate_backwards": ["redis", "host"]}}]});
        let (out, e) = check(schema, json!({"redis_host": "h"}));
        assert!(e.is_empty(), "{e:?}");
        assert_eq!(out, json!({"redis": {"host": "h"}}));
    }

    #[test]
    fn subschemas_select_fields_by_key() {
        let schema = json!({"type": "record", "subschema_key": "type",
            "fields": [{"type": {"type": "string", "required": true, "one_of": ["a", "b"]}}],
            "subschemas": {
                "a": {"fields": [{"x": {"type": "string", "required": true}}]},
                "b": {"fields": [{"y": {"type": "integer", "default": 1}}]}}});
        let (out, e) = check(schema.clone(), json!({"type": "b"}));
        assert!(e.is_empty());
        assert_eq!(out, json!({"type": "b", "y": 1}));
        let (_, e) = check(schema.clone(), json!({"type": "a", "y": 2}));
        assert_eq!(
            e,
            [
                "config.x: required field missing",
                "config.y: unknown field"
            ]
        );
        let (_, e) = check(schema, json!({"type": "c"}));
        assert_eq!(e, ["config.type: expected one of: a, b"]);
    }
}
