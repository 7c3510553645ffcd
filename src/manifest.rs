//! Reading Kubernetes manifests from disk into a translation [`Snapshot`] (for `render`,
//! `validate` and tests). It owns file walking, multi-document YAML splitting and dispatch on
//! `apiVersion` + `kind`; it holds no translation logic. Unknown kinds are skipped and listed;
//! malformed documents are errors naming the file and the document index (never a Secret's
//! content).

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use crate::translate::Snapshot;

/// Errors while reading manifests.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: document {index}: not valid YAML: {message}")]
    Yaml {
        path: PathBuf,
        index: usize,
        message: String,
    },
    #[error("{path}: document {index}: {kind} {name}: {message}")]
    Object {
        path: PathBuf,
        index: usize,
        kind: String,
        name: String,
        message: String,
    },
}

/// Manifests read into a snapshot, with the documents that were not used.
#[derive(Debug, Default)]
pub struct Loaded {
    pub snapshot: Snapshot,
    /// `"<file>: document <i>: <apiVersion> <kind> <name> skipped: ..."` for every document of a
    /// kind translation does not read.
    pub skipped: Vec<String>,
}

/// The namespace given to namespaced objects that do not name one, as `kubectl apply` does.
pub const DEFAULT_NAMESPACE: &str = "default";

fn is_manifest(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml" | "json")
    )
}

