//! Output shaping for `render`: one object with the entity lists in Konnect's request-body
//! shapes and a result per source object, as JSON or YAML. Lists arrive sorted from
//! [`super::translate`], so equal snapshots render byte-identically.

use serde_json::{Map, Value, json};

use super::desired::DesiredState;
use super::result::ObjectResult;

/// Errors while shaping the output.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("serializing the desired state: {0}")]
    Json(#[from] serde_json::Error),
    #[error("serializing the desired state as YAML: {0}")]
    Yaml(#[from] serde_norway::Error),
}

fn result_value(r: &ObjectResult) -> Value {
    let mut m = Map::new();
    m.insert("kind".into(), json!(r.kind));
    m.insert("namespace".into(), json!(r.namespace));
    m.insert("name".into(), json!(r.name));
    m.insert("status".into(), json!(r.status.as_str()));
    if let Some(reason) = r.status.reason() {
        m.insert("reason".into(), json!(reason.as_str()));
    }
    m.insert("message".into(), json!(r.message));
    if !r.warnings.is_empty() {
        m.insert("warnings".into(), json!(r.warnings));
    }
    if let Some(uid) = &r.uid {
        m.insert("uid".into(), json!(uid));
    }
    if let Some(generation) = r.generation {
        m.insert("generation".into(), json!(generation));
    }
    Value::Object(m)
}

/// The rendered document: `services`, `routes`, `consumers`, `consumer_groups`,
/// `consumer_group_memberships`, `plugins`, `results`, in that order.
pub fn to_value(state: &DesiredState) -> Result<Value, Error> {
    let mut m = Map::new();
    m.insert("services".into(), serde_json::to_value(&state.services)?);
    m.insert("routes".into(), serde_json::to_value(&state.routes)?);
    m.insert("consumers".into(), serde_json::to_value(&state.consumers)?);
    m.insert(
        "consumer_groups".into(),
        serde_json::to_value(&state.consumer_groups)?,
    );
    m.insert(
        "consumer_group_memberships".into(),
        serde_json::to_value(&state.memberships)?,
    );
    m.insert("plugins".into(), serde_json::to_value(&state.plugins)?);
    m.insert(
        "results".into(),
        Value::Array(state.results.iter().map(result_value).collect()),
    );
    Ok(Value::Object(m))
}

/// Pretty JSON, newline-terminated.
pub fn to_json(state: &DesiredState) -> Result<String, Error> {
    let mut s = serde_json::to_string_pretty(&to_value(state)?)?;
    s.push('\n');
    Ok(s)
}

/// YAML.
pub fn to_yaml(state: &DesiredState) -> Result<String, Error> {
    Ok(serde_norway::to_string(&to_value(state)?)?)
}
