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
        // Arbitrary bytes, or JSON (so configFrom and configPatches often succeed and their
        // Secret provenance is exercised).
        secret_bytes in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..40),
            arb_json().prop_map(|v| v.to_string().into_bytes()),
        ],
        patch_path in "[a-z/~0-9-]{0,10}",
        port in any::<i32>(),
        username in prop::option::of(".{0,8}"),
    ) {
        let mut s = Snapshot::default();
        s.services.push(Service {
            metadata: meta("default", "svc", svc_ann),
            spec: Some(ServiceSpec { ports: Some(vec![ServicePort { port, ..Default::default() }]), ..Default::default() }),
            ..Default::default()
        }.into());
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
        }.into());
        s.secrets.push(Secret {
            metadata: meta("default", "sec", BTreeMap::new()),
            data: Some(BTreeMap::from([("k".to_owned(), ByteString(secret_bytes))])),
            ..Default::default()
        }.into());
        for name in ["a", "b", "kong", "x"] {
            let mut p = KongPlugin::new("default", name, "rate-limiting");
            p.config = Some(config.clone());
            s.kong_plugins.push(p.into());
        }
        let mut from = KongPlugin::new("default", "from", "cors");
        from.config_from = Some(ConfigSource { secret_key_ref: SecretKeyRef { name: "sec".into(), key: "k".into() } });
        s.kong_plugins.push(from.into());
        let mut patched = KongPlugin::new("default", "patched", "custom");
        patched.config = Some(config);
        patched.config_patches = Some(vec![ConfigPatch {
            path: patch_path,
            value_from: ConfigSource { secret_key_ref: SecretKeyRef { name: "sec".into(), key: "k".into() } },
        }]);
        s.kong_plugins.push(patched.into());
        let mut consumer = KongConsumer::new("default", "c");
        consumer.metadata.annotations = Some(consumer_ann);
        consumer.username = username;
        s.kong_consumers.push(consumer.into());
        let opts = TranslateOptions { ingress_class_is_default: true, ..TranslateOptions::default() };
        let state = translate(&s, &opts);
        prop_assert!(render::to_json(&state).is_ok());
        prop_assert!(render::to_yaml(&state).is_ok());
        // Every result belongs to an object; every entity has an id and at most 20 tags.
        for p in &state.plugins {
            prop_assert!(p.id.is_some());
            // Every Secret-derived field points at a scalar of the real config, and the
            // redacted copy shows its marker there instead.
            let redacted = state.redacted_plugin(p);
            for f in state.secret_fields_of(p) {
                let real = p.config.pointer(&f.pointer);
                prop_assert!(real.is_some_and(|v| v.is_string() || v.is_number() || v.is_boolean()), "{}", f.pointer);
                prop_assert_eq!(redacted.config.pointer(&f.pointer), Some(&Value::String(f.secret.marker())));
            }
            prop_assert!(p.tags.as_ref().is_some_and(|t| t.len() <= 20 && t.iter().all(|x| x.as_str().chars().count() <= 128)));
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

/// A canary in Secrets read by `configFrom` and by `configPatches` (one patch also breaks the
/// schema, so a validation message could echo it).
const CANARY_INPUT: &str = r#"
apiVersion: v1
kind: Secret
metadata: {name: canary, namespace: default}
stringData:
  config: |
    oauth:
      token_endpoint: https://idp.example.com/oauth2/token
      grant_type: client_credentials
      client_id: c4n4ry-client-id
      client_secret: c4n4ry-from-secret
      scopes: [c4n4ry-scope]
    client:
      timeout: 4242
  patch: '"c4n4ry-patched-secret-0123456789"'
  bad: '"c4n4ry-bad"'
---
apiVersion: configuration.konghq.com/v1
kind: KongPlugin
metadata: {name: oauth, namespace: default}
plugin: upstream-oauth
configFrom: {secretKeyRef: {name: canary, key: config}}
---
apiVersion: configuration.konghq.com/v1
kind: KongPlugin
metadata: {name: session, namespace: default}
plugin: session
config: {cookie_name: s, rolling_timeout: 3600}
configPatches:
- {path: /secret, valueFrom: {secretKeyRef: {name: canary, key: patch}}}
---
apiVersion: configuration.konghq.com/v1
kind: KongPlugin
metadata: {name: rt, namespace: default}
plugin: request-transformer
configPatches:
- {path: /http_method, valueFrom: {secretKeyRef: {name: canary, key: bad}}}
---
apiVersion: v1
kind: Service
metadata:
  name: svc
  namespace: default
  annotations: {konghq.com/plugins: "oauth,session"}
spec:
  ports: [{port: 80}]
---
# The Invalid plugin on a Service of its own: a Service naming it is held back (fail closed),
# with all its plugins, and those must render here.
apiVersion: v1
kind: Service
metadata:
  name: svc-bad
  namespace: default
  annotations: {konghq.com/plugins: "rt"}
spec:
  ports: [{port: 80}]
"#;

/// Every value the canary Secret holds, as it would be printed.
const CANARIES: &[&str] = &[
    "c4n4ry-client-id",
    "c4n4ry-from-secret",
    "c4n4ry-scope",
    "4242",
    "c4n4ry-patched-secret-0123456789",
    "c4n4ry-bad",
];

/// A tracing writer into a shared buffer, to read what `render` logs.
#[derive(Clone, Default)]
struct LogBuf(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogBuf {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs `render_command` on the canary input; returns (invalid, stdout, logs).
fn render_canary(
    format: konnect_plugin_operator::cli::OutputFormat,
    secrets: konnect_plugin_operator::translate::Secrets,
) -> (bool, String, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("canary.yaml");
    std::fs::write(&file, CANARY_INPUT).expect("write input");
    let logs = LogBuf::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let mut out = Vec::new();
    let invalid = tracing::subscriber::with_default(subscriber, || {
        konnect_plugin_operator::cli::render_command(
            &[file],
            format,
            secrets,
            TranslateOptions::default(),
            &mut out,
        )
    })
    .expect("renders");
    let logs = String::from_utf8(logs.0.lock().expect("log lock").clone()).expect("utf-8");
    (invalid, String::from_utf8(out).expect("utf-8"), logs)
}

#[test]
fn render_redacts_secret_values_unless_asked() {
    use konnect_plugin_operator::cli::OutputFormat;
    use konnect_plugin_operator::translate::Secrets;
    for format in [OutputFormat::Json, OutputFormat::Yaml] {
        let (invalid, out, logs) = render_canary(format, Secrets::Redact);
        // request-transformer's http_method fails its pattern: the message must not echo it.
        assert!(invalid, "{out}");
        assert!(!out.contains("c4n4ry"), "{format:?} output leaks:\n{out}");
        for canary in CANARIES {
            assert!(
                !out.contains(canary),
                "{format:?} output leaks {canary}:\n{out}"
            );
        }
        assert!(!logs.contains("c4n4ry"), "{logs}");
        assert!(logs.contains("redacted"), "{logs}");
        let doc: Value = match format {
            OutputFormat::Json => serde_json::from_str(&out).expect("JSON"),
            OutputFormat::Yaml => serde_norway::from_str(&out).expect("YAML"),
        };
        let plugin = |name: &str| {
            doc["plugins"]
                .as_array()
                .and_then(|ps| ps.iter().find(|p| p["name"] == name))
                .cloned()
                .unwrap_or_else(|| panic!("plugin {name} rendered:\n{out}"))
        };
        // configFrom: every leaf is redacted, the structure stays.
        let oauth = plugin("upstream-oauth");
        let from = "<redacted: Secret default/canary key config>";
        assert_eq!(oauth["config"]["oauth"]["client_secret"], from);
        assert_eq!(oauth["config"]["oauth"]["scopes"][0], from);
        assert_eq!(oauth["config"]["client"]["timeout"], from);
        assert!(
            oauth["tags"]
                .as_array()
                .is_some_and(|t| t.iter().any(|t| t == "kpo-hash:<redacted>"))
        );
        // configPatches: only the patched value is redacted.
        let session = plugin("session");
        assert_eq!(
            session["config"]["secret"],
            "<redacted: Secret default/canary key patch>"
        );
        assert_eq!(session["config"]["cookie_name"], "s");
        assert_eq!(session["config"]["rolling_timeout"], 3600);
        let rt = doc["results"]
            .as_array()
            .and_then(|r| r.iter().find(|x| x["name"] == "rt"))
            .cloned()
            .unwrap_or_default();
        assert_eq!(rt["status"], "Invalid", "{out}");
        assert!(
            rt["message"].as_str().is_some_and(|m| m.contains(
                "config.http_method: invalid value: <redacted: Secret default/canary key bad>"
            )),
            "{rt}"
        );

        let (_, shown, logs) = render_canary(format, Secrets::Show);
        // Results never carry a Secret value, --show-secrets or not: only plugin configs do.
        for canary in CANARIES.iter().filter(|c| **c != "c4n4ry-bad") {
            assert!(
                shown.contains(canary),
                "{format:?} --show-secrets lacks {canary}"
            );
        }
        assert!(
            !shown.contains("<redacted: Secret default/canary key config>"),
            "{shown}"
        );
        assert!(
            !shown.contains("<redacted: Secret default/canary key patch>"),
            "{shown}"
        );
        assert!(!shown.contains("c4n4ry-bad"), "{shown}");
        assert!(!logs.contains("c4n4ry"), "{logs}");
    }
}

#[test]
fn desired_state_keeps_real_values_and_hides_them_from_debug() {
    let mut loaded = manifest::Loaded::default();
    manifest::load_str(CANARY_INPUT, Path::new("canary.yaml"), &mut loaded).expect("loads");
    let state = translate(&loaded.snapshot, &TranslateOptions::default());
    let oauth = state
        .plugins
        .iter()
        .find(|p| p.name == "upstream-oauth")
        .expect("upstream-oauth");
    // The controller sends the real values.
    assert_eq!(oauth.config["oauth"]["client_secret"], "c4n4ry-from-secret");
    let fields = state.secret_fields_of(oauth);
    assert_eq!(fields.len(), 6, "{fields:?}");
    assert!(fields.iter().any(|f| f.pointer == "/client/timeout"));
    let session = state
        .plugins
        .iter()
        .find(|p| p.name == "session")
        .expect("session");
    let pointers: Vec<&str> = state
        .secret_fields_of(session)
        .iter()
        .map(|f| f.pointer.as_str())
        .collect();
    assert_eq!(pointers, ["/secret"]);
    // The hash tag is the real one (drift detection), and differs once the Secret changes.
    let hash = |s: &konnect_plugin_operator::translate::DesiredState| {
        s.plugins
            .iter()
            .find(|p| p.name == "session")
            .and_then(|p| p.tags.clone())
            .and_then(|t| t.into_iter().find(|t| t.starts_with("kpo-hash:")))
            .expect("hash tag")
    };
    let mut changed = loaded.snapshot.clone();
    for s in &mut changed.secrets {
        if let Some(d) = std::sync::Arc::make_mut(s).string_data.as_mut() {
            d.insert("patch".into(), "\"c4n4ry-rotated\"".into());
        }
    }
    assert_ne!(
        hash(&state),
        hash(&translate(&changed, &TranslateOptions::default()))
    );
    let debug = format!("{state:?} {:?}", state.results);
    assert!(!debug.contains("c4n4ry"), "{debug}");
    assert!(debug.contains("<redacted: Secret default/canary key patch>"));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Review bug 5: arbitrary values in any field of a plugin manifest never abort the load
    /// nor panic translation; an object that does not parse is one Invalid result naming a
    /// field, and a well-formed neighbour still translates.
    #[test]
    fn malformed_manifests_never_abort_the_render(
        field in prop::sample::select(&["protocols", "configPatches", "configFrom", "run_on", "disabled", "ordering", "instance_name", "plugin", "metadata"][..]),
        value in arb_json(),
    ) {
        let mut doc = serde_json::json!({
            "apiVersion": "configuration.konghq.com/v1",
            "kind": "KongPlugin",
            "metadata": {"name": "p", "namespace": "default"},
            "plugin": "cors",
        });
        doc[field] = value;
        let good = r#"{"apiVersion": "configuration.konghq.com/v1", "kind": "KongPlugin", "metadata": {"name": "good", "namespace": "default"}, "plugin": "cors"}"#;
        let svc = r#"{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "namespace": "default", "annotations": {"konghq.com/plugins": "good"}}, "spec": {"ports": [{"port": 80}]}}"#;
        // YAML, so every string is escaped as YAML wants (JSON text may hold raw control
        // characters YAML refuses, which is a different, file-level error).
        let doc = serde_norway::to_string(&doc).expect("YAML");
        let text = format!("{doc}---\n{good}\n---\n{svc}\n");
        let mut loaded = manifest::Loaded::default();
        prop_assert!(manifest::load_str(&text, Path::new("p.yaml"), &mut loaded).is_ok());
        let state = translate(&loaded.snapshot, &TranslateOptions::default());
        prop_assert!(state.plugins.iter().any(|p| p.tags.iter().flatten().any(|t| t == "k8s-name:good")));
        for m in &loaded.snapshot.malformed {
            let r = state.results.iter().find(|r| r.kind == m.kind && r.name == m.name);
            prop_assert!(r.is_some_and(|r| r.is_invalid() && r.message.contains(&m.message)), "{:?}", m);
            prop_assert!(!m.message.starts_with(':'));
        }
    }
}

/// One rule of a generated HTTPRoute: backend, method, whether it names the key-auth plugin.
#[derive(Clone, Debug)]
struct GenRule {
    backend: &'static str,
    method: Option<&'static str>,
    auth: bool,
}

fn arb_rule() -> impl Strategy<Value = GenRule> {
    (
        prop::sample::select(&["web", "other"][..]),
        prop::option::of(prop::sample::select(&["GET", "POST"][..])),
        any::<bool>(),
    )
        .prop_map(|(backend, method, auth)| GenRule {
            backend,
            method,
            auth,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Rule consolidation (issue 8 item 4) and fail-closed: whatever rules are merged, the route
    /// serving rule i's path goes to rule i's backend, has exactly rule i's method, and carries
    /// the key-auth plugin if and only if rule i names it. Expected values come from the
    /// generated rules, not from the translation.
    #[test]
    fn merged_routes_keep_each_rules_backend_method_and_plugins(
        rules in prop::collection::vec(arb_rule(), 1..7),
        combined in any::<bool>(),
    ) {
        let mut text = String::from(
            "apiVersion: gateway.networking.k8s.io/v1\nkind: GatewayClass\nmetadata: {name: kong}\nspec: {controllerName: konghq.com/kic-gateway-controller}\n---\napiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: gw, namespace: p}\nspec: {gatewayClassName: kong, listeners: [{name: http, protocol: HTTP, port: 80}]}\n---\napiVersion: configuration.konghq.com/v1\nkind: KongPlugin\nmetadata: {name: auth, namespace: p}\nplugin: key-auth\n---\napiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: p}\nspec: {ports: [{port: 80}]}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: other, namespace: p}\nspec: {ports: [{port: 80}]}\n---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: r, namespace: p}\nspec:\n  parentRefs: [{name: gw}]\n  rules:\n",
        );
        for (i, r) in rules.iter().enumerate() {
            let method = r.method.map(|m| format!(", method: {m}")).unwrap_or_default();
            text.push_str(&format!("  - matches: [{{path: {{type: PathPrefix, value: /r{i}}}{method}}}]\n"));
            if r.auth {
                text.push_str("    filters: [{type: ExtensionRef, extensionRef: {group: configuration.konghq.com, kind: KongPlugin, name: auth}}]\n");
            }
            text.push_str(&format!("    backendRefs: [{{name: {}, port: 80}}]\n", r.backend));
        }
        let mut loaded = manifest::Loaded::default();
        manifest::load_str(&text, Path::new("r.yaml"), &mut loaded).expect("loads");
        let opts = TranslateOptions {
            combined_services_from_different_httproutes: combined,
            ..TranslateOptions::default()
        };
        let state = translate(&loaded.snapshot, &opts);
        for (i, r) in rules.iter().enumerate() {
            let path = format!("~/r{i}$");
            let serving: Vec<_> = state
                .routes
                .iter()
                .filter(|route| route.paths.iter().flatten().any(|p| *p == path))
                .collect();
            prop_assert_eq!(serving.len(), 1, "rule {} is served by one route", i);
            let route = serving[0];
            let service = state
                .services
                .iter()
                .find(|s| s.id == route.service.as_ref().map(|f| f.id));
            prop_assert_eq!(
                service.map(|s| s.host.clone()),
                Some(format!("{}.p.svc", r.backend))
            );
            prop_assert_eq!(
                route.methods.clone(),
                r.method.map(|m| vec![m.to_owned()])
            );
            let auth = state.plugins.iter().any(|p| {
                p.name == "key-auth"
                    && p.route.as_ref().map(|f| f.id) == route.id
            });
            prop_assert_eq!(auth, r.auth, "rule {} key-auth", i);
        }
        // Rules with the same backend, filters and method share one route.
        let distinct: std::collections::BTreeSet<_> = rules
            .iter()
            .map(|r| (r.backend, r.method, r.auth))
            .collect();
        prop_assert_eq!(state.routes.len(), distinct.len());
    }
}
