//! `diff --from-cluster`, run as its binary against the real kube-apiserver and the Konnect
//! emulator over HTTP: the plan of writes the operator would make for what the cluster holds.
//! Each test has its own namespace, emulator and owner tag (tests/support/operator.rs), so they
//! run in parallel. Expected ids come from go-kong's UUIDv5 scheme computed here (as
//! tests/translate_ids.rs checks it), or from what the emulator holds once the real operator
//! has converged — never from the code under test.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

#[path = "support/operator.rs"]
mod harness;
use harness::*;

/// The session plugin's secret (from a Secret, through configFrom): must never be printed.
const CANARY: &str = "kpo-diff-canary-7f3a9c1e5b";
const ROTATED: &str = "kpo-diff-rotated-2d8e4f6a0c";

/// A Service with two plugins: rate-limiting (config in the KongPlugin) and session (its whole
/// config from a Secret).
fn manifests(secret: &str) -> String {
    format!(
        r#"
apiVersion: v1
kind: Service
metadata:
  name: echo
  annotations:
    konghq.com/plugins: rl, sess
spec:
  ports:
  - name: http
    port: 80
---
apiVersion: configuration.konghq.com/v1
kind: KongPlugin
metadata:
  name: rl
plugin: rate-limiting
config:
  minute: 5
  policy: local
---
apiVersion: v1
kind: Secret
metadata:
  name: sess-config
type: Opaque
stringData:
  config: |
    secret: {secret}
    cookie_name: diff-session
---
apiVersion: configuration.konghq.com/v1
kind: KongPlugin
metadata:
  name: sess
plugin: session
configFrom:
  secretKeyRef:
    name: sess-config
    key: config
"#
    )
}

/// go-kong's id of a service: UUIDv5 of its name in the `services` namespace, itself UUIDv5 of
/// "services" in go-kong's base namespace (independent of the crate's `ids` module).
fn go_kong_service_id(name: &str) -> String {
    let base = uuid::Uuid::parse_str("fd02801f-0957-4a15-a55a-c8d9606f30b5").unwrap();
    let ns = uuid::Uuid::new_v5(&base, b"services");
    uuid::Uuid::new_v5(&ns, name.as_bytes()).to_string()
}

/// `diff --from-cluster` for the world's namespace, with the settings its operator runs with.
fn diff(w: &World, kubeconfig: &Path, extra: &[&str]) -> Output {
    Command::new(BIN)
        .args(["diff", "--from-cluster", "--namespaces", &w.ns])
        .args(["--konnect-server", &w.emu.base_url(), "--control-plane", CP])
        .arg("--konnect-token-file")
        .arg(w.dir.path().join("token"))
        .args(["--owner", &w.owner])
        .args(["--ingress-class", &format!("class-{}", w.ns)])
        .args(extra)
        .env("KUBECONFIG", kubeconfig)
        .env_remove("KPO_NAMESPACES")
        .env_remove("KPO_OWNER")
        .output()
        .expect("diff runs")
}

/// stdout, stderr, and both for messages.
fn texts(out: &Output) -> (String, String, String) {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let both = format!("--- stdout\n{stdout}--- stderr\n{stderr}");
    (stdout, stderr, both)
}

/// Nothing secret in a diff's output: not the Secret's value (old or new), not the token.
fn assert_no_secrets(w: &World, both: &str) {
    for secret in [CANARY, ROTATED, &w.emu.token()] {
        assert!(!both.contains(secret), "a secret was printed:\n{both}");
    }
}

/// The ids a plan's header lines name, by `<action> <kind> <name>`.
fn headers(stdout: &str) -> Vec<(String, String)> {
    stdout
        .lines()
        .filter(|l| !l.starts_with(' ') && l.ends_with(')') && l.contains(" PUT "))
        .map(|l| {
            let (head, id) = l.rsplit_once(" (").unwrap();
            (head.to_owned(), id.trim_end_matches(')').to_owned())
        })
        .collect()
}

