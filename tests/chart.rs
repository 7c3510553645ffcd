//! The Helm chart (`charts/konnect-plugin-operator`) and the kustomize bases (`config/`), checked
//! against independent sources: the CRD files in `crds/`, the operator's own `run --help` (its
//! flags and defaults), and a real kube-apiserver (server-side dry-run, RBAC decisions through
//! `kubectl auth can-i` impersonating the chart's ServiceAccount).
//!
//! Needs the testbed binaries (`tests/cluster/build.sh`): kube-apiserver, etcd, kubectl, helm.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_konnect-plugin-operator");

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn chart() -> PathBuf {
    repo().join("charts/konnect-plugin-operator")
}

fn full_values() -> PathBuf {
    chart().join("ci/full-values.yaml")
}

/// Runs `cmd` (with `stdin` piped in when given); panics with its output unless it succeeds.
fn run(cmd: &mut Command, stdin: Option<&str>) -> String {
    let (ok, stdout, stderr) = run_status(cmd, stdin);
    assert!(ok, "{cmd:?} failed\nstdout:\n{stdout}\nstderr:\n{stderr}");
    stdout
}

/// Runs `cmd`; returns (exit status 0, stdout, stderr).
fn run_status(cmd: &mut Command, stdin: Option<&str>) -> (bool, String, String) {
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("spawning {cmd:?}: {e}"));
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("stdin");
        pipe.write_all(input.as_bytes()).expect("writing stdin");
    }
    let out = child.wait_with_output().expect("waiting");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Every non-empty YAML document of a multi-document stream.
fn docs(yaml: &str) -> Vec<Value> {
    serde_norway::Deserializer::from_str(yaml)
        .map(|doc| serde::Deserialize::deserialize(doc).expect("YAML document"))
        .filter(|v: &Value| !v.is_null())
        .collect()
}

/// `helm template <release> <chart> -n <namespace> <extra...>`, parsed.
fn template(release: &str, namespace: &str, extra: &[&str]) -> Vec<Value> {
    docs(&template_text(release, namespace, extra))
}

fn template_text(release: &str, namespace: &str, extra: &[&str]) -> String {
    run(
        support::cluster()
            .helm()
            .args(["template", release])
            .arg(chart())
            .args(["--namespace", namespace])
            .args(extra),
        None,
    )
}

fn find<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} in {:#?}", names(objects)))
}

