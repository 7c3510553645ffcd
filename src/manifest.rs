//! Reading Kubernetes manifests from disk or standard input into a translation [`Snapshot`]
//! (for `render`, `validate` and tests). It owns file walking, bounded reading, multi-document
//! YAML splitting and dispatch on `apiVersion` + `kind`; it holds no translation logic and does
//! not log (what it skips comes back as lines for the caller to print). Unknown kinds are
//! skipped and listed.
//! A document that is not YAML is an error naming the file and the document index; an object
//! of a known kind that does not parse is recorded (with its field path) as a
//! [`MalformedObject`] so translation reports it as Invalid and goes on with the others.
//! Never a Secret's content in any message.
//!
//! Hostile input is bounded: at most [`MAX_INPUT_BYTES`] per file (and for stdin), read with a
//! limit so a symlink to `/dev/zero` cannot grow; FIFOs, devices and sockets met in a
//! directory are skipped unopened (named on the command line they are an error); flow
//! collections nested deeper than [`MAX_DEPTH`] are refused by a linear scan before the YAML
//! parser, whose simple-key bookkeeping costs time proportional to the nesting for every token.

use std::io::Read;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::Service;
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
    #[error("{path}: larger than the limit of {limit} bytes for one manifest file")]
    TooLarge { path: PathBuf, limit: u64 },
    #[error("{path}: not a regular file (a FIFO, device or socket); pipe manifests in with `-f -`")]
    NotRegular { path: PathBuf },
    #[error("{path}: {message}")]
    Walk { path: PathBuf, message: String },
}

/// Manifests read into a snapshot, with the documents that were not used.
#[derive(Debug, Default)]
pub struct Loaded {
    pub snapshot: Snapshot,
    /// One warning line for everything not read: `"<file>: document <i>: <Kind> <ns>/<name>:
    /// warning: ..."` for every object of a kind translation does not read, and
    /// `"<file>: warning: ..."` for every FIFO, device or socket met in a directory.
    pub skipped: Vec<String>,
    /// `"<file>: document <i>: <Kind> <ns>/<name>: <field path>: <problem>"` for every object of
    /// a kind translation reads that could not be parsed. Each is also in
    /// [`Snapshot::malformed`], so translation reports it as Invalid.
    pub malformed: Vec<String>,
}

/// The namespace given to namespaced objects that do not name one, as `kubectl apply` does.
pub const DEFAULT_NAMESPACE: &str = "default";

/// The largest manifest file (or standard input) read: far above any real set of manifests,
/// and a bound on memory for a file that never ends (`/dev/zero`, a growing log).
pub const MAX_INPUT_BYTES: u64 = 32 * 1024 * 1024;

/// The deepest nesting of flow collections (`[`, `{`) accepted: the YAML deserializer refuses
/// any document nested deeper than 128 levels (serde_norway's `remaining_depth`), so nothing
/// valid is lost by refusing it before parsing.
pub const MAX_DEPTH: usize = 128;

/// The path that stands for standard input, as for `kubectl apply -f -`.
pub const STDIN: &str = "-";

/// How standard input is named in messages.
const STDIN_NAME: &str = "<stdin>";

fn is_manifest(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml" | "json")
    )
}

fn is_stdin(path: &Path) -> bool {
    path.as_os_str() == STDIN
}

/// The manifest files under `paths`, with a warning line for every special file skipped.
#[derive(Debug, Default)]
pub struct ManifestFiles {
    /// Files as given, then the manifests found in directories; [`STDIN`] stands for stdin.
    pub files: Vec<PathBuf>,
    /// `"<file>: warning: ..."` for every FIFO, device or socket met in a directory.
    pub skipped: Vec<String>,
}

fn collect_files(path: &Path, out: &mut ManifestFiles) -> Result<(), Error> {
    if is_stdin(path) {
        out.files.push(path.to_owned());
        return Ok(());
    }
    // `metadata` follows symlinks and never opens the file: a FIFO is not waited on.
    let meta = std::fs::metadata(path).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })?;
    if meta.is_file() {
        out.files.push(path.to_owned());
        return Ok(());
    }
    if !meta.is_dir() {
        return Err(Error::NotRegular {
            path: path.to_owned(),
        });
    }
    let walk = walkdir::WalkDir::new(path)
        .follow_links(true)
        .sort_by_file_name();
    for entry in walk {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => {
                let at = e.path().unwrap_or(path).to_owned();
                if let Some(ancestor) = e.loop_ancestor() {
                    return Err(Error::Walk {
                        message: format!(
                            "symbolic link loop: leads back to {}",
                            ancestor.display()
                        ),
                        path: at,
                    });
                }
                // A broken link that is not a manifest is of no interest.
                if !is_manifest(&at) {
                    continue;
                }
                return Err(Error::Walk {
                    message: e
                        .io_error()
                        .map_or_else(|| e.to_string(), ToString::to_string),
                    path: at,
                });
            }
        };
        let kind = entry.file_type();
        if kind.is_dir() || !is_manifest(entry.path()) {
            continue;
        }
        if kind.is_file() {
            out.files.push(entry.into_path());
        } else {
            out.skipped.push(format!(
                "{}: warning: not a regular file (a FIFO, device or socket); skipped",
                entry.path().display()
            ));
        }
    }
    Ok(())
}

