//! Our generated CRDs against Kong's own (tests/reference/crds/, see its PROVENANCE.md): names,
//! scope, versions, printer columns, subresources and a structural comparison of every
//! openAPIV3Schema.
//!
//! Descriptions are prose and are not compared. Any other difference fails, except the
//! additions listed in `ALLOWED_ADDITIONS` with the reason we make them.

use std::path::PathBuf;

use konnect_plugin_operator::crd::generate;
use serde_json::Value;

/// (CRD name, JSON pointer into the version's openAPIV3Schema, why we add it).
const ALLOWED_ADDITIONS: &[(&str, &str, &str)] = &[
    (
        "kongplugins.configuration.konghq.com",
        "/properties/tags",
        "docs/compatibility.md: Kong operator's optional `tags` (<= 20, 1..128 chars) is accepted on KongPlugin",
    ),
    (
        "kongclusterplugins.configuration.konghq.com",
        "/properties/tags",
        "docs/compatibility.md: Kong operator's optional `tags` (<= 20, 1..128 chars) is accepted on KongClusterPlugin",
    ),
];

fn reference_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/reference/crds")
}

fn reference(name: &str) -> Value {
    let (plural, group) = name.split_once('.').expect("CRD names are plural.group");
    let path = reference_dir().join(format!("{group}_{plural}.yaml"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}

fn ours() -> Vec<(String, Value)> {
    generate::all()
        .into_iter()
        // Kong's kinds only: our own group (KonnectApplicationAuthStrategy, KonnectDCRProvider)
        // has no Kong reference; tests/apps_crds.rs checks it against the Konnect spec.
        .filter(|(_, crd)| crd.spec.group == konnect_plugin_operator::crd::GROUP)
        .map(|(_, crd)| {
            let name = crd.metadata.name.clone().expect("CRDs are named");
            (name, serde_json::to_value(crd).expect("CRD serializes"))
        })
        .collect()
}

/// Collects the differences between `ours` and `theirs` below `path`, ignoring descriptions.
fn diff(path: &str, ours: &Value, theirs: &Value, out: &mut Vec<Difference>) {
    match (ours, theirs) {
        (Value::Object(a), Value::Object(b)) => {
            for (key, theirs_v) in b {
                if key == "description" {
                    continue;
                }
                let child = format!("{path}/{}", key.replace('~', "~0").replace('/', "~1"));
                match a.get(key) {
                    Some(ours_v) => diff(&child, ours_v, theirs_v, out),
                    None => out.push(Difference::Missing(child)),
                }
            }
            for key in a
                .keys()
                .filter(|k| !b.contains_key(*k) && *k != "description")
            {
                out.push(Difference::Added(format!(
                    "{path}/{}",
                    key.replace('~', "~0").replace('/', "~1")
                )));
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                diff(&format!("{path}/{i}"), x, y, out);
            }
        }
        // k8s-openapi holds `minimum`/`maximum` as f64, so 0 round-trips as 0.0: same number.
        (Value::Number(a), Value::Number(b)) if a.as_f64() == b.as_f64() => {}
        _ if ours == theirs => {}
        _ => out.push(Difference::Changed(
            path.to_string(),
            ours.clone(),
            theirs.clone(),
        )),
    }
}

enum Difference {
    Missing(String),
    Added(String),
    Changed(String, Value, Value),
}

impl std::fmt::Debug for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Missing(path) => write!(f, "Missing({path:?})"),
            Self::Added(path) => write!(f, "Added({path:?})"),
            Self::Changed(path, ours, theirs) => {
                write!(f, "Changed({path:?}, ours {ours}, Kong's {theirs})")
            }
        }
    }
}

#[test]
fn every_kong_kind_we_serve_has_a_reference() {
    let names: Vec<String> = ours().into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        [
            "kongplugins.configuration.konghq.com",
            "kongclusterplugins.configuration.konghq.com",
            "kongconsumers.configuration.konghq.com",
            "kongconsumergroups.configuration.konghq.com",
        ]
    );
}

#[test]
fn names_scope_versions_columns_and_subresources_match_kong() {
    for (name, ours) in ours() {
        let theirs = reference(&name);
        for pointer in ["/spec/group", "/spec/names", "/spec/scope"] {
            assert_eq!(
                ours.pointer(pointer),
                theirs.pointer(pointer),
                "{name}: {pointer}"
            );
        }
        let ours_versions = ours["spec"]["versions"].as_array().expect("versions");
        let theirs_versions = theirs["spec"]["versions"].as_array().expect("versions");
        assert_eq!(
            ours_versions.len(),
            theirs_versions.len(),
            "{name}: number of versions"
        );
        for (o, t) in ours_versions.iter().zip(theirs_versions) {
            for field in [
                "name",
                "served",
                "storage",
                "subresources",
                "additionalPrinterColumns",
            ] {
                assert_eq!(o.get(field), t.get(field), "{name} {}: {field}", t["name"]);
            }
        }
    }
}

#[test]
fn schemas_match_kong_structurally() {
    let mut failures = Vec::new();
    let mut used_allowances = 0;
    for (name, ours) in ours() {
        let theirs = reference(&name);
        let ours_schema = &ours["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
        let theirs_schema = &theirs["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
        let mut differences = Vec::new();
        diff("", ours_schema, theirs_schema, &mut differences);
        for d in differences {
            match &d {
                Difference::Added(path)
                    if ALLOWED_ADDITIONS
                        .iter()
                        .any(|(crd, p, _)| *crd == name && p == path) =>
                {
                    used_allowances += 1
                }
                _ => failures.push(format!("{name}: {d:?}")),
            }
        }
    }
    assert!(
        failures.is_empty(),
        "schema differences from Kong's CRDs:\n{}",
        failures.join("\n")
    );
    // An allowance that no longer matches anything is stale and must be removed.
    assert_eq!(
        used_allowances,
        ALLOWED_ADDITIONS.len(),
        "every listed addition is still present"
    );
}

#[test]
fn the_comparison_catches_a_dropped_field_and_a_changed_enum() {
    // Guard against a comparison that passes vacuously.
    let (name, ours) = ours().into_iter().next().expect("at least one CRD");
    let theirs = reference(&name);
    let mut broken = ours["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone();
    broken["properties"]
        .as_object_mut()
        .expect("properties")
        .remove("run_on");
    broken["properties"]["protocols"]["items"]["enum"] = serde_json::json!(["http"]);
    let mut differences = Vec::new();
    diff(
        "",
        &broken,
        &theirs["spec"]["versions"][0]["schema"]["openAPIV3Schema"],
        &mut differences,
    );
    let text = format!("{differences:?}");
    assert!(text.contains("Missing(\"/properties/run_on\")"), "{text}");
    assert!(text.contains("/properties/protocols/items/enum"), "{text}");
}