fn names(objects: &[Value]) -> BTreeSet<(String, String)> {
    objects
        .iter()
        .map(|o| {
            (
                o["kind"].as_str().unwrap_or_default().to_string(),
                o["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect()
}

fn container(objects: &[Value], deployment: &str) -> Value {
    find(objects, "Deployment", deployment)["spec"]["template"]["spec"]["containers"][0].clone()
}

fn args(container: &Value) -> Vec<String> {
    container["args"]
        .as_array()
        .expect("args")
        .iter()
        .map(|a| a.as_str().expect("arg").to_string())
        .collect()
}

/// The value of `--flag=value` in `args`, `Some("")` for a bare `--flag`.
fn flag<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter().find_map(|a| {
        let rest = a.strip_prefix(name)?;
        if rest.is_empty() {
            Some("")
        } else {
            rest.strip_prefix('=')
        }
    })
}

/// `run`'s long flags and their `[default: ...]`, read from the operator's own help text.
fn run_flags() -> BTreeMap<String, Option<String>> {
    let help = run(Command::new(BIN).args(["run", "--help"]), None);
    let mut flags = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in help.lines() {
        let t = line.trim_start();
        if t.starts_with('-') {
            let long = t
                .split([' ', ','])
                .find(|w| w.starts_with("--"))
                .map(|w| w.split(['=', '<']).next().unwrap_or(w).to_string());
            if let Some(long) = long {
                flags.insert(long.clone(), None);
                current = Some(long);
            }
        }
        if let (Some(cur), Some(i)) = (&current, t.find("[default: ")) {
            let rest = &t[i + "[default: ".len()..];
            let value = rest.split(']').next().unwrap_or_default();
            // clap prints an empty default as `""`.
            let value = if value == "\"\"" { "" } else { value }.to_string();
            flags.insert(cur.clone(), Some(value));
        }
    }
    flags.remove("--help");
    flags.remove("--version");
    assert!(flags.len() > 15, "parsed too few flags from:\n{help}");
    flags
}

/// Namespaces the full values file watches; they must exist for its Roles.
const FULL_NAMESPACES: [&str; 2] = ["kpo-chart-a", "kpo-chart-b"];

fn ensure_namespace(name: &str) {
    let yaml = format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n");
    run(
        support::cluster().kubectl().args(["apply", "-f", "-"]),
        Some(&yaml),
    );
}

/// A stand-in for the Prometheus Operator's ServiceMonitor CRD (group, version, kind and scope
/// as in prometheus-operator's `monitoring.coreos.com_servicemonitors.yaml`; the schema is left
/// open), so that the optional ServiceMonitor can be dry-run applied.
const SERVICE_MONITOR_CRD: &str = r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: servicemonitors.monitoring.coreos.com
spec:
  group: monitoring.coreos.com
  names:
    kind: ServiceMonitor
    listKind: ServiceMonitorList
    plural: servicemonitors
    singular: servicemonitor
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          x-kubernetes-preserve-unknown-fields: true
"#;

fn ensure_service_monitor_crd() {
    let cluster = support::cluster();
    run(
        cluster.kubectl().args(["apply", "-f", "-"]),
        Some(SERVICE_MONITOR_CRD),
    );
    run(
        cluster.kubectl().args([
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            "crd/servicemonitors.monitoring.coreos.com",
        ]),
        None,
    );
}

fn dry_run_apply(yaml: &str) -> String {
    run(
        support::cluster()
            .kubectl()
            .args(["apply", "--dry-run=server", "-f", "-"]),
        Some(yaml),
    )
}

// ------------------------------------------------------------------ files, no cluster

/// CI drift check: the chart and the kustomize base carry the CRDs of `crds/` byte for byte.
#[test]
fn crd_copies_equal_the_crds_directory() {
    let read_dir = |dir: &Path| -> BTreeMap<String, Vec<u8>> {
        std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.expect("dir entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
            .map(|p| {
                let name = p.file_name().expect("name").to_string_lossy().into_owned();
                (name, std::fs::read(&p).expect("read"))
            })
            .collect()
    };
    let source = read_dir(&repo().join("crds"));
    assert_eq!(source.len(), 6, "{:?}", source.keys());
    for copy in [chart().join("files/crds"), repo().join("config/crd/bases")] {
        let copies = read_dir(&copy);
        assert_eq!(
            copies.keys().collect::<Vec<_>>(),
            source.keys().collect::<Vec<_>>(),
            "{}",
            copy.display()
        );
        for (name, bytes) in &source {
            assert!(
                copies[name] == *bytes,
                "{}/{name} differs from crds/{name}: copy it again",
                copy.display()
            );
        }
    }
}

// ------------------------------------------------------------------ helm lint / template

#[test]
fn helm_lint_passes_with_default_and_full_values() {
    let cluster = support::cluster();
    run(cluster.helm().args(["lint", "--strict"]).arg(chart()), None);
    run(
        cluster
            .helm()
            .args(["lint", "--strict"])
            .arg(chart())
            .arg("-f")
            .arg(full_values()),
        None,
    );
}

#[test]
fn bad_values_are_refused_when_rendering() {
    let cluster = support::cluster();
    for (set, says) in [
        // values.schema.json
        (
            "parentMode=both",
            "/parentMode': value must be one of 'manage', 'reference'",
        ),
        (
            "log.format=xml",
            "/log/format': value must be one of 'text', 'json'",
        ),
        (
            "maxDeleteShare=2",
            "/maxDeleteShare': maximum: got 2, want 1",
        ),
        (
            "konnect.controlplane=x",
            "additional properties 'controlplane' not allowed",
        ),
        ("replicas=two", "/replicas'"),
        (
            "webhook.failurePolicy=Never",
            "/webhook/failurePolicy': value must be one of 'Fail', 'Ignore'",
        ),
        // the templates
        ("konnect.tokenSecret.name=", "konnect.tokenSecret.name"),
        ("konnect.controlPlane=", "konnect.controlPlane"),
    ] {
        let (ok, _, stderr) = run_status(
            cluster
                .helm()
                .args(["template", "kpo"])
                .arg(chart())
                .args(["--set", set]),
            None,
        );
        assert!(!ok, "{set} was accepted");
        assert!(stderr.contains(says), "{set}: {stderr}");
    }
}

#[tokio::test]
async fn the_rendered_chart_passes_a_server_side_dry_run() {
    let cluster = support::cluster();
    let ns = cluster.namespace("chart-dry-run").await;
    ensure_service_monitor_crd();
    for n in FULL_NAMESPACES {
        ensure_namespace(n);
    }
    let default = template_text("kpo", &ns, &[]);
    let out = dry_run_apply(&default);
    assert!(
        out.contains("deployment.apps/kpo-konnect-plugin-operator created (server dry run)"),
        "{out}"
    );
    let full_path = full_values();
    let full_path = full_path.to_str().expect("utf-8 path");
    let full = template_text("kpo", &ns, &["-f", full_path]);
    let out = dry_run_apply(&full);
    for expected in [
        "deployment.apps/kpo-full created",
        "servicemonitor.monitoring.coreos.com/kpo-full created",
        "role.rbac.authorization.k8s.io/kpo-full-leader-election created",
        "clusterrole.rbac.authorization.k8s.io/kpo-full created",
        "customresourcedefinition.apiextensions.k8s.io/kongplugins.configuration.konghq.com",
    ] {
        assert!(out.contains(expected), "{expected}:\n{out}");
    }
}

/// Every `run` flag of the binary has a value in the chart, and the chart's defaults are the
/// binary's defaults (except where the chart means to differ, listed here with the reason).
#[test]
fn every_run_flag_has_a_value_and_the_defaults_agree() {
    let flags = run_flags();
    let full_path = full_values();
    let full = template("kpo", "ops", &["-f", full_path.to_str().expect("utf-8")]);
    let full_args = args(&container(&full, "kpo-full"));
    // Set from the Pod's environment (POD_NAMESPACE), never by a value.
    let not_values = ["--leader-election-namespace"];
    for name in flags.keys() {
        if not_values.contains(&name.as_str()) {
            continue;
        }
        assert!(
            flag(&full_args, name).is_some(),
            "{name}: no chart value sets it ({full_args:?})"
        );
    }
    for a in &full_args[1..] {
        let name = a.split('=').next().unwrap_or(a);
        assert!(flags.contains_key(name), "{a}: `run` has no such flag");
    }

    let default = template("kpo", "ops", &[]);
    let default_args = args(&container(&default, "kpo-konnect-plugin-operator"));
    assert_eq!(default_args[0], "run");
    let differs: BTreeMap<&str, &str> = [
        // Structured logs in a cluster; text on a terminal.
        ("--log-format", "json"),
    ]
    .into_iter()
    .collect();
    for (name, binary_default) in &flags {
        let Some(binary_default) = binary_default else {
            continue;
        };
        let chart = flag(&default_args, name);
        match (differs.get(name.as_str()), chart) {
            (Some(want), Some(got)) => assert_eq!(got, *want, "{name}"),
            (None, Some(got)) => assert_eq!(got, binary_default, "{name}"),
            // A boolean left off, or an empty default, is the binary's default.
            (None, None) => assert!(
                ["false", ""].contains(&binary_default.as_str()),
                "{name}: chart omits it, binary default {binary_default}"
            ),
            (Some(_), None) => panic!("{name}: the chart should set it"),
        }
    }
}

#[test]
fn the_deployment_is_hardened_and_wired() {
    let objects = template("kpo", "ops", &[]);
    let c = container(&objects, "kpo-konnect-plugin-operator");
    let pod =
        &find(&objects, "Deployment", "kpo-konnect-plugin-operator")["spec"]["template"]["spec"];
    let sc = &c["securityContext"];
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["runAsNonRoot"], true);
    assert_eq!(sc["capabilities"]["drop"], serde_json::json!(["ALL"]));
    assert_eq!(sc["seccompProfile"]["type"], "RuntimeDefault");
    assert_eq!(pod["securityContext"]["runAsUser"], 65532);
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/livez");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(c["livenessProbe"]["httpGet"]["port"], "admin");
    assert_eq!(c["ports"][0]["containerPort"], 8080);
    assert_eq!(c["resources"]["requests"]["cpu"], "50m");
    assert_eq!(c["resources"]["requests"]["memory"], "64Mi");
    assert_eq!(c["resources"]["limits"]["memory"], "256Mi");
    let a = args(&c);
    assert_eq!(flag(&a, "--leader-election"), None, "one replica: {a:?}");
    assert_eq!(
        flag(&a, "--konnect-token-file"),
        Some("/etc/konnect-plugin-operator/konnect/token")
    );
    let mount = &c["volumeMounts"][0];
    assert_eq!(mount["mountPath"], "/etc/konnect-plugin-operator/konnect");
    assert_eq!(mount["readOnly"], true);
    let volume = &pod["volumes"][0];
    assert_eq!(volume["name"], mount["name"]);
    assert_eq!(volume["secret"]["secretName"], "konnect-token");
    assert_eq!(volume["secret"]["items"][0]["key"], "token");
    assert_eq!(volume["secret"]["items"][0]["path"], "token");
    assert_eq!(
        volume["secret"]["defaultMode"], 0o440,
        "r--r----- (owner, fsGroup)"
    );
    let env: BTreeMap<String, String> = c["env"]
        .as_array()
        .expect("env")
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap_or_default().to_string(),
                e["valueFrom"]["fieldRef"]["fieldPath"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect();
    assert_eq!(env["POD_NAME"], "metadata.name");
    assert_eq!(env["POD_NAMESPACE"], "metadata.namespace");
    // One writer at a time without leader election.
    assert_eq!(
        find(&objects, "Deployment", "kpo-konnect-plugin-operator")["spec"]["strategy"]["type"],
        "Recreate"
    );
    // No Lease Role, no ServiceMonitor by default.
    assert!(!objects.iter().any(|o| o["kind"] == "Role"));
    assert!(!objects.iter().any(|o| o["kind"] == "ServiceMonitor"));
    // No Secret of our own: the token Secret is the user's.
    assert!(!objects.iter().any(|o| o["kind"] == "Secret"));

    // Two replicas: leader election, the Lease Role, rolling updates.
    let two = template("kpo", "ops", &["--set", "replicas=2"]);
    let a = args(&container(&two, "kpo-konnect-plugin-operator"));
    assert_eq!(flag(&a, "--leader-election"), Some(""));
    find(&two, "Role", "kpo-konnect-plugin-operator-leader-election");
    find(
        &two,
        "RoleBinding",
        "kpo-konnect-plugin-operator-leader-election",
    );
    assert!(find(&two, "Deployment", "kpo-konnect-plugin-operator")["spec"]["strategy"].is_null());
}

#[test]
fn crds_are_kept_on_uninstall_and_can_be_skipped() {
    let objects = template("kpo", "ops", &[]);
    let crds: Vec<&Value> = objects
        .iter()
        .filter(|o| o["kind"] == "CustomResourceDefinition")
        .collect();
    let mut crd_names: Vec<&str> = crds
        .iter()
        .map(|c| c["metadata"]["name"].as_str().expect("name"))
        .collect();
    crd_names.sort_unstable();
    assert_eq!(
        crd_names,
        [
            "kongclusterplugins.configuration.konghq.com",
            "kongconsumergroups.configuration.konghq.com",
            "kongconsumers.configuration.konghq.com",
            "kongplugins.configuration.konghq.com",
            "konnectapplicationauthstrategies.konnect-plugin-operator.dev",
            "konnectdcrproviders.konnect-plugin-operator.dev",
        ]
    );
    // The rendered CRD is the file of crds/ plus the annotation, nothing else.
    let source = docs(
        &std::fs::read_to_string(repo().join("crds/configuration.konghq.com_kongplugins.yaml"))
            .expect("crd"),
    );
    for crd in &crds {
        assert_eq!(
            crd["metadata"]["annotations"]["helm.sh/resource-policy"],
            "keep"
        );
    }
    let mut rendered = find(
        &objects,
        "CustomResourceDefinition",
        "kongplugins.configuration.konghq.com",
    )
    .clone();
    rendered["metadata"]
        .as_object_mut()
        .expect("metadata")
        .remove("annotations");
    assert_eq!(rendered, source[0]);

    let skipped = template("kpo", "ops", &["--set", "crds.install=false"]);
    assert!(
        !skipped
            .iter()
            .any(|o| o["kind"] == "CustomResourceDefinition")
    );
}

// ------------------------------------------------------------------ RBAC on the API server

/// `kubectl auth can-i <args> --as=system:serviceaccount:<ns>:<sa>`: true for yes, false for no.
fn can_i(ns: &str, sa: &str, what: &[&str]) -> bool {
    let (ok, stdout, stderr) = run_status(
        support::cluster()
            .kubectl()
            .args(["auth", "can-i"])
            .args(what)
            .arg(format!("--as=system:serviceaccount:{ns}:{sa}")),
        None,
    );
    let answer = stdout.trim();
    assert!(
        answer == "yes" || answer == "no",
        "can-i {what:?}: {stdout} {stderr}"
    );
    assert_eq!(ok, answer == "yes");
    ok
}

/// `helm install` of the chart (without its CRDs, which the test cluster already has from
/// crds/ under another field manager) into a fresh namespace. Returns (namespace, release).
async fn install(prefix: &str, extra: &[&str]) -> (String, String) {
    let cluster = support::cluster();
    let ns = cluster.namespace(prefix).await;
    let release = support::unique_name("kpo");
    let out = run(
        cluster
            .helm()
            .args(["install", &release])
            .arg(chart())
            .args(["--namespace", &ns, "--set", "crds.install=false"])
            .args(extra),
        None,
    );
    // NOTES.txt tells how to check Programmed.
    assert!(out.contains("kubectl get kp -A"), "{out}");
    assert!(
        out.contains("kubectl wait --for=condition=Programmed kp/<name>"),
        "{out}"
    );
    (ns, release)
}

#[tokio::test]
async fn the_chart_grants_what_the_controller_needs_and_nothing_more() {
    let (ns, release) = install("chart-rbac", &[]).await;
    let sa = format!("{release}-konnect-plugin-operator");
    let other = support::cluster().namespace("chart-rbac-other").await;
    let yes = |what: &[&str]| assert!(can_i(&ns, &sa, what), "should be allowed: {what:?}");
    let no = |what: &[&str]| assert!(!can_i(&ns, &sa, what), "should be denied: {what:?}");

    // What src/controller calls: reflectors (list/watch) on every watched kind, cluster-wide.
    for resource in [
        "services",
        "secrets",
        "ingresses.networking.k8s.io",
        "ingressclasses.networking.k8s.io",
        "httproutes.gateway.networking.k8s.io",
        "gateways.gateway.networking.k8s.io",
        "gatewayclasses.gateway.networking.k8s.io",
        "referencegrants.gateway.networking.k8s.io",
        "kongplugins.configuration.konghq.com",
        "kongclusterplugins.configuration.konghq.com",
        "kongconsumers.configuration.konghq.com",
        "kongconsumergroups.configuration.konghq.com",
        "konnectapplicationauthstrategies.konnect-plugin-operator.dev",
        "konnectdcrproviders.konnect-plugin-operator.dev",
    ] {
        yes(&["list", resource, "--all-namespaces"]);
        yes(&["watch", resource, "--all-namespaces"]);
    }
    // Status by server-side apply (a PATCH of /status) on the four Kong kinds.
    for resource in [
        "kongplugins.configuration.konghq.com",
        "kongconsumers.configuration.konghq.com",
        "kongconsumergroups.configuration.konghq.com",
        "konnectapplicationauthstrategies.konnect-plugin-operator.dev",
        "konnectdcrproviders.konnect-plugin-operator.dev",
    ] {
        yes(&["patch", resource, "--subresource=status", "-n", &other]);
    }
    // Our own kinds: the finalizer (a patch of the object) that deletes the Konnect entity
    // first (src/controller/apps.rs); never update, create or delete.
    for resource in [
        "konnectapplicationauthstrategies.konnect-plugin-operator.dev",
        "konnectdcrproviders.konnect-plugin-operator.dev",
    ] {
        yes(&["patch", resource, "-n", &other]);
        no(&["update", resource, "-n", &other]);
        no(&["create", resource, "-n", &other]);
        no(&["delete", resource, "-n", &other]);
    }
    yes(&[
        "patch",
        "kongclusterplugins.configuration.konghq.com",
        "--subresource=status",
    ]);
    // Events (the Recorder creates, then patches a repeated one).
    yes(&["create", "events.events.k8s.io", "-n", &other]);
    yes(&["patch", "events.events.k8s.io", "-n", &other]);
    // kube-system's UID for the owner tag, and no other namespace.
    yes(&["get", "namespaces/kube-system"]);
    no(&["get", "namespaces/default"]);
    no(&["list", "namespaces"]);

    // Nothing else: no write on Secrets, no write on specs, no deletes, no Leases.
    no(&["create", "secrets", "-n", &other]);
    no(&["update", "secrets", "-n", &other]);
    no(&["patch", "secrets", "-n", &other]);
    no(&["delete", "secrets", "-n", &other]);
    no(&["delete", "services", "-n", &other]);
    no(&["patch", "services", "-n", &other]);
    no(&[
        "patch",
        "kongplugins.configuration.konghq.com",
        "-n",
        &other,
    ]);
    no(&[
        "update",
        "kongplugins.configuration.konghq.com",
        "-n",
        &other,
    ]);
    no(&[
        "delete",
        "kongplugins.configuration.konghq.com",
        "-n",
        &other,
    ]);
    no(&["create", "kongclusterplugins.configuration.konghq.com"]);
    no(&[
        "update",
        "kongplugins.configuration.konghq.com",
        "--subresource=status",
        "-n",
        &other,
    ]);
    no(&["create", "events", "-n", &other]); // core/v1 Events: not used
    no(&["create", "leases.coordination.k8s.io", "-n", &ns]);
    no(&["list", "pods", "-n", &ns]);
    no(&["create", "customresourcedefinitions.apiextensions.k8s.io"]);
}

#[tokio::test]
async fn leader_election_gets_only_its_own_lease() {
    let (ns, release) = install("chart-lease", &["--set", "replicas=2"]).await;
    let sa = format!("{release}-konnect-plugin-operator");
    let lease = "leases.coordination.k8s.io/konnect-plugin-operator";
    assert!(can_i(
        &ns,
        &sa,
        &["create", "leases.coordination.k8s.io", "-n", &ns]
    ));
    for verb in ["get", "update", "patch"] {
        assert!(can_i(&ns, &sa, &[verb, lease, "-n", &ns]), "{verb}");
    }
    assert!(!can_i(
        &ns,
        &sa,
        &["get", "leases.coordination.k8s.io/someone-else", "-n", &ns]
    ));
    assert!(!can_i(&ns, &sa, &["delete", lease, "-n", &ns]));
    assert!(!can_i(
        &ns,
        &sa,
        &["create", "leases.coordination.k8s.io", "-n", "default"]
    ));
}

#[tokio::test]
async fn watched_namespaces_confine_secret_access() {
    let cluster = support::cluster();
    let watched = cluster.namespace("chart-watched").await;
    let unwatched = cluster.namespace("chart-unwatched").await;
    let set = format!("namespaces={{{watched}}}");
    let (ns, release) = install("chart-scoped", &["--set", &set]).await;
    let sa = format!("{release}-konnect-plugin-operator");
    assert!(can_i(&ns, &sa, &["list", "secrets", "-n", &watched]));
    assert!(can_i(
        &ns,
        &sa,
        &[
            "watch",
            "kongplugins.configuration.konghq.com",
            "-n",
            &watched
        ]
    ));
    assert!(can_i(
        &ns,
        &sa,
        &[
            "patch",
            "kongplugins.configuration.konghq.com",
            "--subresource=status",
            "-n",
            &watched
        ]
    ));
    assert!(!can_i(&ns, &sa, &["list", "secrets", "-n", &unwatched]));
    assert!(!can_i(&ns, &sa, &["list", "secrets", "--all-namespaces"]));
    assert!(!can_i(&ns, &sa, &["list", "services", "-n", &unwatched]));
    // Cluster-scoped kinds stay readable.
    assert!(can_i(
        &ns,
        &sa,
        &["list", "kongclusterplugins.configuration.konghq.com"]
    ));
    assert!(can_i(
        &ns,
        &sa,
        &["list", "ingressclasses.networking.k8s.io"]
    ));
}

// ------------------------------------------------------------------ kustomize

/// Drops what only one of the two renderings carries: Helm's labels and annotations. Numbers
/// become floats: kustomize re-serializes `0.0` as `0`, the same JSON number to the API server.
fn comparable(mut o: Value) -> Value {
    fn numbers_as_floats(v: &mut Value) {
        match v {
            Value::Number(n) => {
                if let Some(f) = n.as_f64().and_then(serde_json::Number::from_f64) {
                    *n = f;
                }
            }
            Value::Array(items) => items.iter_mut().for_each(numbers_as_floats),
            Value::Object(map) => map.values_mut().for_each(numbers_as_floats),
            _ => {}
        }
    }
    if let Some(meta) = o["metadata"].as_object_mut() {
        meta.remove("labels");
        meta.remove("annotations");
    }
    numbers_as_floats(&mut o);
    o
}

#[test]
fn kustomize_bases_equal_the_chart_defaults() {
    kustomization_equals_chart("config/default", &[]);
}

/// config/default-with-webhook (config/default with the config/webhook component) is the chart
/// with the webhook on and its certificate from cert-manager.
#[test]
fn kustomize_webhook_component_equals_the_chart_with_the_webhook() {
    kustomization_equals_chart(
        "config/default-with-webhook",
        &[
            "--set",
            "webhook.enabled=true",
            "--set",
            "webhook.certManager.enabled=true",
        ],
    );
}

fn kustomization_equals_chart(dir: &str, helm_args: &[&str]) {
    let cluster = support::cluster();
    let kustomized = docs(&run(
        cluster.kubectl().arg("kustomize").arg(repo().join(dir)),
        None,
    ));
    let release = "konnect-plugin-operator";
    let helm = template(release, release, helm_args);
    let k: BTreeMap<_, _> = kustomized
        .into_iter()
        .filter(|o| o["kind"] != "Namespace")
        .map(|o| {
            (
                (o["kind"].to_string(), o["metadata"]["name"].to_string()),
                comparable(o),
            )
        })
        .collect();
    let h: BTreeMap<_, _> = helm
        .into_iter()
        .map(|o| {
            (
                (o["kind"].to_string(), o["metadata"]["name"].to_string()),
                comparable(o),
            )
        })
        .collect();
    assert_eq!(k.keys().collect::<Vec<_>>(), h.keys().collect::<Vec<_>>());
    for (key, object) in &k {
        pretty_assertions::assert_eq!(object, &h[key], "{key:?}");
    }
}

#[test]
fn kustomize_default_passes_a_server_side_dry_run() {
    let cluster = support::cluster();
    ensure_namespace("konnect-plugin-operator");
    let yaml = run(
        cluster
            .kubectl()
            .arg("kustomize")
            .arg(repo().join("config/default")),
        None,
    );
    let out = dry_run_apply(&yaml);
    assert!(
        out.contains("deployment.apps/konnect-plugin-operator created (server dry run)"),
        "{out}"
    );
}

// ------------------------------------------------------------------ the operator as the chart's identity

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// Kills the operator when the test ends, however it ends.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The issue's proof that the chart's RBAC is enough: the operator, started with the args the
/// chart renders and authenticated as the chart's ServiceAccount (impersonation), reconciles
/// config/samples into the emulator and writes Programmed; no request of it is forbidden.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_as_the_charts_service_account_programs_the_samples() {
    use konnect_plugin_operator::emulator::{self, EmulatorConfig};
    use konnect_plugin_operator::konnect::{ClientConfig, KonnectClient, ServerUrl, Token};

    let cluster = support::cluster();
    let ns = cluster.namespace("chart-operator").await;
    let emu = emulator::spawn(EmulatorConfig {
        control_planes: vec!["kpo-chart".into()],
        ..EmulatorConfig::default()
    })
    .await
    .expect("emulator starts");
    let port = free_port();
    let server = format!("konnect.server={}", emu.base_url());
    let namespaces = format!("namespaces={{{ns}}}");
    let admin_port = format!("admin.port={port}");
    let values = [
        "--set-string",
        &server,
        "--set",
        "konnect.controlPlane=kpo-chart",
        "--set",
        &namespaces,
        "--set",
        &admin_port,
        "--set",
        "debounce=20ms",
        "--set",
        "log.format=text",
        // Debug: a refused Event is logged at debug level only.
        "--set",
        "log.level=info\\,konnect_plugin_operator=debug",
    ];
    let release = support::unique_name("kpo");
    run(
        cluster
            .helm()
            .args(["install", &release])
            .arg(chart())
            .args(["--namespace", &ns, "--set", "crds.install=false"])
            .args(values),
        None,
    );
    let rendered = template(&release, &ns, &values);
    let sa = format!("{release}-konnect-plugin-operator");
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("token"), emu.token()).expect("token file");
    // The chart's args, with the two paths only a Pod has replaced by local ones.
    let mut op_args = args(&container(&rendered, &sa));
    for a in &mut op_args {
        if a.starts_with("--konnect-token-file=") {
            *a = format!(
                "--konnect-token-file={}",
                dir.path().join("token").display()
            );
        } else if a.starts_with("--admin-address=") {
            *a = format!("--admin-address=127.0.0.1:{port}");
        }
    }
    let kubeconfig =
        support::impersonating_kubeconfig(dir.path(), &format!("system:serviceaccount:{ns}:{sa}"));
    // The kubeconfig really is the ServiceAccount, not the admin.
    let (ok, _, stderr) = run_status(
        Command::new(cluster.bin_dir().join("kubectl"))
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .args(["create", "secret", "generic", "nope", "-n", &ns]),
        None,
    );
    assert!(!ok && stderr.contains("forbidden"), "{stderr}");

    let log_path = dir.path().join("operator.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    let _operator = Running(
        Command::new(BIN)
            .args(&op_args)
            .env("KUBECONFIG", &kubeconfig)
            .env("POD_NAME", "kpo-chart-test")
            .env("POD_NAMESPACE", &ns)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("operator starts"),
    );
    run(
        cluster
            .kubectl()
            .args(["apply", "-n", &ns, "-f"])
            .arg(repo().join("config/samples")),
        None,
    );
    let (ok, stdout, stderr) = run_status(
        cluster.kubectl().args([
            "wait",
            "-n",
            &ns,
            "--for=condition=Programmed",
            "--timeout=120s",
            "kp",
            "--all",
        ]),
        None,
    );
    let log_text = || std::fs::read_to_string(&log_path).unwrap_or_default();
    assert!(ok, "{stdout}{stderr}\noperator log:\n{}", log_text());

    let mut cfg = ClientConfig::new(
        ServerUrl::parse(&emu.base_url()).expect("url"),
        Token::new(emu.token()).expect("token"),
    );
    cfg.requests_per_minute = 600_000;
    let cp = KonnectClient::new(cfg)
        .expect("client")
        .control_plane(emu.control_plane_id("kpo-chart").expect("control plane"));
    // One Konnect plugin per KongPlugin/KongClusterPlugin use in the samples, as `render`
    // computes it from the same files without a cluster.
    let render = run(
        Command::new(BIN)
            .args(["render", "-o", "json", "-f"])
            .arg(repo().join("config/samples")),
        None,
    );
    let want: Value = serde_json::from_str(&render).expect("render JSON");
    let want = want["plugins"].as_array().expect("plugins").len();
    assert!(want > 0);
    // Polled: every KongPlugin can be Programmed by a pass that saw only part of the applied
    // samples (one use of each written) while the next pass is still writing the rest, so the
    // wait above does not mean every use is in Konnect yet. The deadline only bounds a failing
    // run (CI once read 4 of the samples' plugins here, mid-pass).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let plugins = cp.list_all_plugins(None).await.expect("plugins");
        if plugins.len() == want {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "Konnect holds {} plugins, the samples render {want}; operator log:\n{}",
            plugins.len(),
            log_text()
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    // Events were published (events.k8s.io, by this controller). Polled: they follow the
    // status write asynchronously; the deadline only bounds a failing run.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let events = run(
            cluster
                .kubectl()
                .args(["get", "events.events.k8s.io", "-n", &ns, "-o", "json"]),
            None,
        );
        let events: Value = serde_json::from_str(&events).expect("events JSON");
        let ours = events["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter(|e| e["reportingController"] == "konnect-plugin-operator")
            .count();
        if ours > 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no Event from the operator:\n{}",
            log_text()
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let log = log_text();
    assert!(
        !log.to_lowercase().contains("forbidden"),
        "a request was forbidden:\n{log}"
    );
}

// ------------------------------------------------------------------ the admission webhook

/// `base64 -d` of `b64` into `path` (the `base64` tool, not our code, decodes).
fn write_b64(path: &Path, b64: &str) {
    let out = run(Command::new("base64").arg("-d"), Some(b64));
    std::fs::write(path, out).unwrap();
}

/// With `webhook.enabled`, the chart renders a ValidatingWebhookConfiguration for KongPlugins,
/// KongClusterPlugins and `konghq.com/validate: plugin` Secrets whose caBundle is the CA that
/// signed the mounted serving certificate (checked with `openssl verify`, for the Service's
/// DNS name), the Deployment serves it on the webhook port, and the apiserver accepts it all
/// (server-side dry run).
#[tokio::test]
async fn the_webhook_renders_a_configuration_the_apiserver_accepts() {
    let cluster = support::cluster();
    let ns = cluster.namespace("chart-webhook").await;
    let objects = template("kpo", &ns, &["--set", "webhook.enabled=true"]);
    let config = find(
        &objects,
        "ValidatingWebhookConfiguration",
        "kpo-konnect-plugin-operator",
    );
    let hooks = config["webhooks"].as_array().expect("webhooks");
    let resources: Vec<&str> = hooks
        .iter()
        .map(|h| h["rules"][0]["resources"][0].as_str().unwrap())
        .collect();
    assert_eq!(resources, ["kongplugins", "kongclusterplugins", "secrets"]);
    for h in hooks {
        assert_eq!(h["failurePolicy"], "Fail", "{h}");
        assert_eq!(h["sideEffects"], "None", "{h}");
        assert_eq!(h["clientConfig"]["service"]["path"], "/validate", "{h}");
        assert_eq!(
            h["clientConfig"]["service"]["name"],
            "kpo-konnect-plugin-operator-webhook"
        );
    }
    assert_eq!(
        hooks[2]["objectSelector"]["matchLabels"]["konghq.com/validate"],
        "plugin"
    );

    // The CA in the caBundle signed the Secret's certificate, for the Service's name.
    let secret = find(
        &objects,
        "Secret",
        "kpo-konnect-plugin-operator-webhook-cert",
    );
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.crt");
    let crt = dir.path().join("tls.crt");
    write_b64(&ca, hooks[0]["clientConfig"]["caBundle"].as_str().unwrap());
    write_b64(&crt, secret["data"]["tls.crt"].as_str().unwrap());
    let host = format!("kpo-konnect-plugin-operator-webhook.{ns}.svc");
    let verified = run(
        Command::new("openssl")
            .args(["verify", "-verify_hostname", &host, "-CAfile"])
            .arg(&ca)
            .arg(&crt),
        None,
    );
    assert!(verified.contains(": OK"), "{verified}");

    // The Deployment serves the webhook with the mounted certificate.
    let c = container(&objects, "kpo-konnect-plugin-operator");
    let a = args(&c);
    assert_eq!(flag(&a, "--webhook-address"), Some("0.0.0.0:8443"));
    let dir_flag = flag(&a, "--webhook-cert-dir").expect("--webhook-cert-dir");
    let mount = c["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "webhook-cert")
        .expect("webhook-cert mount");
    assert_eq!(mount["mountPath"], dir_flag);
    assert!(
        c["ports"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "webhook" && p["containerPort"] == 8443),
        "{c}"
    );

    let out = dry_run_apply(&template_text(
        "kpo",
        &ns,
        &[
            "--set",
            "webhook.enabled=true",
            "--set",
            "webhook.failurePolicy=Ignore",
        ],
    ));
    for expected in [
        "validatingwebhookconfiguration.admissionregistration.k8s.io/kpo-konnect-plugin-operator created (server dry run)",
        "service/kpo-konnect-plugin-operator-webhook created (server dry run)",
        "secret/kpo-konnect-plugin-operator-webhook-cert created (server dry run)",
    ] {
        assert!(out.contains(expected), "{expected}:\n{out}");
    }

    // Off by default: no webhook object, no webhook port.
    let default = template("kpo", &ns, &[]);
    assert!(
        !default
            .iter()
            .any(|o| o["kind"] == "ValidatingWebhookConfiguration"),
        "{:?}",
        names(&default)
    );
    let a = args(&container(&default, "kpo-konnect-plugin-operator"));
    assert_eq!(flag(&a, "--webhook-address"), None);
}

/// With cert-manager, the certificate is a Certificate (from a self-signed Issuer unless one is
/// named) and the caBundle is left to cert-manager's cainjector (its
/// `cert-manager.io/inject-ca-from: <namespace>/<Certificate>` annotation).
#[test]
fn the_webhook_certificate_can_come_from_cert_manager() {
    let objects = template(
        "kpo",
        "ops",
        &[
            "--set",
            "webhook.enabled=true",
            "--set",
            "webhook.certManager.enabled=true",
        ],
    );
    let config = find(
        &objects,
        "ValidatingWebhookConfiguration",
        "kpo-konnect-plugin-operator",
    );
    assert_eq!(
        config["metadata"]["annotations"]["cert-manager.io/inject-ca-from"],
        "ops/kpo-konnect-plugin-operator-webhook"
    );
    for h in config["webhooks"].as_array().unwrap() {
        assert!(h["clientConfig"].get("caBundle").is_none(), "{h}");
    }
    let cert = find(
        &objects,
        "Certificate",
        "kpo-konnect-plugin-operator-webhook",
    );
    assert_eq!(
        cert["spec"]["secretName"],
        "kpo-konnect-plugin-operator-webhook-cert"
    );
    assert!(
        cert["spec"]["dnsNames"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d == "kpo-konnect-plugin-operator-webhook.ops.svc"),
        "{cert}"
    );
    assert_eq!(cert["spec"]["issuerRef"]["kind"], "Issuer");
    find(&objects, "Issuer", "kpo-konnect-plugin-operator-webhook");
    assert!(!objects.iter().any(|o| o["kind"] == "Secret"
        && o["metadata"]["name"] == "kpo-konnect-plugin-operator-webhook-cert"));

    let named = template(
        "kpo",
        "ops",
        &[
            "--set",
            "webhook.enabled=true",
            "--set",
            "webhook.certManager.enabled=true",
            "--set",
            "webhook.certManager.issuerRef.name=corp-ca",
            "--set",
            "webhook.certManager.issuerRef.kind=ClusterIssuer",
        ],
    );
    let cert = find(&named, "Certificate", "kpo-konnect-plugin-operator-webhook");
    assert_eq!(cert["spec"]["issuerRef"]["name"], "corp-ca");
    assert_eq!(cert["spec"]["issuerRef"]["kind"], "ClusterIssuer");
    assert!(!named.iter().any(|o| o["kind"] == "Issuer"));
}