/// The manifest files under `paths`: files as given ([`STDIN`] for standard input),
/// directories recursively (`.yaml`, `.yml`, `.json`, in name order, following symbolic
/// links; a link loop is one error). For callers that attribute findings to files
/// (`validate`).
pub fn manifest_files(paths: &[PathBuf]) -> Result<ManifestFiles, Error> {
    let mut files = ManifestFiles::default();
    for path in paths {
        collect_files(path, &mut files)?;
    }
    Ok(files)
}

/// How `file` is named in messages (`<stdin>` for [`STDIN`]).
pub fn display_name(file: &Path) -> &Path {
    if is_stdin(file) {
        Path::new(STDIN_NAME)
    } else {
        file
    }
}

/// Reads one file ([`STDIN`]: standard input) into `loaded`, at most [`MAX_INPUT_BYTES`].
pub fn load_file(file: &Path, loaded: &mut Loaded) -> Result<(), Error> {
    if is_stdin(file) {
        return load_reader(std::io::stdin().lock(), display_name(file), loaded);
    }
    let io = |source| Error::Io {
        path: file.to_owned(),
        source,
    };
    // Checked before opening: opening a FIFO for reading blocks until a writer comes.
    let meta = std::fs::metadata(file).map_err(io)?;
    if !meta.is_file() {
        return Err(Error::NotRegular {
            path: file.to_owned(),
        });
    }
    if meta.len() > MAX_INPUT_BYTES {
        return Err(Error::TooLarge {
            path: file.to_owned(),
            limit: MAX_INPUT_BYTES,
        });
    }
    load_reader(std::fs::File::open(file).map_err(io)?, file, loaded)
}

