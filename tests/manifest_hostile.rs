//! `render` / `validate` input that is hostile or merely unusual (issue 8, "More defects found
//! by trying hostile input"): size caps, special files, deep nesting, a byte order mark,
//! symlink loops, stdin, unknown kinds and Secrets with line breaks. No timing assertions: each
//! test asserts on the result only (a regression to reading forever or opening a FIFO shows as
//! a hung test).

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use konnect_plugin_operator::cli::validate_files;
use konnect_plugin_operator::manifest::{self, Loaded, MAX_INPUT_BYTES};

const BIN: &str = env!("CARGO_BIN_EXE_konnect-plugin-operator");

const SERVICE: &str = "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\nspec: {ports: [{port: 80}]}\n";

fn load_str(text: &str) -> Result<Loaded, String> {
    let mut loaded = Loaded::default();
    manifest::load_str(text, Path::new("t.yaml"), &mut loaded).map_err(|e| e.to_string())?;
    Ok(loaded)
}

fn err(result: Result<Loaded, manifest::Error>) -> String {
    match result {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_file_over_the_cap_is_an_error_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let big = dir.path().join("big.yaml");
    // Sparse: one byte over the cap costs no disk.
    let f = std::fs::File::create(&big).expect("create");
    f.set_len(MAX_INPUT_BYTES + 1).expect("set_len");
    let e = err(manifest::load_paths(std::slice::from_ref(&big)));
    assert!(
        e.starts_with(&format!("{}: larger than", big.display())),
        "{e}"
    );
    assert!(e.contains(&MAX_INPUT_BYTES.to_string()), "{e}");
}

#[test]
fn an_endless_reader_stops_at_the_cap() {
    // `io::repeat` never ends: reading it whole would never return.
    let mut loaded = Loaded::default();
    let e = manifest::load_reader(std::io::repeat(b' '), Path::new("<stdin>"), &mut loaded)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(e.starts_with("<stdin>: larger than"), "{e}");
}

#[test]
fn a_symlink_to_dev_zero_is_refused_when_named_and_skipped_in_a_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let zero = dir.path().join("zero.yaml");
    std::os::unix::fs::symlink("/dev/zero", &zero).expect("symlink");
    std::fs::write(dir.path().join("svc.yaml"), SERVICE).expect("write");

    let e = err(manifest::load_paths(std::slice::from_ref(&zero)));
    assert!(
        e.starts_with(&format!("{}: not a regular file", zero.display())),
        "{e}"
    );

    let loaded = manifest::load_paths(&[dir.path().to_path_buf()]).expect("directory loads");
    assert_eq!(loaded.snapshot.services.len(), 1);
    assert_eq!(
        loaded.skipped,
        [format!(
            "{}: warning: not a regular file (a FIFO, device or socket); skipped",
            zero.display()
        )]
    );
}

fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("mkfifo runs");
    assert!(status.success());
}

#[test]
fn a_fifo_in_a_directory_is_skipped_unopened_and_named_it_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fifo = dir.path().join("pipe.yaml");
    mkfifo(&fifo);
    std::fs::write(dir.path().join("svc.yaml"), SERVICE).expect("write");

    // Opening the FIFO would block this test forever (no writer).
    let loaded = manifest::load_paths(&[dir.path().to_path_buf()]).expect("directory loads");
    assert_eq!(loaded.snapshot.services.len(), 1);
    assert_eq!(loaded.skipped.len(), 1, "{:?}", loaded.skipped);
    assert!(loaded.skipped[0].starts_with(&fifo.display().to_string()));

    let mut out = Vec::new();
    assert!(!validate_files(&[dir.path().to_path_buf()], &mut out).expect("validate runs"));
    let text = String::from_utf8(out).expect("utf-8");
    assert!(
        text.contains(&format!("{}: warning: not a regular file", fifo.display())),
        "{text}"
    );

    let e = err(manifest::load_paths(std::slice::from_ref(&fifo)));
    assert!(
        e.starts_with(&format!("{}: not a regular file", fifo.display())) && e.contains("-f -"),
        "{e}"
    );
}

