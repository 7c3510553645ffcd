//! Output shaping for `render`: one object with the entity lists in Konnect's request-body
//! shapes and a result per source object, as JSON or YAML. Lists arrive sorted from
//! [`super::translate`], so equal snapshots render byte-identically.
//!
//! Values that came from Kubernetes Secrets are redacted by default (see
//! [`DesiredState::redacted_plugin`]): `render` runs in CI, and CI logs are kept and widely
//! readable. [`Secrets::Show`] prints them in clear, for a person debugging at a terminal.

use std::io::Write;

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::Value;

use super::desired::DesiredState;
use super::result::ObjectResult;

/// Errors while shaping or writing the output.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("serializing the desired state: {0}")]
    Json(#[from] serde_json::Error),
    #[error("serializing the desired state as YAML: {0}")]
    Yaml(#[from] serde_norway::Error),
    #[error("writing the desired state: {0}")]
    Io(#[from] std::io::Error),
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

/// The rendered document, serialized straight from the desired state: no copy of the whole
/// output (as a `Value` tree or a string) is ever held, so `render` writes 10k entities in
/// the memory of one. Only a plugin with Secret-derived values is copied, one at a time, to
/// redact it.
struct Document<'a> {
    state: &'a DesiredState,
    secrets: Secrets,
}

impl Serialize for Document<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let state = self.state;
        let mut m = serializer.serialize_map(Some(8))?;
        m.serialize_entry("services", &state.services)?;
        m.serialize_entry("routes", &state.routes)?;
        m.serialize_entry("consumers", &state.consumers)?;
        m.serialize_entry("consumer_groups", &state.consumer_groups)?;
        m.serialize_entry("consumer_group_memberships", &state.memberships)?;
        m.serialize_entry("plugins", &Plugins(self))?;
        m.serialize_entry("held", &state.held)?;
        m.serialize_entry("results", &Results(&state.results))?;
        m.end()
    }
}

/// The plugin list, each redacted (when asked) as it is written.
struct Plugins<'a>(&'a Document<'a>);

impl Serialize for Plugins<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let Document { state, secrets } = *self.0;
        let mut seq = serializer.serialize_seq(Some(state.plugins.len()))?;
        for plugin in &state.plugins {
            if secrets == Secrets::Show || state.secret_fields_of(plugin).is_empty() {
                seq.serialize_element(plugin)?;
            } else {
                seq.serialize_element(&state.redacted_plugin(plugin))?;
            }
        }
        seq.end()
    }
}

struct Results<'a>(&'a [ObjectResult]);

impl Serialize for Results<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(ResultView))
    }
}

/// One result: `kind`, `namespace` (null for cluster-scoped objects), `name`, `status`,
/// `reason` (when the status has one), `message`, `warnings` (when any), `uid` and
/// `generation` (when known).
struct ResultView<'a>(&'a ObjectResult);

impl Serialize for ResultView<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let r = self.0;
        let reason = r.status.reason();
        let len = 5
            + usize::from(reason.is_some())
            + usize::from(!r.warnings.is_empty())
            + usize::from(r.uid.is_some())
            + usize::from(r.generation.is_some());
        let mut m = serializer.serialize_map(Some(len))?;
        m.serialize_entry("kind", r.kind)?;
        m.serialize_entry("namespace", &r.namespace)?;
        m.serialize_entry("name", &r.name)?;
        m.serialize_entry("status", r.status.as_str())?;
        if let Some(reason) = reason {
            m.serialize_entry("reason", reason.as_str())?;
        }
        m.serialize_entry("message", &r.message)?;
        if !r.warnings.is_empty() {
            m.serialize_entry("warnings", &r.warnings)?;
        }
        if let Some(uid) = &r.uid {
            m.serialize_entry("uid", uid)?;
        }
        if let Some(generation) = r.generation {
            m.serialize_entry("generation", &generation)?;
        }
        m.end()
    }
}

/// The rendered document with Secret-derived values redacted; see [`to_value_with`].
pub fn to_value(state: &DesiredState) -> Result<Value, Error> {
    to_value_with(state, Secrets::Redact)
}

/// The rendered document: `services`, `routes`, `consumers`, `consumer_groups`,
/// `consumer_group_memberships`, `plugins`, `held` (the sorted ids of the entities held back,
/// see [`DesiredState::held`]), `results`, in that order.
pub fn to_value_with(state: &DesiredState, secrets: Secrets) -> Result<Value, Error> {
    Ok(serde_json::to_value(Document { state, secrets })?)
}

/// Pretty JSON, newline-terminated, Secret-derived values redacted.
pub fn to_json(state: &DesiredState) -> Result<String, Error> {
    to_json_with(state, Secrets::Redact)
}

/// Pretty JSON, newline-terminated.
pub fn to_json_with(state: &DesiredState, secrets: Secrets) -> Result<String, Error> {
    let mut out = Vec::new();
    write_json(state, secrets, &mut out)?;
    // serde_json writes only valid UTF-8.
    Ok(String::from_utf8(out)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?)
}

/// Writes [`to_json_with`]'s text to `out` as it is produced. `out` should be buffered: the
/// serializer makes many small writes.
pub fn write_json(
    state: &DesiredState,
    secrets: Secrets,
    mut out: impl Write,
) -> Result<(), Error> {
    serde_json::to_writer_pretty(&mut out, &Document { state, secrets })?;
    out.write_all(b"\n")?;
    Ok(())
}

/// YAML, Secret-derived values redacted.
pub fn to_yaml(state: &DesiredState) -> Result<String, Error> {
    to_yaml_with(state, Secrets::Redact)
}

/// YAML.
pub fn to_yaml_with(state: &DesiredState, secrets: Secrets) -> Result<String, Error> {
    Ok(serde_norway::to_string(&Document { state, secrets })?)
}

/// Writes [`to_yaml_with`]'s text to `out` as it is produced.
pub fn write_yaml(state: &DesiredState, secrets: Secrets, out: impl Write) -> Result<(), Error> {
    serde_norway::to_writer(out, &Document { state, secrets })?;
    Ok(())
}
