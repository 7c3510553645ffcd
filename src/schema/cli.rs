//! `konnect-plugin-operator validate -f <file|dir>...`: checks the configuration of every
//! KongPlugin and KongClusterPlugin in manifests against the embedded schemas, offline.
//!
//! Output is one line per problem: `<file>: <Kind> <ns>/<name>: config.<path>: <message>`
//! (`<Kind> <name>` for cluster-scoped objects), and `... warning: ...` lines for what cannot be
//! checked offline (a plugin without an embedded schema, a configFrom/configPatches Secret that
//! is not in the given files). Secret values are never printed.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::Secret;
use serde_json::Value;

use super::{Registry, ValidationOutcome};
use crate::manifest::{self, Loaded};

fn is_manifest(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml" | "json")
    )
}

/// Files under `paths` (directories recursively, manifests only, in name order).
fn collect(path: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if std::fs::metadata(path)?.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()?;
        entries.sort();
        for entry in entries {
            if entry.is_dir() || is_manifest(&entry) {
                collect(&entry, out)?;
            }
        }
    } else {
        out.push(path.to_owned());
    }
    Ok(())
}

type Secrets = HashMap<(String, String), Secret>;

/// Where a plugin's configuration comes from, in the CRD's terms.
struct PluginInput<'a> {
    kind: &'static str,
    /// `ns/name` or `name`.
    display: String,
    plugin: &'a str,
    config: Option<&'a Value>,
    /// (namespace, name, key)
    config_from: Option<(String, String, String)>,
    /// (JSON pointer, namespace, name, key)
    patches: Vec<(String, String, String, String)>,
}

/// The configuration could not be built offline or at all.
enum Unresolved {
    /// A referenced Secret is not in the given files.
    Offline(String),
    /// The object itself is wrong (message starts with the field).
    Error(String),
}

fn secret_text(secrets: &Secrets, ns: &str, name: &str, key: &str) -> Result<String, Unresolved> {
    let secret = secrets
        .get(&(ns.to_owned(), name.to_owned()))
        .ok_or_else(|| {
            Unresolved::Offline(format!(
                "Secret {ns}/{name} is not in the given files; the configuration cannot be checked offline"
            ))
        })?;
    if let Some(text) = secret.string_data.as_ref().and_then(|d| d.get(key)) {
        return Ok(text.clone());
    }
    match secret.data.as_ref().and_then(|d| d.get(key)) {
        Some(bytes) => String::from_utf8(bytes.0.clone()).map_err(|_| {
            Unresolved::Error(format!("Secret {ns}/{name} key {key:?} is not UTF-8 text"))
        }),
        None => Err(Unresolved::Error(format!(
            "Secret {ns}/{name} has no key {key:?}"
        ))),
    }
}

/// Builds the configuration as the operator would, from `config` or `configFrom`, then
/// `configPatches`; returns it with the secret-derived strings (to keep them out of messages).
fn resolve(p: &PluginInput<'_>, secrets: &Secrets) -> Result<(Value, Vec<String>), Unresolved> {
    let mut sensitive = Vec::new();
    let mut config = match (&p.config_from, p.config) {
        (Some(_), Some(_)) => {
            return Err(Unresolved::Error(
                "config: Using both config and configFrom fields is not allowed.".into(),
            ));
        }
        (Some((ns, name, key)), None) => {
            let text = secret_text(secrets, ns, name, key).map_err(|e| match e {
                Unresolved::Error(m) => Unresolved::Error(format!("configFrom.secretKeyRef: {m}")),
                offline => offline,
            })?;
            sensitive.push(text.clone());
            let parsed = serde_json::from_str::<Value>(&text)
                .ok()
                .or_else(|| serde_norway::from_str::<Value>(&text).ok())
                .filter(Value::is_object)
                .ok_or_else(|| {
                    Unresolved::Error(format!(
                        "configFrom.secretKeyRef: Secret {ns}/{name} key {key:?} does not hold a JSON or YAML object"
                    ))
                })?;
            collect_strings(&parsed, &mut sensitive);
            parsed
        }
        (None, Some(c)) if c.is_object() => c.clone(),
        (None, Some(Value::Null) | None) => Value::Object(serde_json::Map::new()),
        (None, Some(_)) => return Err(Unresolved::Error("config: must be an object".into())),
    };
    for (i, (path, ns, name, key)) in p.patches.iter().enumerate() {
        let field = format!("configPatches[{i}]");
        let text = secret_text(secrets, ns, name, key).map_err(|e| match e {
            Unresolved::Error(m) => {
                Unresolved::Error(format!("{field}.valueFrom.secretKeyRef: {m}"))
            }
            offline => offline,
        })?;
        sensitive.push(text.clone());
        let value = serde_json::from_str::<Value>(&text).map_err(|_| {
            Unresolved::Error(format!(
                "{field}.valueFrom.secretKeyRef: Secret {ns}/{name} key {key:?} is not JSON (a string value needs its quotes)"
            ))
        })?;
        collect_strings(&value, &mut sensitive);
        let op = serde_json::json!([{"op": "add", "path": path, "value": value}]);
        let applied = serde_json::from_value::<json_patch::Patch>(op)
            .map_err(|e| e.to_string())
            .and_then(|patch| json_patch::patch(&mut config, &patch).map_err(|e| e.to_string()));
        if let Err(e) = applied {
            return Err(Unresolved::Error(format!("{field}.path: {e}")));
        }
    }
    Ok((config, sensitive))
}

