//! The OpenAPI-to-JSON-Schema conversion the conformance tests share: a response schema of the
//! official Konnect specs made standalone (refs inlined, `nullable` honoured, `allOf` merged) and
//! strict (objects closed unless the spec opens them). Included by tests/emulator_conformance.rs
//! and tests/apps_conformance.rs with `#[path = "support/spec.rs"] mod spec;`.

#![allow(dead_code)]

use serde_json::{Map, Value, json};

pub fn pointer<'a>(spec: &'a Value, reference: &str) -> &'a Value {
    let p = reference.trim_start_matches('#');
    spec.pointer(p)
        .unwrap_or_else(|| panic!("dangling $ref {reference}"))
}

/// Inlines `$ref`s and rewrites OpenAPI 3.0 idioms into JSON Schema.
pub fn standalone(spec: &Value, schema: &Value, depth: usize) -> Value {
    assert!(depth < 40, "schema nesting too deep (cycle?)");
    match schema {
        Value::Object(o) => {
            if let Some(Value::String(r)) = o.get("$ref") {
                return standalone(spec, pointer(spec, r), depth + 1);
            }
            if let Some(Value::Array(parts)) = o.get("allOf") {
                let mut merged = Map::new();
                let mut props = Map::new();
                let mut required: Vec<Value> = Vec::new();
                for part in parts {
                    let mut part = standalone(spec, part, depth + 1);
                    // `allOf: [Base, {oneOf: [...]}]` (DcrProviderResponse): each alternative
                    // only adds to the closed Base, so it must not be closed itself.
                    if let Some(Value::Array(alts)) = part.get_mut("oneOf") {
                        for alt in alts {
                            if let Value::Object(a) = alt {
                                a.remove("additionalProperties");
                            }
                        }
                    }
                    if let Some(Value::Object(p)) = part.get("properties") {
                        for (k, v) in p {
                            let entry = props.entry(k.clone()).or_insert_with(|| json!({}));
                            if let (Value::Object(e), Value::Object(v)) = (entry, v) {
                                e.extend(v.clone());
                            }
                        }
                    }
                    if let Some(Value::Array(r)) = part.get("required") {
                        required.extend(r.iter().cloned());
                    }
                    if let Value::Object(p) = part {
                        for (k, v) in p {
                            if !matches!(k.as_str(), "properties" | "required") {
                                merged.insert(k, v);
                            }
                        }
                    }
                }
                merged.insert("type".into(), json!("object"));
                merged.insert("properties".into(), Value::Object(props));
                merged.insert("required".into(), Value::Array(required));
                return strict(Value::Object(merged));
            }
            let mut out = Map::new();
            let mut nullable = o.get("nullable") == Some(&Value::Bool(true));
            // PaginationNextResponse: "URI to the next page (may be null)", and Konnect sends null.
            if o.get("description")
                .and_then(Value::as_str)
                .is_some_and(|d| d.contains("(may be null)"))
            {
                nullable = true;
            }
            for (k, v) in o {
                match k.as_str() {
                    "nullable" | "example" | "examples" | "x-examples" | "readOnly"
                    | "writeOnly" | "format" | "description" | "title" => {}
                    k if k.starts_with("x-") => {}
                    "properties" => {
                        let props: Map<String, Value> = v
                            .as_object()
                            .into_iter()
                            .flatten()
                            .map(|(pk, pv)| (pk.clone(), standalone(spec, pv, depth + 1)))
                            .collect();
                        out.insert(k.into(), Value::Object(props));
                    }
                    "items" | "additionalProperties" | "not" => {
                        out.insert(k.into(), standalone(spec, v, depth + 1));
                    }
                    "oneOf" | "anyOf" => {
                        let alts: Vec<Value> = v
                            .as_array()
                            .into_iter()
                            .flatten()
                            .map(|a| standalone(spec, a, depth + 1))
                            .collect();
                        out.insert(k.into(), Value::Array(alts));
                    }
                    // OpenAPI puts minLength on arrays sometimes (route protocols): meaningless.
                    "minLength" if o.get("type") == Some(&json!("array")) => {}
                    _ => {
                        out.insert(k.clone(), v.clone());
                    }
                }
            }
            let s = strict(Value::Object(out));
            if nullable {
                json!({"anyOf": [s, {"type": "null"}]})
            } else {
                s
            }
        }
        other => other.clone(),
    }
}

/// Closes object schemas that list properties and do not say more are allowed.
pub fn strict(mut s: Value) -> Value {
    if let Value::Object(o) = &mut s
        && o.contains_key("properties")
        && !o.contains_key("additionalProperties")
    {
        o.insert("additionalProperties".into(), json!(false));
    }
    s
}

/// The spec's answer for (path, method, status): the listed statuses and the body schema.
pub fn response_spec(
    spec: &Value,
    path: &str,
    method: &str,
    status: u16,
) -> (Vec<String>, Option<Value>) {
    let op = spec["paths"][path][method].clone();
    assert!(op.is_object(), "spec has no {method} {path}");
    let responses = op["responses"].as_object().expect("responses");
    let listed: Vec<String> = responses.keys().cloned().collect();
    let Some(mut resp) = responses.get(&status.to_string()).cloned() else {
        return (listed, None);
    };
    if let Some(Value::String(r)) = resp.get("$ref") {
        resp = pointer(spec, r).clone();
    }
    let schema = resp["content"]
        .as_object()
        .and_then(|c| c.values().next())
        .and_then(|m| m.get("schema"))
        .map(|s| standalone(spec, s, 0));
    (listed, schema)
}
