//! Golden files: `tests/golden/<case>/input.yaml` (manifests) rendered as JSON must equal
//! `tests/golden/<case>/expected.json`. An optional `options.json` sets `TranslateOptions`
//! fields (`ingress_class`, `ingress_class_is_default`, `gateway_class`, `owner_tag`,
//! `combined_services_from_different_httproutes`).
//! `UPDATE_GOLDEN=1 cargo test --test translate_golden` rewrites the expected files; review each
//! change by hand against docs/compatibility.md before accepting it. Payload hashes are masked in the
//! rendered output, and so in `expected.json` (`kpo-hash:<masked>`).

use std::path::{Path, PathBuf};

use konnect_plugin_operator::manifest;
use konnect_plugin_operator::translate::{TranslateOptions, render, translate};
use pretty_assertions::assert_eq;

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn options(case: &Path) -> TranslateOptions {
    let mut opts = TranslateOptions {
        owner_tag: "test-cluster".into(),
        ..TranslateOptions::default()
    };
    let Ok(text) = std::fs::read_to_string(case.join("options.json")) else {
        return opts;
    };
    let v: serde_json::Value = serde_json::from_str(&text).expect("options.json is JSON");
    if let Some(c) = v.get("ingress_class").and_then(|x| x.as_str()) {
        opts.ingress_class = c.into();
    }
    if let Some(d) = v.get("ingress_class_is_default").and_then(|x| x.as_bool()) {
        opts.ingress_class_is_default = d;
    }
    if let Some(g) = v.get("gateway_class").and_then(|x| x.as_str()) {
        opts.gateway_class = Some(g.into());
    }
    if let Some(o) = v.get("owner_tag").and_then(|x| x.as_str()) {
        opts.owner_tag = o.into();
    }
    if let Some(c) = v
        .get("combined_services_from_different_httproutes")
        .and_then(|x| x.as_bool())
    {
        opts.combined_services_from_different_httproutes = c;
    }
    opts
}

/// Replaces each payload hash (`kpo-hash:` and 12 hex digits) by `kpo-hash:<masked>`, so a
/// golden file shows routing changes, not hash churn. The hash itself has its own test (in
/// `src/translate/tags.rs`, against a digest computed with Python's hashlib).
fn mask_hashes(rendered: &str) -> String {
    let re = regex::Regex::new(r"kpo-hash:[0-9a-f]{12}\b").expect("valid regex");
    re.replace_all(rendered, "kpo-hash:<masked>").into_owned()
}

/// Renders one case, payload hashes masked.
pub fn render_case(case: &Path) -> String {
    let loaded = manifest::load_paths(&[case.join("input.yaml")]).expect("input.yaml loads");
    let state = translate(&loaded.snapshot, &options(case));
    mask_hashes(&render::to_json(&state).expect("renders"))
}

#[test]
fn hashes_are_masked_and_nothing_else() {
    assert_eq!(
        mask_hashes(r#"["kpo-hash:0123456789ab", "kpo-hash:<redacted>", "kpo-hash:0123"]"#),
        r#"["kpo-hash:<masked>", "kpo-hash:<redacted>", "kpo-hash:0123"]"#
    );
}

#[test]
fn every_golden_case_matches() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut cases: Vec<PathBuf> = std::fs::read_dir(golden_dir())
        .expect("tests/golden exists")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.join("input.yaml").exists())
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 8,
        "expected the seed cases at least, found {}",
        cases.len()
    );
    let mut failures = Vec::new();
    for case in &cases {
        let actual = render_case(case);
        let expected_path = case.join("expected.json");
        if update {
            std::fs::write(&expected_path, &actual).expect("write expected.json");
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_else(|_| {
            panic!(
                "{} is missing; run with UPDATE_GOLDEN=1",
                expected_path.display()
            )
        });
        if expected != actual {
            failures.push(
                case.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            );
            if failures.len() == 1 {
                assert_eq!(expected, actual, "golden case {}", case.display());
            }
        }
    }
    assert!(failures.is_empty(), "golden cases differ: {failures:?}");
}

#[test]
fn render_command_reads_the_samples_directory_and_reports_invalid() {
    use konnect_plugin_operator::cli::{OutputFormat, render_command};
    use konnect_plugin_operator::translate::Secrets;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    let invalid = render_command(
        &[root.join("config/samples")],
        OutputFormat::Json,
        Secrets::Redact,
        TranslateOptions::default(),
        &mut out,
    )
    .expect("samples render");
    assert!(!invalid, "{}", String::from_utf8_lossy(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out).expect("JSON output");
    let keys: Vec<&str> = doc
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "services",
            "routes",
            "consumers",
            "consumer_groups",
            "consumer_group_memberships",
            "plugins",
            "held",
            "results"
        ]
    );
    assert_eq!(doc["plugins"].as_array().map(Vec::len), Some(9));

    let mut out = Vec::new();
    let invalid = render_command(
        &[golden_dir().join("plugin-config-resolution/input.yaml")],
        OutputFormat::Yaml,
        Secrets::Redact,
        TranslateOptions::default(),
        &mut out,
    )
    .expect("renders");
    assert!(invalid);
    let doc: serde_json::Value = serde_norway::from_slice(&out).expect("YAML output");
    assert!(
        doc["results"]
            .as_array()
            .is_some_and(|r| r.iter().any(|x| x["status"] == "Invalid"))
    );

    let missing = render_command(
        &[root.join("no/such/dir")],
        OutputFormat::Json,
        Secrets::Redact,
        TranslateOptions::default(),
        &mut Vec::new(),
    );
    assert!(missing.is_err());
}