fn collect_strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) if !s.is_empty() => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|v| collect_strings(v, out)),
        Value::Object(o) => o.values().for_each(|v| collect_strings(v, out)),
        _ => {}
    }
}

fn redact(mut message: String, sensitive: &[String]) -> String {
    for s in sensitive {
        message = message.replace(s.as_str(), "[redacted]");
    }
    message
}

fn inputs(loaded: &Loaded) -> Vec<PluginInput<'_>> {
    let mut out = Vec::new();
    for p in &loaded.snapshot.kong_plugins {
        let ns = p
            .metadata
            .namespace
            .clone()
            .unwrap_or_else(|| manifest::DEFAULT_NAMESPACE.to_owned());
        let name = p.metadata.name.clone().unwrap_or_default();
        out.push(PluginInput {
            kind: "KongPlugin",
            display: format!("{ns}/{name}"),
            plugin: &p.plugin,
            config: p.config.as_ref(),
            config_from: p.config_from.as_ref().map(|c| {
                let r = &c.secret_key_ref;
                (ns.clone(), r.name.clone(), r.key.clone())
            }),
            patches: p
                .config_patches
                .iter()
                .flatten()
                .map(|c| {
                    let r = &c.value_from.secret_key_ref;
                    (c.path.clone(), ns.clone(), r.name.clone(), r.key.clone())
                })
                .collect(),
        });
    }
    for p in &loaded.snapshot.kong_cluster_plugins {
        out.push(PluginInput {
            kind: "KongClusterPlugin",
            display: p.metadata.name.clone().unwrap_or_default(),
            plugin: &p.plugin,
            config: p.config.as_ref(),
            config_from: p.config_from.as_ref().map(|c| {
                let r = &c.secret_key_ref;
                (r.namespace.clone(), r.name.clone(), r.key.clone())
            }),
            patches: p
                .config_patches
                .iter()
                .flatten()
                .map(|c| {
                    let r = &c.value_from.secret_key_ref;
                    (
                        c.path.clone(),
                        r.namespace.clone(),
                        r.name.clone(),
                        r.key.clone(),
                    )
                })
                .collect(),
        });
    }
    out
}

/// Validates the plugins in `paths` and writes one line per problem to `out`. Returns whether
/// any error was found (warnings do not count). I/O errors on `out` or on listing `paths` are
/// the only `Err`s; an unreadable manifest is reported as an error line.
pub fn validate_files(paths: &[PathBuf], out: &mut dyn Write) -> anyhow::Result<bool> {
    validate_files_with(paths, &Registry::embedded(), out)
}

/// [`validate_files`] with a given registry (e.g. with schemas fetched from Konnect).
pub fn validate_files_with(
    paths: &[PathBuf],
    registry: &Registry,
    out: &mut dyn Write,
) -> anyhow::Result<bool> {
    let mut files = Vec::new();
    for p in paths {
        collect(p, &mut files).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?;
    }
    let mut any_error = false;
    let mut per_file: Vec<(PathBuf, Loaded)> = Vec::new();
    let mut secrets = Secrets::new();
    for file in files {
        let mut loaded = Loaded::default();
        let read = std::fs::read_to_string(&file)
            .map_err(|e| format!("{}: {e}", file.display()))
            .and_then(|text| {
                manifest::load_str(&text, &file, &mut loaded).map_err(|e| e.to_string())
            });
        if let Err(e) = read {
            writeln!(out, "{e}")?;
            any_error = true;
        }
        for s in loaded.snapshot.secrets.drain(..) {
            let ns = s
                .metadata
                .namespace
                .clone()
                .unwrap_or_else(|| manifest::DEFAULT_NAMESPACE.to_owned());
            secrets.insert((ns, s.metadata.name.clone().unwrap_or_default()), s);
        }
        per_file.push((file, loaded));
    }
    for (file, loaded) in &per_file {
        let file = file.display();
        for p in inputs(loaded) {
            let prefix = format!("{file}: {} {}", p.kind, p.display);
            let (config, sensitive) = match resolve(&p, &secrets) {
                Ok(c) => c,
                Err(Unresolved::Offline(m)) => {
                    writeln!(out, "{prefix}: warning: {m}")?;
                    continue;
                }
                Err(Unresolved::Error(m)) => {
                    writeln!(out, "{prefix}: {m}")?;
                    any_error = true;
                    continue;
                }
            };
            match registry.validate_plugin(p.plugin, &config) {
                Ok(_) => {}
                Err(ValidationOutcome::UnknownPlugin) => writeln!(
                    out,
                    "{prefix}: warning: plugin '{}' has no embedded schema; its configuration is left to Konnect",
                    p.plugin
                )?,
                Err(ValidationOutcome::Invalid(errors)) => {
                    any_error = true;
                    for e in errors {
                        writeln!(out, "{prefix}: {}", redact(e.to_string(), &sensitive))?;
                    }
                }
            }
        }
    }
    Ok(any_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_replaces_every_secret_string() {
        let s = vec!["canary".to_owned()];
        assert_eq!(
            redact("config.a: invalid value: canary-canary".into(), &s),
            "config.a: invalid value: [redacted]-[redacted]"
        );
    }
}
