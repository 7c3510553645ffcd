//! Output shaping for `render`: one object with the entity lists in Konnect's request-body
//! shapes and a result per source object, as JSON or YAML. Lists arrive sorted from
//! [`super::translate`], so equal snapshots render byte-identically.
//!
//! Values that came from Kubernetes Secrets are redacted by default (see
//! [`DesiredState::redacted_plugin`]): `render` runs in CI, and CI logs are kept and widely
//! readable. [`Secrets::Show`] prints them in clear, for a person debugging at a terminal.

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

/// What to do with values that came from Secrets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Secrets {
    /// Replace each with `"<redacted: Secret <ns>/<name> key <key>>"` (and the plugin's
    /// `kpo-hash:` tag with `kpo-hash:<redacted>`).
    #[default]
    Redact,
    /// Print the real values. Never in CI: logs keep them.
    Show,
}

/// The rendered document with Secret-derived values redacted; see [`to_value_with`].
pub fn to_value(state: &DesiredState) -> Result<Value, Error> {
    to_value_with(state, Secrets::Redact)
}

/// The rendered document: `services`, `routes`, `consumers`, `consumer_groups`,
/// `consumer_group_memberships`, `plugins`, `held` (the sorted ids of the entities held back,
/// see [`DesiredState::held`]), `results`, in that order.
pub fn to_value_with(state: &DesiredState, secrets: Secrets) -> Result<Value, Error> {
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
    let plugins = match secrets {
        Secrets::Show => serde_json::to_value(&state.plugins)?,
        Secrets::Redact => Value::Array(
            state
                .plugins
                .iter()
                .map(|p| serde_json::to_value(state.redacted_plugin(p)))
                .collect::<Result<_, _>>()?,
        ),
    };
    m.insert("plugins".into(), plugins);
    m.insert("held".into(), serde_json::to_value(&state.held)?);
    m.insert(
        "results".into(),
        Value::Array(state.results.iter().map(result_value).collect()),
    );
    Ok(Value::Object(m))
}

/// Pretty JSON, newline-terminated, Secret-derived values redacted.
pub fn to_json(state: &DesiredState) -> Result<String, Error> {
    to_json_with(state, Secrets::Redact)
}

/// Pretty JSON, newline-terminated.
pub fn to_json_with(state: &DesiredState, secrets: Secrets) -> Result<String, Error> {
    let mut s = serde_json::to_string_pretty(&to_value_with(state, secrets)?)?;
    s.push('\n');
    Ok(s)
}

/// YAML, Secret-derived values redacted.
pub fn to_yaml(state: &DesiredState) -> Result<String, Error> {
    to_yaml_with(state, Secrets::Redact)
}

/// YAML.
pub fn to_yaml_with(state: &DesiredState, secrets: Secrets) -> Result<String, Error> {
    Ok(serde_norway::to_string(&to_value_with(state, secrets)?)?)
}