/// Stories 1-4: before any operator ran, the diff shows the creates; once the operator
/// converged, nothing; after a kubectl edit with no operator running, that field only; and
/// never a Secret's value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn from_cluster_shows_what_the_operator_would_write() {
    let w = World::new("diff-cluster").await;
    let kubeconfig = support::cluster().kubeconfig_path();
    w.apply_yaml(&manifests(CANARY));

    // 1. No operator has run: everything is a create, and diff writes nothing.
    let first = diff(&w, kubeconfig, &[]);
    let (stdout, _, both) = texts(&first);
    assert_eq!(first.status.code(), Some(1), "{both}");
    assert_no_secrets(&w, &both);
    let created: BTreeMap<String, String> = headers(&stdout).into_iter().collect();
    let service_name = format!("{}.echo.80", w.ns);
    let service_header = format!("+ PUT service {service_name}");
    assert_eq!(
        created.keys().map(String::as_str).collect::<Vec<_>>(),
        [
            "+ PUT plugin rate-limiting",
            "+ PUT plugin session",
            service_header.as_str(),
        ],
        "{both}"
    );
    assert_eq!(
        created[&service_header],
        go_kong_service_id(&service_name),
        "{both}"
    );
    assert!(stdout.contains("    + config.minute: 5\n"), "{both}");
    // configFrom: every value of the config came from the Secret, and says so.
    let redacted = format!("\"<redacted: Secret {}/sess-config key config>\"", w.ns);
    assert!(
        stdout.contains(&format!("    + config.secret: {redacted}\n")),
        "{both}"
    );
    assert!(
        stdout.contains(&format!("    + config.cookie_name: {redacted}\n")),
        "{both}"
    );
    assert!(
        stdout.contains("3 change(s): 3 put, 0 delete, 0 kept as Konnect holds them"),
        "{both}"
    );
    assert!(
        !stdout.contains("DELETE") && !stdout.contains("~ "),
        "{both}"
    );
    assert_eq!(w.writes(), 0, "diff must not write to Konnect");

    // 2. The operator converges: Konnect holds exactly the entities (and ids) diff announced,
    // and the same diff now finds nothing to do.
    let op = w.operator(&["--sync-period", "1s"]);
    let (services, plugins) = eventually("the service and both plugins", &[&op], || async {
        let (s, p) = (w.services().await, w.plugins().await);
        (s.len() == 1 && p.len() == 2).then_some((s, p))
    })
    .await;
    let held = |name: &str| -> String {
        plugins
            .iter()
            .find(|p| p.name == name)
            .and_then(|p| p.id)
            .unwrap_or_else(|| panic!("no {name} in {plugins:#?}"))
            .to_string()
    };
    assert_eq!(
        created.values().cloned().collect::<Vec<_>>(),
        [
            held("rate-limiting"),
            held("session"),
            services[0].id.unwrap().to_string(),
        ],
        "diff's ids are the ones the operator wrote"
    );
    eventually("a pass with nothing left to write", &[&op], || async {
        op.passes()
            .iter()
            .any(|p| p["writes"] == 0 && p["failed"] == 0 && p["desired"] == 3)
            .then_some(())
    })
    .await;
    drop(op);
    let writes = w.writes();
    let same = diff(&w, kubeconfig, &[]);
    let (stdout, _, both) = texts(&same);
    assert_eq!(same.status.code(), Some(0), "{both}");
    assert_no_secrets(&w, &both);
    assert_eq!(
        stdout, "0 change(s): 0 put, 0 delete, 0 kept as Konnect holds them\n",
        "{both}"
    );

    // 3. With no operator running, kubectl edits the rate-limiting config: the diff shows an
    // update of that plugin only, with that field.
    w.kubectl(&[
        "patch",
        "kp",
        "rl",
        "--type=merge",
        "-p",
        r#"{"config":{"minute":7}}"#,
    ]);
    let edited = diff(&w, kubeconfig, &[]);
    let (stdout, _, both) = texts(&edited);
    assert_eq!(edited.status.code(), Some(1), "{both}");
    assert_no_secrets(&w, &both);
    assert_eq!(
        headers(&stdout),
        [(
            "~ PUT plugin rate-limiting".to_owned(),
            held("rate-limiting")
        )],
        "{both}"
    );
    let fields: Vec<&str> = stdout.lines().filter(|l| l.starts_with("    ")).collect();
    assert!(fields.contains(&"    ~ config.minute: 5 -> 7"), "{both}");
    // Besides the field, only the payload-hash tag (which covers the config) may differ.
    for f in &fields {
        assert!(
            *f == "    ~ config.minute: 5 -> 7" || (f.contains("tags[") && f.contains("kpo-hash:")),
            "unexpected change {f:?}:\n{both}"
        );
    }
    assert!(stdout.contains("1 change(s): 1 put, 0 delete"), "{both}");

    // 4. The Secret behind the session plugin is rotated: the diff shows an update of that
    // plugin, and neither the old nor the new value.
    w.kubectl(&[
        "patch",
        "secret",
        "sess-config",
        "--type=merge",
        "-p",
        &serde_json::json!({"stringData": {"config": format!("secret: {ROTATED}\ncookie_name: diff-session\n")}}).to_string(),
    ]);
    let rotated = diff(&w, kubeconfig, &[]);
    let (stdout, _, both) = texts(&rotated);
    assert_eq!(rotated.status.code(), Some(1), "{both}");
    assert_no_secrets(&w, &both);
    assert!(
        headers(&stdout).contains(&("~ PUT plugin session".to_owned(), held("session"))),
        "{both}"
    );
    assert_eq!(w.writes(), writes, "diff must not write to Konnect");
}