fn collect_files(path: &Path, out: &mut Vec<PathBuf>) -> Result<(), Error> {
    let io = |source| Error::Io {
        path: path.to_owned(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if meta.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(io)?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()
            .map_err(io)?;
        entries.sort();
        for entry in entries {
            if entry.is_dir() || is_manifest(&entry) {
                collect_files(&entry, out)?;
            }
        }
    } else {
        out.push(path.to_owned());
    }
    Ok(())
}

/// Reads files and directories (recursively: `.yaml`, `.yml`, `.json`, in name order).
pub fn load_paths(paths: &[PathBuf]) -> Result<Loaded, Error> {
    let mut files = Vec::new();
    for path in paths {
        collect_files(path, &mut files)?;
    }
    let mut loaded = Loaded::default();
    for file in files {
        let text = std::fs::read_to_string(&file).map_err(|source| Error::Io {
            path: file.clone(),
            source,
        })?;
        load_str(&text, &file, &mut loaded)?;
    }
    Ok(loaded)
}

/// Reads one (multi-document) YAML or JSON text into `loaded`; `path` is for messages.
pub fn load_str(text: &str, path: &Path, loaded: &mut Loaded) -> Result<(), Error> {
    for (index, document) in serde_norway::Deserializer::from_str(text).enumerate() {
        let value = Value::deserialize(document).map_err(|e| Error::Yaml {
            path: path.to_owned(),
            index,
            message: e.to_string(),
        })?;
        add_value(value, path, index, loaded)?;
    }
    Ok(())
}

fn add_value(value: Value, path: &Path, index: usize, loaded: &mut Loaded) -> Result<(), Error> {
    if value.is_null() {
        return Ok(());
    }
    let api_version = value
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let kind = value
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let name = value
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    if kind == "List" {
        if let Some(Value::Array(items)) = value.get("items") {
            for item in items.clone() {
                add_value(item, path, index, loaded)?;
            }
        }
        return Ok(());
    }
    let err = |message: String| Error::Object {
        path: path.to_owned(),
        index,
        kind: kind.clone(),
        name: name.clone(),
        message,
    };
    let group = api_version
        .rsplit_once('/')
        .map(|(g, _)| g)
        .unwrap_or_default();
    let snap = &mut loaded.snapshot;
    macro_rules! push {
        ($list:expr, $api:expr, $namespaced:expr) => {{
            let mut value = value;
            if let Some(obj) = value.as_object_mut() {
                // Gateway API kinds share one shape across served versions.
                obj.insert("apiVersion".into(), Value::String($api.into()));
            }
            if $namespaced && value.pointer("/metadata/namespace").is_none() {
                if let Some(meta) = value.get_mut("metadata").and_then(Value::as_object_mut) {
                    meta.insert("namespace".into(), Value::String(DEFAULT_NAMESPACE.into()));
                }
            }
            // A Secret's parse error could quote its content: report it without detail.
            let is_secret = kind == "Secret";
            let obj = serde_json::from_value(value).map_err(|e| {
                if is_secret {
                    err("the Secret cannot be read (is `data` valid base64?)".into())
                } else {
                    err(e.to_string())
                }
            })?;
            $list.push(obj);
        }};
    }
    match (group, api_version.as_str(), kind.as_str()) {
        (_, "v1", "Service") => push!(snap.services, "v1", true),
        (_, "v1", "Secret") => push!(snap.secrets, "v1", true),
        (_, "networking.k8s.io/v1", "Ingress") => push!(snap.ingresses, "networking.k8s.io/v1", true),
        (_, "networking.k8s.io/v1", "IngressClass") => push!(snap.ingress_classes, "networking.k8s.io/v1", false),
        ("gateway.networking.k8s.io", _, "HTTPRoute") => push!(snap.http_routes, "gateway.networking.k8s.io/v1", true),
        ("gateway.networking.k8s.io", _, "Gateway") => push!(snap.gateways, "gateway.networking.k8s.io/v1", true),
        ("gateway.networking.k8s.io", _, "GatewayClass") => {
            push!(snap.gateway_classes, "gateway.networking.k8s.io/v1", false)
        }
        ("gateway.networking.k8s.io", _, "ReferenceGrant") => {
            push!(snap.reference_grants, "gateway.networking.k8s.io/v1", true)
        }
        (_, "configuration.konghq.com/v1", "KongPlugin") => push!(snap.kong_plugins, "configuration.konghq.com/v1", true),
        (_, "configuration.konghq.com/v1", "KongClusterPlugin") => {
            push!(snap.kong_cluster_plugins, "configuration.konghq.com/v1", false)
        }
        (_, "configuration.konghq.com/v1", "KongConsumer") => {
            push!(snap.kong_consumers, "configuration.konghq.com/v1", true)
        }
        (_, "configuration.konghq.com/v1beta1", "KongConsumerGroup") => {
            push!(snap.kong_consumer_groups, "configuration.konghq.com/v1beta1", true)
        }
        _ => loaded.skipped.push(format!(
            "{}: document {index}: {api_version} {kind} {name} skipped: not a kind translation reads",
            path.display()
        )),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_document_yaml_dispatches_and_defaults_namespace() {
        let text = "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {ports: [{port: 80}]}\n---\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n---\napiVersion: configuration.konghq.com/v1\nkind: KongPlugin\nmetadata: {name: p, namespace: x}\nplugin: cors\n";
        let mut loaded = Loaded::default();
        assert!(load_str(text, Path::new("t.yaml"), &mut loaded).is_ok());
        assert_eq!(loaded.snapshot.services.len(), 1);
        assert_eq!(
            loaded.snapshot.services[0].metadata.namespace.as_deref(),
            Some("default")
        );
        assert_eq!(
            loaded.snapshot.kong_plugins[0]
                .metadata
                .namespace
                .as_deref(),
            Some("x")
        );
        assert_eq!(loaded.skipped.len(), 1);
        assert!(loaded.skipped[0].contains("document 2"));
    }

    #[test]
    fn errors_name_file_and_document_and_hide_secret_content() {
        let text = "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {k: \"canary-%%%\"}\n";
        let mut loaded = Loaded::default();
        let err = load_str(text, Path::new("s.yaml"), &mut loaded)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("s.yaml: document 0: Secret s"), "{err}");
        assert!(!err.contains("canary"), "{err}");
        let err = load_str("a: [", Path::new("bad.yaml"), &mut loaded)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.starts_with("bad.yaml: document 0: not valid YAML"),
            "{err}"
        );
    }
}
