//! Reading Kubernetes manifests from disk into a translation [`Snapshot`] (for `render`,
//! `validate` and tests). It owns file walking, multi-document YAML splitting and dispatch on
//! `apiVersion` + `kind`; it holds no translation logic. Unknown kinds are skipped and listed.
//! A document that is not YAML is an error naming the file and the document index; an object
//! of a known kind that does not parse is recorded (with its field path) as a
//! [`MalformedObject`] so translation reports it as Invalid and goes on with the others.
//! Never a Secret's content in any message.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use crate::translate::Snapshot;
use crate::translate::snapshot::MalformedObject;

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
}

/// Manifests read into a snapshot, with the documents that were not used.
#[derive(Debug, Default)]
pub struct Loaded {
    pub snapshot: Snapshot,
    /// `"<file>: document <i>: <apiVersion> <kind> <name> skipped: ..."` for every document of a
    /// kind translation does not read.
    pub skipped: Vec<String>,
    /// `"<file>: document <i>: <Kind> <ns>/<name>: <field path>: <problem>"` for every object of
    /// a kind translation reads that could not be parsed. Each is also in
    /// [`Snapshot::malformed`], so translation reports it as Invalid.
    pub malformed: Vec<String>,
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

/// The manifest files under `paths`: files as given, directories recursively (`.yaml`, `.yml`,
/// `.json`, in name order). For callers that attribute findings to files (`validate`).
pub fn manifest_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, Error> {
    let mut files = Vec::new();
    for path in paths {
        collect_files(path, &mut files)?;
    }
    Ok(files)
}

/// Reads one file into `loaded`.
pub fn load_file(file: &Path, loaded: &mut Loaded) -> Result<(), Error> {
    let text = std::fs::read_to_string(file).map_err(|source| Error::Io {
        path: file.to_owned(),
        source,
    })?;
    load_str(&text, file, loaded)
}

/// Reads files and directories (recursively: `.yaml`, `.yml`, `.json`, in name order).
pub fn load_paths(paths: &[PathBuf]) -> Result<Loaded, Error> {
    let mut loaded = Loaded::default();
    for file in manifest_files(paths)? {
        load_file(&file, &mut loaded)?;
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
    let group = api_version
        .rsplit_once('/')
        .map(|(g, _)| g)
        .unwrap_or_default();
    let snap = &mut loaded.snapshot;
    // A malformed object does not abort the load: it is recorded in the snapshot, and
    // translation reports it as Invalid while the other objects still translate. The message
    // names the field path (serde_path_to_error), e.g. `protocols[0]: unknown variant ...`.
    macro_rules! push {
        ($list:expr, $kind:literal, $api:expr, $namespaced:expr) => {{
            let mut value = value;
            if let Some(obj) = value.as_object_mut() {
                // Gateway API kinds share one shape across served versions.
                obj.insert("apiVersion".into(), Value::String($api.into()));
            }
            if let Some(meta) = value.get_mut("metadata").and_then(Value::as_object_mut) {
                if !$namespaced {
                    // The API server drops the namespace of a cluster-scoped object; so do we,
                    // or it would leak into tags and results.
                    meta.remove("namespace");
                } else if meta.get("namespace").is_none_or(Value::is_null) {
                    meta.insert("namespace".into(), Value::String(DEFAULT_NAMESPACE.into()));
                }
            }
            let namespace = value
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .map(str::to_owned);
            match serde_path_to_error::deserialize(value) {
                Ok(obj) => $list.push(obj),
                Err(e) => {
                    let message = if $kind == "Secret" {
                        // A Secret's parse error could quote its content: name the field only.
                        let (field, _) = field_and_problem(&e.path().to_string(), "");
                        format!("{field}: the Secret cannot be read (is `data` valid base64?)")
                    } else {
                        let (field, problem) =
                            field_and_problem(&e.path().to_string(), &e.inner().to_string());
                        format!("{field}: {problem}")
                    };
                    loaded.malformed.push(format!(
                        "{}: document {index}: {} {}: {message}",
                        path.display(),
                        $kind,
                        match &namespace {
                            Some(ns) => format!("{ns}/{name}"),
                            None => name.clone(),
                        },
                    ));
                    snap.malformed.push(MalformedObject {
                        kind: $kind,
                        namespace,
                        name: name.clone(),
                        message,
                    });
                }
            }
        }};
    }
    match (group, api_version.as_str(), kind.as_str()) {
        (_, "v1", "Service") => push!(snap.services, "Service", "v1", true),
        (_, "v1", "Secret") => push!(snap.secrets, "Secret", "v1", true),
        (_, "networking.k8s.io/v1", "Ingress") => {
            push!(snap.ingresses, "Ingress", "networking.k8s.io/v1", true)
        }
        (_, "networking.k8s.io/v1", "IngressClass") => push!(
            snap.ingress_classes,
            "IngressClass",
            "networking.k8s.io/v1",
            false
        ),
        ("gateway.networking.k8s.io", _, "HTTPRoute") => push!(
            snap.http_routes,
            "HTTPRoute",
            "gateway.networking.k8s.io/v1",
            true
        ),
        ("gateway.networking.k8s.io", _, "Gateway") => {
            push!(snap.gateways, "Gateway", "gateway.networking.k8s.io/v1", true)
        }
        ("gateway.networking.k8s.io", _, "GatewayClass") => push!(
            snap.gateway_classes,
            "GatewayClass",
            "gateway.networking.k8s.io/v1",
            false
        ),
        ("gateway.networking.k8s.io", _, "ReferenceGrant") => push!(
            snap.reference_grants,
            "ReferenceGrant",
            "gateway.networking.k8s.io/v1",
            true
        ),
        (_, "configuration.konghq.com/v1", "KongPlugin") => push!(
            snap.kong_plugins,
            "KongPlugin",
            "configuration.konghq.com/v1",
            true
        ),
        (_, "configuration.konghq.com/v1", "KongClusterPlugin") => push!(
            snap.kong_cluster_plugins,
            "KongClusterPlugin",
            "configuration.konghq.com/v1",
            false
        ),
        (_, "configuration.konghq.com/v1", "KongConsumer") => push!(
            snap.kong_consumers,
            "KongConsumer",
            "configuration.konghq.com/v1",
            true
        ),
        (_, "configuration.konghq.com/v1beta1", "KongConsumerGroup") => push!(
            snap.kong_consumer_groups,
            "KongConsumerGroup",
            "configuration.konghq.com/v1beta1",
            true
        ),
        _ => loaded.skipped.push(format!(
            "{}: document {index}: {api_version} {kind} {name} skipped: not a kind translation reads",
            path.display()
        )),
    }
    Ok(())
}

/// The field a parse error is about, and the problem: serde reports a missing field on its
/// parent (`a.b: missing field `c``), which reads better as `a.b.c: required`.
fn field_and_problem(path: &str, problem: &str) -> (String, String) {
    let parent = if path.is_empty() || path == "." {
        ""
    } else {
        path
    };
    let missing = problem
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split_once('`'))
        .map(|(name, _)| name);
    match (missing, parent) {
        (Some(name), "") => (name.to_owned(), "required".to_owned()),
        (Some(name), parent) => (format!("{parent}.{name}"), "required".to_owned()),
        (None, "") => ("(object)".to_owned(), problem.to_owned()),
        (None, parent) => (parent.to_owned(), problem.to_owned()),
    }
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
    fn malformed_objects_are_recorded_with_field_paths_and_hide_secret_content() {
        let text = "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {k: \"canary-%%%\"}\n---\napiVersion: configuration.konghq.com/v1\nkind: KongPlugin\nmetadata: {name: p, namespace: x}\nplugin: cors\nprotocols: [http, gopher]\n---\napiVersion: configuration.konghq.com/v1\nkind: KongPlugin\nmetadata: {name: q}\nplugin: session\nconfigPatches: [{path: /secret, valueFrom: {secretKeyRef: {name: s}}}]\n---\napiVersion: configuration.konghq.com/v1\nkind: KongPlugin\nmetadata: {name: ok}\nplugin: cors\n";
        let mut loaded = Loaded::default();
        assert!(load_str(text, Path::new("s.yaml"), &mut loaded).is_ok());
        assert_eq!(loaded.snapshot.kong_plugins.len(), 1);
        let m = &loaded.snapshot.malformed;
        assert_eq!(m.len(), 3, "{m:?}");
        assert_eq!(
            (m[0].kind, m[0].namespace.as_deref(), m[0].name.as_str()),
            ("Secret", Some("default"), "s")
        );
        assert!(m[0].message.starts_with("data.k: "), "{}", m[0].message);
        assert!(!m[0].message.contains("canary"), "{}", m[0].message);
        assert!(
            m[1].message
                .starts_with("protocols[1]: unknown variant `gopher`"),
            "{}",
            m[1].message
        );
        assert!(
            m[2].message == "configPatches[0].valueFrom.secretKeyRef.key: required",
            "{}",
            m[2].message
        );
        assert!(
            loaded.malformed[1].starts_with("s.yaml: document 1: KongPlugin x/p: protocols[1]"),
            "{:?}",
            loaded.malformed
        );
        assert!(loaded.malformed.iter().all(|l| !l.contains("canary")));
    }

    #[test]
    fn cluster_scoped_kinds_lose_their_namespace() {
        let text = "apiVersion: configuration.konghq.com/v1\nkind: KongClusterPlugin\nmetadata: {name: d, namespace: kong}\nplugin: datakit\n";
        let mut loaded = Loaded::default();
        assert!(load_str(text, Path::new("c.yaml"), &mut loaded).is_ok());
        assert_eq!(loaded.snapshot.kong_cluster_plugins.len(), 1);
        assert_eq!(
            loaded.snapshot.kong_cluster_plugins[0].metadata.namespace,
            None
        );
    }

    #[test]
    fn yaml_errors_name_file_and_document() {
        let mut loaded = Loaded::default();
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