/// Story: the diff runs as an identity the API server refuses Services. It names the kind on
/// stderr and shows nothing derived from Services (the service and its plugins) as a DELETE,
/// where an admin's diff of the same state finds nothing at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kind_that_cannot_be_listed_is_named_and_never_deleted() {
    let w = World::new("diff-partial").await;
    w.apply_yaml(&manifests(CANARY));
    let op = w.operator(&["--sync-period", "1s"]);
    eventually("the service and both plugins", &[&op], || async {
        (w.services().await.len() == 1 && w.plugins().await.len() == 2).then_some(())
    })
    .await;
    eventually("a pass with nothing left to write", &[&op], || async {
        op.passes()
            .iter()
            .any(|p| p["writes"] == 0 && p["failed"] == 0 && p["desired"] == 3)
            .then_some(())
    })
    .await;
    drop(op);

    let user = format!("kpo-diff-{}", w.ns);
    w.apply_yaml(&rbac_without_services(&w.ns, &user));
    let kubeconfig = support::impersonating_kubeconfig(w.dir.path(), &user);
    let denied = support::cluster()
        .kubectl()
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args(["-n", &w.ns, "get", "services"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&denied.stderr);
    assert!(
        !denied.status.success() && stderr.contains("forbidden"),
        "{stderr}"
    );
    // The same identity may list KongPlugins (the grant is not simply broken).
    let allowed = support::cluster()
        .kubectl()
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args(["-n", &w.ns, "get", "kongplugins"])
        .output()
        .unwrap();
    assert!(
        allowed.status.success(),
        "{}",
        support::output_text(&allowed)
    );

    let partial = diff(&w, &kubeconfig, &[]);
    let (stdout, stderr, both) = texts(&partial);
    assert_no_secrets(&w, &both);
    let named: Vec<&str> = stderr.lines().filter(|l| l.starts_with("! ")).collect();
    assert_eq!(named.len(), 1, "{both}");
    assert!(
        named[0].starts_with("! Service: cannot be listed (") && named[0].contains("forbidden"),
        "{both}"
    );
    // Nothing derived from Services is deleted, and the plugins the partial view sees no
    // referrer for are not called unreferenced.
    assert_eq!(
        stdout, "0 change(s): 0 put, 0 delete, 3 kept as Konnect holds them\n",
        "{both}"
    );
    assert_eq!(partial.status.code(), Some(0), "{both}");
    // The admin sees no unavailable kind and nothing kept.
    let full = diff(&w, support::cluster().kubeconfig_path(), &[]);
    let (stdout, stderr, both) = texts(&full);
    assert_eq!(full.status.code(), Some(0), "{both}");
    assert!(!stderr.lines().any(|l| l.starts_with("! ")), "{both}");
    assert!(stdout.contains("0 kept"), "{both}");
}

/// Story: kinds that have not listed when the timeout passes: exit 2, a message, no plan.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_that_does_not_settle_in_time_is_an_error() {
    let w = World::new("diff-timeout").await;
    let out = diff(
        &w,
        support::cluster().kubeconfig_path(),
        &["--settle-timeout", "0s"],
    );
    let (stdout, stderr, both) = texts(&out);
    assert_eq!(out.status.code(), Some(2), "{both}");
    assert!(stdout.is_empty(), "{both}");
    assert!(
        stderr.contains("did not list") && stderr.contains("--settle-timeout"),
        "{both}"
    );
}

/// What the chart's RBAC lets the operator read (charts/konnect-plugin-operator/templates/
/// rbac.yaml, with `namespaces` set), for `user` in `ns`, but without `services`.
fn rbac_without_services(ns: &str, user: &str) -> String {
    format!(
        r#"apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: {user}
rules:
- apiGroups: ["networking.k8s.io"]
  resources: ["ingressclasses"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["gateway.networking.k8s.io"]
  resources: ["gatewayclasses"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["configuration.konghq.com"]
  resources: ["kongclusterplugins"]
  verbs: ["get", "list", "watch"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: {user}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: {user}
subjects:
- apiGroup: rbac.authorization.k8s.io
  kind: User
  name: {user}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: {user}
  namespace: {ns}
rules:
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["networking.k8s.io"]
  resources: ["ingresses"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["gateway.networking.k8s.io"]
  resources: ["gateways", "httproutes", "referencegrants"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["configuration.konghq.com"]
  resources: ["kongplugins", "kongconsumers", "kongconsumergroups"]
  verbs: ["get", "list", "watch"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: {user}
  namespace: {ns}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: {user}
subjects:
- apiGroup: rbac.authorization.k8s.io
  kind: User
  name: {user}
"#
    )
}