#[test]
fn nesting_50k_deep_fails_with_a_depth_error() {
    for (label, deep) in [
        (
            "sequences",
            format!("a: {}{}", "[".repeat(50_000), "]".repeat(50_000)),
        ),
        (
            "mappings",
            format!("a: {}1{}", "{a: ".repeat(50_000), "}".repeat(50_000)),
        ),
        (
            "JSON",
            format!("{}{}", "[".repeat(50_000), "]".repeat(50_000)),
        ),
    ] {
        let e = load_str(&deep).err().unwrap_or_default();
        assert!(
            e.starts_with("t.yaml: document 0: not valid YAML: collections nested deeper than 128 levels at line 1 column "),
            "{label}: {e}"
        );
    }
    // The document index is that of the deep document.
    let text = format!("{SERVICE}---\na: {}", "[".repeat(50_000));
    let e = load_str(&text).err().unwrap_or_default();
    assert!(e.starts_with("t.yaml: document 1: "), "{e}");
    assert!(e.ends_with("at line 6 column 132"), "{e}");
}

#[test]
fn the_depth_scan_does_not_count_brackets_that_are_text() {
    // 200 brackets in a comment, quoted scalars, a plain scalar, a block scalar: all text.
    let b = "[".repeat(200);
    let text = format!(
        "apiVersion: configuration.konghq.com/v1\nkind: KongPlugin # {b}\nmetadata:\n  name: p\n  annotations:\n    a: x{b}\n    d: \"{b}\\\"{b}\"\n    s: '{b}''{b}'\n    f: |\n      {b}\n\n      {b}\n    g: >-\n      {b}\nplugin: cors\n"
    );
    let loaded = load_str(&text).expect("loads");
    let plugin = &loaded.snapshot.kong_plugins[0];
    let ann = plugin.metadata.annotations.clone().unwrap_or_default();
    assert_eq!(ann.get("a").map(String::len), Some(201));
    // `|` keeps the empty line and the final line break: 200 + 1 + 1 + 200 + 1.
    assert_eq!(ann.get("f").map(String::len), Some(403));
    // 128 levels is serde_norway's own limit: the same document one level shallower parses.
    let ok = format!("a: {}{}", "[".repeat(127), "]".repeat(127));
    assert!(load_str(&ok).is_ok());
}

#[test]
fn a_byte_order_mark_at_the_start_is_accepted() {
    let loaded = load_str(&format!("\u{feff}{SERVICE}")).expect("loads");
    assert_eq!(loaded.snapshot.services.len(), 1);
    assert_eq!(
        loaded.snapshot.services[0].metadata.name.as_deref(),
        Some("web")
    );
}

#[test]
fn a_symlink_loop_is_one_short_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sub = dir.path().join("sub");
    std::fs::create_dir(&sub).expect("mkdir");
    std::fs::write(sub.join("svc.yaml"), SERVICE).expect("write");
    std::os::unix::fs::symlink(dir.path(), sub.join("back")).expect("symlink");
    let e = err(manifest::load_paths(&[dir.path().to_path_buf()]));
    assert!(e.contains("symbolic link loop"), "{e}");
    assert!(!e.contains("back/sub/back"), "{e}");
    assert_eq!(
        e,
        format!(
            "{}: symbolic link loop: leads back to {}",
            sub.join("back").display(),
            dir.path().display()
        )
    );
}