/// Reads manifests from `reader` into `loaded`: at most [`MAX_INPUT_BYTES`] (one more byte
/// is an error, so an endless reader costs no more than that), UTF-8. `path` is for messages.
pub fn load_reader(reader: impl Read, path: &Path, loaded: &mut Loaded) -> Result<(), Error> {
    let mut bytes = Vec::new();
    reader
        .take(MAX_INPUT_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| Error::Io {
            path: path.to_owned(),
            source,
        })?;
    if bytes.len() as u64 > MAX_INPUT_BYTES {
        return Err(Error::TooLarge {
            path: path.to_owned(),
            limit: MAX_INPUT_BYTES,
        });
    }
    let text = String::from_utf8(bytes).map_err(|_| Error::Io {
        path: path.to_owned(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8 text"),
    })?;
    load_str(&text, path, loaded)
}

/// Reads files and directories (see [`manifest_files`]) into one [`Loaded`]; skipped special
/// files are added to [`Loaded::skipped`].
pub fn load_paths(paths: &[PathBuf]) -> Result<Loaded, Error> {
    let mut loaded = Loaded::default();
    let files = manifest_files(paths)?;
    loaded.skipped.extend(files.skipped);
    for file in &files.files {
        load_file(file, &mut loaded)?;
    }
    Ok(loaded)
}

/// Reads one (multi-document) YAML or JSON text into `loaded`; `path` is for messages. A UTF-8
/// byte order mark at the start is ignored, as `kubectl` does.
pub fn load_str(text: &str, path: &Path, loaded: &mut Loaded) -> Result<(), Error> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if let Some(deep) = too_deep(text, MAX_DEPTH) {
        return Err(Error::Yaml {
            path: path.to_owned(),
            index: deep.document,
            message: format!(
                "collections nested deeper than {MAX_DEPTH} levels at line {} column {}",
                deep.line, deep.column
            ),
        });
    }
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

/// Where a text first nests flow collections deeper than allowed (1-based line and column).
#[derive(Debug, PartialEq, Eq)]
struct TooDeep {
    document: usize,
    line: usize,
    column: usize,
}

/// Finds the first `[` or `{` that opens a flow collection deeper than `limit`, in one pass.
/// It follows enough of YAML to not count brackets in comments, quoted scalars, block
/// scalars (`|`, `>`) and plain scalars (`a[1]`); what it may still count wrongly is text
/// no valid manifest nests 128 deep. Documents are counted at `---` lines.
fn too_deep(text: &str, limit: usize) -> Option<TooDeep> {
    let b = text.as_bytes();
    let blank = |i: usize| i >= b.len() || matches!(b[i], b' ' | b'\t' | b'\r' | b'\n');
    let mut depth = 0usize;
    let mut document = 0usize;
    let mut document_used = false;
    let mut line = 1usize;
    let mut line_start = 0usize;
    // A node may start here (so `[`, `{`, quotes, `|`, `>` are syntax, not scalar text).
    let mut node_start = true;
    // Column where the last block key or entry started on this line (a block scalar's body is
    // indented more than it).
    let mut node_col = 0usize;
    let mut block_scalar_parent: Option<usize> = None;
    let mut prev_blank = true;
    let mut i = 0;
    while i < b.len() {
        if i == line_start {
            let indent = b[i..].iter().take_while(|&&c| c == b' ').count();
            let rest_blank = b[i + indent..]
                .iter()
                .take_while(|&&c| c != b'\n')
                .all(|&c| c == b' ' || c == b'\t' || c == b'\r');
            if let Some(parent) = block_scalar_parent {
                if rest_blank || indent > parent {
                    // Block scalar content: skip the line.
                    match b[i..].iter().position(|&c| c == b'\n') {
                        Some(n) => {
                            i += n + 1;
                            line += 1;
                            line_start = i;
                            continue;
                        }
                        None => break,
                    }
                }
                block_scalar_parent = None;
            }
            if depth == 0 {
                if b[i..].starts_with(b"---") && blank(i + 3) {
                    if document_used {
                        document += 1;
                    }
                    document_used = true;
                    i += 3;
                    node_start = true;
                    node_col = 0;
                    prev_blank = true;
                    continue;
                }
                node_start = true;
                node_col = indent;
            }
        }
        let c = b[i];
        match c {
            b'\n' => {
                line += 1;
                line_start = i + 1;
                prev_blank = true;
                i += 1;
                continue;
            }
            b' ' | b'\t' | b'\r' => {
                prev_blank = true;
                i += 1;
                continue;
            }
            b'#' if prev_blank => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            _ => {}
        }
        document_used = true;
        prev_blank = false;
        match c {
            b'"' | b'\'' if node_start => {
                // Quoted scalar, possibly over several lines; `\x` escapes in double quotes,
                // `''` in single quotes.
                i += 1;
                while i < b.len() {
                    match b[i] {
                        b'\\' if c == b'"' => i += 1,
                        b'\n' => {
                            line += 1;
                            line_start = i + 1;
                        }
                        q if q == c => {
                            if c == b'\'' && b.get(i + 1) == Some(&b'\'') {
                                i += 1;
                            } else {
                                break;
                            }
                        }
                        _ => {}
                    }
                    i += 1;
                }
                node_start = false;
            }
            b'[' | b'{' if node_start || depth > 0 => {
                depth += 1;
                if depth > limit {
                    return Some(TooDeep {
                        document,
                        line,
                        column: text[line_start..i].chars().count() + 1,
                    });
                }
                node_start = true;
            }
            b']' | b'}' if depth > 0 => {
                depth -= 1;
                node_start = false;
            }
            b',' if depth > 0 => node_start = true,
            b':' if depth > 0 || blank(i + 1) => node_start = true,
            b'-' | b'?' if depth == 0 && node_start && blank(i + 1) => {
                node_col = i - line_start;
            }
            b'|' | b'>' if depth == 0 && node_start => {
                block_scalar_parent = Some(node_col);
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'&' | b'!' if node_start => {
                // Anchor or tag: the node follows it.
                while !blank(i) {
                    i += 1;
                }
                continue;
            }
            _ => {
                if depth == 0 && node_start {
                    node_col = i - line_start;
                }
                node_start = false;
            }
        }
        i += 1;
    }
    None
}

fn add_value(
    mut value: Value,
    path: &Path,
    index: usize,
    loaded: &mut Loaded,
) -> Result<(), Error> {
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
    let name_missing = value
        .pointer("/metadata/name")
        .is_none_or(|v| v.is_null() || v.as_str() == Some(""));
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
        ($list:expr, $kind:literal, $api:expr, $namespaced:expr) => {
            push!($list, $kind, $api, $namespaced, |_| {})
        };
        ($list:expr, $kind:literal, $api:expr, $namespaced:expr, $trim:expr) => {{
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
            let parsed = if name_missing {
                // kubectl refuses it too ("resource name may not be empty"); translated, it
                // would become an entity named after nothing (`default..80`).
                Err(None)
            } else {
                serde_path_to_error::deserialize(value).map_err(Some)
            };
            match parsed {
                Ok(mut obj) => {
                    // Parsed whole (so a malformed field is still reported), then stripped of
                    // what translation never reads: every object is kept until translation
                    // is done, and exported manifests carry large `managedFields`.
                    kube::Resource::meta_mut(&mut obj).managed_fields = None;
                    $trim(&mut obj);
                    $list.push(std::sync::Arc::new(obj))
                }
                Err(None) => {
                    let message = "metadata.name: required".to_owned();
                    loaded.malformed.push(format!(
                        "{}: document {index}: {}: {message}",
                        path.display(),
                        $kind,
                    ));
                    snap.malformed.push(MalformedObject {
                        kind: $kind,
                        namespace,
                        name: String::new(),
                        message,
                    });
                }
                Err(Some(e)) => {
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
        (_, "v1", "Service") => push!(snap.services, "Service", "v1", true, |svc: &mut Service| {
            // Translation reads a Service's ports, type and external name, never which Pods
            // it selects, nor its status.
            svc.status = None;
            if let Some(spec) = &mut svc.spec {
                spec.selector = None;
            }
        }),
        (_, "v1", "Secret") => {
            ignore_line_breaks_in_data(&mut value);
            push!(snap.secrets, "Secret", "v1", true)
        }
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
            push!(
                snap.gateways,
                "Gateway",
                "gateway.networking.k8s.io/v1",
                true
            )
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
        _ => {
            let namespace = value
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .filter(|ns| !ns.is_empty());
            let object = match (kind.as_str(), namespace, name.as_str()) {
                ("", _, _) => "(no kind)".to_owned(),
                (kind, _, "") => format!("{kind} (no name)"),
                (kind, Some(ns), name) => format!("{kind} {ns}/{name}"),
                (kind, None, name) => format!("{kind} {name}"),
            };
            let api = if api_version.is_empty() {
                "(no apiVersion)"
            } else {
                api_version.as_str()
            };
            let kind = if kind.is_empty() { "(no kind)" } else { &kind };
            loaded.skipped.push(format!(
                "{}: document {index}: {object}: warning: {api} {kind} is not a kind render or validate reads; skipped",
                path.display()
            ));
        }
    }
    Ok(())
}

/// Removes `\r` and `\n` from the base64 strings of a Secret's `data`, as Kubernetes (and so
/// KIC) decodes them: Go's `encoding/base64` `(*Encoding).Decode` documents "New line
/// characters (\r and \n) are ignored" (pkg.go.dev/encoding/base64), and the API server reads
/// `data` through it. Multi-line base64 and the newline a `key: |` block ends with are
/// therefore valid; any other stray character is still an error.
fn ignore_line_breaks_in_data(secret: &mut Value) {
    if let Some(data) = secret.get_mut("data").and_then(Value::as_object_mut) {
        for encoded in data.values_mut() {
            if let Value::String(text) = encoded
                && text.contains(['\r', '\n'])
            {
                text.retain(|c| c != '\r' && c != '\n');
            }
        }
    }
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
    fn what_translation_never_reads_is_dropped_after_a_full_parse() {
        let text = "apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n  managedFields: [{manager: kubectl}]\n  labels: {app: a}\nspec: {selector: {app: a}, ports: [{port: 80}]}\nstatus: {loadBalancer: {}}\n---\napiVersion: configuration.konghq.com/v1\nkind: KongPlugin\nmetadata: {name: p, managedFields: [{manager: kubectl}]}\nplugin: cors\n---\napiVersion: v1\nkind: Service\nmetadata: {name: bad}\nspec: {selector: 5}\n";
        let mut loaded = Loaded::default();
        assert!(load_str(text, Path::new("t.yaml"), &mut loaded).is_ok());
        let svc = &loaded.snapshot.services;
        assert_eq!(svc.len(), 1);
        assert_eq!(svc[0].metadata.managed_fields, None);
        assert!(svc[0].metadata.labels.is_some());
        assert_eq!(svc[0].status, None);
        let spec = svc[0].spec.as_ref().expect("spec");
        assert_eq!(spec.selector, None);
        assert_eq!(spec.ports.as_ref().map(Vec::len), Some(1));
        assert_eq!(
            loaded.snapshot.kong_plugins[0].metadata.managed_fields,
            None
        );
        // Still parsed before it is dropped: a malformed selector is reported.
        let m = &loaded.snapshot.malformed;
        assert_eq!(m.len(), 1, "{m:?}");
        assert!(
            m[0].message.starts_with("spec.selector"),
            "{}",
            m[0].message
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
