//! Property tests of translation: deterministic whatever the order of the snapshot, and never a
//! panic on arbitrary annotation values, paths, configurations and Secret contents.

use std::collections::BTreeMap;
use std::path::Path;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{Secret, Service, ServicePort, ServiceSpec};
use k8s_openapi::api::networking::v1::{
    HTTPIngressPath, HTTPIngressRuleValue, Ingress, IngressBackend, IngressRule,
    IngressServiceBackend, IngressSpec, ServiceBackendPort,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use konnect_plugin_operator::crd::{
    ConfigPatch, ConfigSource, KongConsumer, KongPlugin, SecretKeyRef,
};
use konnect_plugin_operator::manifest;
use konnect_plugin_operator::translate::{Snapshot, TranslateOptions, render, translate};
use proptest::prelude::*;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use serde_json::Value;

/// Every golden input, in one snapshot.
fn golden_snapshot() -> Snapshot {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut loaded = manifest::Loaded::default();
    let mut cases: Vec<_> = std::fs::read_dir(&dir)
        .expect("golden dir")
        .map(|e| e.expect("entry").path())
        .collect();
    cases.sort();
    for case in cases {
        let input = case.join("input.yaml");
        if let Ok(text) = std::fs::read_to_string(&input) {
            manifest::load_str(&text, &input, &mut loaded).expect("golden input loads");
        }
    }
    loaded.snapshot
}

fn shuffle<T>(items: &mut [T], seed: u64) {
    items.shuffle(&mut rand::rngs::StdRng::seed_from_u64(seed));
}

fn render_json(snapshot: &Snapshot) -> String {
    let opts = TranslateOptions {
        owner_tag: "prop".into(),
        ..TranslateOptions::default()
    };
    render::to_json(&translate(snapshot, &opts)).expect("renders")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn translation_is_deterministic_under_any_order(seed in any::<u64>()) {
        let base = golden_snapshot();
        let expected = render_json(&base);
        let mut s = base.clone();
        shuffle(&mut s.services, seed);
        shuffle(&mut s.ingresses, seed ^ 1);
        shuffle(&mut s.secrets, seed ^ 2);
        shuffle(&mut s.http_routes, seed ^ 3);
        shuffle(&mut s.gateways, seed ^ 4);
        shuffle(&mut s.gateway_classes, seed ^ 5);
        shuffle(&mut s.reference_grants, seed ^ 6);
        shuffle(&mut s.kong_plugins, seed ^ 7);
        shuffle(&mut s.kong_cluster_plugins, seed ^ 8);
        shuffle(&mut s.kong_consumers, seed ^ 9);
        shuffle(&mut s.kong_consumer_groups, seed ^ 10);
        prop_assert_eq!(render_json(&s), expected);
    }
}

fn meta(ns: &str, name: &str, annotations: BTreeMap<String, String>) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.into()),
        namespace: Some(ns.into()),
        annotations: Some(annotations),
        ..Default::default()
    }
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_/~0-9]{0,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

const ANNOTATIONS: &[&str] = &[
    "konghq.com/plugins",
    "konghq.com/protocol",
    "konghq.com/path",
    "konghq.com/connect-timeout",
    "konghq.com/retries",
    "konghq.com/strip-path",
    "konghq.com/methods",
    "konghq.com/protocols",
    "konghq.com/https-redirect-status-code",
    "konghq.com/regex-priority",
    "konghq.com/headers.x",
    "konghq.com/headers.",
    "konghq.com/tags",
    "kubernetes.io/ingress.class",
];

fn arb_annotations() -> impl Strategy<Value = BTreeMap<String, String>> {
    prop::collection::btree_map(
        prop::sample::select(ANNOTATIONS).prop_map(str::to_owned),
        prop_oneof![".{0,40}", "[a-z:, ]{0,20}", Just("kong".to_owned())],
        0..8,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn translation_never_panics(
        svc_ann in arb_annotations(),
        ing_ann in arb_annotations(),
        consumer_ann in arb_annotations(),
        path in ".{0,20}",
        path_type in prop::sample::select(&["Exact", "Prefix", "ImplementationSpecific", "Bogus", ""][..]),
        host in "[a-z*.]{0,12}",
        config in arb_json(),
        secret_bytes in prop::collection::vec(any::<u8>(), 0..40),
        patch_path in "[a-z/~0-9-]{0,10}",
        port in any::<i32>(),
        username in prop::option::of(".{0,8}"),
    ) {
        let mut s = Snapshot::default();
        s.services.push(Service {
            metadata: meta("default", "svc", svc_ann),
            spec: Some(ServiceSpec { ports: Some(vec![ServicePort { port, ..Default::default() }]), ..Default::default() }),
            ..Default::default()
        });
        s.ingresses.push(Ingress {
            metadata: meta("default", "ing", ing_ann),
            spec: Some(IngressSpec {
                ingress_class_name: Some("kong".into()),
                rules: Some(vec![IngressRule {
                    host: Some(host),
                    http: Some(HTTPIngressRuleValue {
                        paths: vec![HTTPIngressPath {
                            path: Some(path),
                            path_type: path_type.into(),
                            backend: IngressBackend {
                                service: Some(IngressServiceBackend {
                                    name: "svc".into(),
                                    port: Some(ServiceBackendPort { number: Some(port), name: None }),
                                }),
                                ..Default::default()
                            },
                        }],
                    }),
                }]),
                ..Default::default()
            }),
            ..Default::default()
        });
        s.secrets.push(Secret {
            metadata: meta("default", "sec", BTreeMap::new()),
            data: Some(BTreeMap::from([("k".to_owned(), ByteString(secret_bytes))])),
            ..Default::default()
        });
        for name in ["a", "b", "kong", "x"] {
            let mut p = KongPlugin::new("default", name, "rate-limiting");
            p.config = Some(config.clone());
            s.kong_plugins.push(p);
        }
        let mut from = KongPlugin::new("default", "from", "cors");
        from.config_from = Some(ConfigSource { secret_key_ref: SecretKeyRef { name: "sec".into(), key: "k".into() } });
        s.kong_plugins.push(from);
        let mut patched = KongPlugin::new("default", "patched", "custom");
        patched.config = Some(config);
        patched.config_patches = Some(vec![ConfigPatch {
            path: patch_path,
            value_from: ConfigSource { secret_key_ref: SecretKeyRef { name: "sec".into(), key: "k".into() } },
        }]);
        s.kong_plugins.push(patched);
        let mut consumer = KongConsumer::new("default", "c");
        consumer.metadata.annotations = Some(consumer_ann);
        consumer.username = username;
        s.kong_consumers.push(consumer);
        let opts = TranslateOptions { ingress_class_is_default: true, ..TranslateOptions::default() };
        let state = translate(&s, &opts);
        prop_assert!(render::to_json(&state).is_ok());
        prop_assert!(render::to_yaml(&state).is_ok());
        // Every result belongs to an object; every entity has an id and at most 20 tags.
        for p in &state.plugins {
            prop_assert!(p.id.is_some());
            prop_assert!(p.tags.as_ref().is_some_and(|t| t.len() <= 20 && t.iter().all(|x| x.chars().count() <= 128)));
        }
    }
}

#[test]
fn secret_values_never_reach_results() {
    let input = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden/plugin-config-resolution/input.yaml");
    let loaded = manifest::load_paths(&[input]).expect("loads");
    let state = translate(&loaded.snapshot, &TranslateOptions::default());
    assert!(state.any_invalid());
    let results = format!("{:?}", state.results);
    assert!(results.contains("Secret default/creds"), "{results}");
    assert!(!results.contains("CANARY"), "{results}");
    assert!(!format!("{:?}", loaded.snapshot).contains("CANARY"));
}