fn run_with_stdin(args: &[&str], stdin: &str) -> (bool, String, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .env("KPO_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    let out = child.wait_with_output().expect("waits");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn dash_f_dash_reads_stdin() {
    let ingress = "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: web, namespace: shop}\nspec:\n  ingressClassName: kong\n  rules:\n  - http:\n      paths:\n      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}\n";
    let (ok, out, err) =
        run_with_stdin(&["render", "-f", "-"], &format!("{SERVICE}---\n{ingress}"));
    assert!(ok, "{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(doc["services"][0]["name"], "shop.web.80", "{out}");

    let bad = "apiVersion: configuration.konghq.com/v1\nkind: KongPlugin\nmetadata: {name: p}\nplugin: session\nconfig: {cookie_path: app}\n";
    let (ok, out, _) = run_with_stdin(&["validate", "-f", "-"], bad);
    assert!(!ok);
    assert_eq!(
        out,
        "<stdin>: KongPlugin default/p: config.cookie_path: should start with: /\n"
    );
}

#[test]
fn validate_reports_objects_of_unknown_kinds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("m.yaml");
    std::fs::write(
        &file,
        format!(
            "{SERVICE}---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: api, namespace: shop}}\n---\napiVersion: example.com/v1\nkind: Widget\nmetadata: {{name: w}}\n---\nfoo: bar\n"
        ),
    )
    .expect("write");
    let mut out = Vec::new();
    assert!(!validate_files(std::slice::from_ref(&file), &mut out).expect("runs"));
    let f = file.display();
    assert_eq!(
        String::from_utf8(out).expect("utf-8"),
        format!(
            "{f}: document 1: Deployment shop/api: warning: apps/v1 Deployment is not a kind render or validate reads; skipped\n\
             {f}: document 2: Widget w: warning: example.com/v1 Widget is not a kind render or validate reads; skipped\n\
             {f}: document 3: (no kind): warning: (no apiVersion) (no kind) is not a kind render or validate reads; skipped\n"
        )
    );
}

fn secret_doc(data: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: conf, namespace: shop}}\ndata:\n{data}"
    )
}

const CONFIG_FROM: &str = "apiVersion: configuration.konghq.com/v1\nkind: KongPlugin\nmetadata: {name: p, namespace: shop}\nplugin: cors\nconfigFrom: {secretKeyRef: {name: conf, key: config}}\n";

#[test]
fn secret_data_with_line_breaks_decodes_as_go_does() {
    // base64("hello world") is "aGVsbG8gd29ybGQ=" (RFC 4648); Go's decoder ignores \r and \n.
    let text =
        secret_doc("  multi: \"aGVsbG8g\\r\\nd29ybGQ=\"\n  block: |\n    aGVsbG8gd29y\n    bGQ=\n");
    let loaded = load_str(&text).expect("loads");
    assert!(
        loaded.snapshot.malformed.is_empty(),
        "{:?}",
        loaded.snapshot.malformed
    );
    let data = loaded.snapshot.secrets[0].data.clone().unwrap_or_default();
    assert_eq!(data["multi"].0, b"hello world");
    assert_eq!(data["block"].0, b"hello world");

    // configFrom reads such a Secret: base64 of `{"origins": ["*"]}` written over two lines.
    let config = "eyJvcmlnaW5zIjog\nWyIqIl19\n";
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("p.yaml");
    std::fs::write(
        &file,
        format!(
            "{CONFIG_FROM}---\n{}",
            secret_doc(&format!(
                "  config: |\n    {}",
                config.replace('\n', "\n    ")
            ))
        ),
    )
    .expect("write");
    let mut out = Vec::new();
    let any_error = validate_files(std::slice::from_ref(&file), &mut out).expect("runs");
    let text = String::from_utf8(out).expect("utf-8");
    assert!(!any_error, "{text}");
    assert_eq!(text, "");
}

#[test]
fn an_undecodable_secret_is_reported_as_such_not_as_missing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("p.yaml");
    std::fs::write(
        &file,
        format!(
            "{CONFIG_FROM}---\n{}",
            secret_doc("  config: \"not base64!\"\n")
        ),
    )
    .expect("write");
    let mut out = Vec::new();
    assert!(validate_files(std::slice::from_ref(&file), &mut out).expect("runs"));
    let text = String::from_utf8(out).expect("utf-8");
    let f = file.display();
    assert_eq!(
        text,
        format!(
            "{f}: document 1: Secret shop/conf: data.config: the Secret cannot be read (is `data` valid base64?)\n\
             {f}: KongPlugin shop/p: configFrom.secretKeyRef: Secret shop/conf cannot be decoded (see its own error)\n"
        )
    );
    assert!(!text.contains("not base64!"));
}

/// An object without `metadata.name` (missing, empty, null) is refused with the field path;
/// nothing is translated from it (it would otherwise become service `shop..80`).
#[test]
fn an_object_without_a_name_is_invalid_and_translates_to_nothing() {
    use konnect_plugin_operator::translate::{self, Reason, Status, TranslateOptions};
    const PLUGIN: &str = "apiVersion: configuration.konghq.com/v1\nkind: KongPlugin\nmetadata: {name: cors, namespace: shop}\nplugin: cors\nconfig: {origins: [\"*\"]}\n";
    for metadata in [
        "{namespace: shop, annotations: {konghq.com/plugins: cors}}",
        "{name: \"\", namespace: shop, annotations: {konghq.com/plugins: cors}}",
        "{name: null, namespace: shop, annotations: {konghq.com/plugins: cors}}",
    ] {
        let text = format!(
            "apiVersion: v1\nkind: Service\nmetadata: {metadata}\nspec: {{ports: [{{port: 80}}]}}\n---\n{PLUGIN}"
        );
        let loaded = load_str(&text).expect("loads");
        let state = translate::translate(&loaded.snapshot, &TranslateOptions::default());
        assert!(
            state.services.is_empty(),
            "{metadata}: {:?}",
            state.services
        );
        assert!(state.plugins.is_empty(), "{metadata}: {:?}", state.plugins);
        let bad: Vec<_> = state
            .results
            .iter()
            .filter(|r| {
                r.status
                    == Status::Invalid {
                        reason: Reason::InvalidSpec,
                    }
            })
            .collect();
        assert_eq!(bad.len(), 1, "{metadata}: {:?}", state.results);
        assert_eq!(bad[0].kind, "Service");
        assert!(
            bad[0].message.ends_with("metadata.name: required"),
            "{}",
            bad[0].message
        );
        assert!(!loaded.malformed.is_empty(), "reported by the loader too");
    }
}

/// The same refusal when the snapshot comes from elsewhere (the controller's stores).
#[test]
fn a_nameless_object_in_a_snapshot_is_invalid() {
    use konnect_plugin_operator::translate::{self, TranslateOptions};
    let text = "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop, annotations: {konghq.com/plugins: cors}}\nspec: {ports: [{port: 80}]}\n---\napiVersion: configuration.konghq.com/v1\nkind: KongPlugin\nmetadata: {name: cors, namespace: shop}\nplugin: cors\nconfig: {origins: [\"*\"]}\n";
    let mut snap = load_str(text).expect("loads").snapshot;
    // Named, it translates (the check below can fail)...
    assert_eq!(
        translate::translate(&snap, &TranslateOptions::default())
            .services
            .len(),
        1
    );
    // ...nameless, it does not.
    std::sync::Arc::make_mut(&mut snap.services[0])
        .metadata
        .name = None;
    let state = translate::translate(&snap, &TranslateOptions::default());
    assert!(state.services.is_empty(), "{:?}", state.services);
    let service = state
        .results
        .iter()
        .find(|r| r.kind == "Service")
        .expect("a result for the Service");
    assert!(service.is_invalid());
    assert!(service.message.contains("metadata.name: required"));
}

/// A Secret that is present but cannot be decoded is reported as such on the plugin reading
/// it, not as "not found".
#[test]
fn an_undecodable_secret_is_not_reported_as_missing() {
    use konnect_plugin_operator::translate::{self, TranslateOptions};
    let text = "apiVersion: v1\nkind: Secret\nmetadata: {name: bad, namespace: shop}\ndata: {config: \"!!!not base64!!!\"}\n---\napiVersion: configuration.konghq.com/v1\nkind: KongPlugin\nmetadata: {name: cors, namespace: shop}\nplugin: cors\nconfigFrom: {secretKeyRef: {name: bad, key: config}}\n";
    let loaded = load_str(text).expect("loads");
    let state = translate::translate(&loaded.snapshot, &TranslateOptions::default());
    let plugin = state
        .results
        .iter()
        .find(|r| r.kind == "KongPlugin")
        .expect("plugin result");
    assert!(plugin.is_invalid());
    assert!(
        plugin.message.contains("Secret shop/bad cannot be decoded"),
        "{}",
        plugin.message
    );
    assert!(!plugin.message.contains("not found"), "{}", plugin.message);
}
