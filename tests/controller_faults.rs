//! The operator's hard user stories, run as its binary against the real kube-apiserver and the
//! Konnect emulator: a faulty Konnect (429 storm, 500s, latency, dropped connections), two
//! replicas with leader election, a kind it may not list, the mass-delete guard, a rotated
//! Secret. Each test has its own namespace, emulator and operator (its own owner tag, ingress
//! class and watched namespace), so they run in parallel. Nothing asserts a duration: waits
//! poll until a condition holds or a generous deadline passes, and then fail naming what they
//! waited for.

mod support;

use std::collections::{BTreeMap, BTreeSet};

use konnect_plugin_operator::emulator::EmulatorConfig;
use konnect_plugin_operator::konnect::models::{Plugin, Service};
use serde_json::json;

#[path = "support/operator.rs"]
mod harness;
use harness::*;

/// `n` Services `svc-<i>`, each annotated with its own KongPlugin `rl-<i>` (rate-limiting,
/// `minute: <i + 1>`, so every plugin's config is distinct and traceable to its Service).
fn services_with_plugins(n: usize) -> String {
    let mut yaml = String::new();
    for i in 0..n {
        yaml.push_str(&format!(
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: svc-{i}\n  annotations:\n    \
             konghq.com/plugins: rl-{i}\nspec:\n  ports:\n  - name: http\n    port: 80\n---\n\
             apiVersion: configuration.konghq.com/v1\nkind: KongPlugin\nmetadata:\n  name: rl-{i}\n\
             plugin: rate-limiting\nconfig:\n  minute: {}\n  policy: local\n---\n",
            i + 1
        ));
    }
    yaml
}

/// Asserts Konnect holds exactly one service per `svc-<i>` in `wanted` and, on each, exactly
/// one rate-limiting plugin with `minute: i + 1`; nothing else (no duplicate, no orphan).
async fn assert_exactly(w: &World, wanted: &BTreeSet<usize>) {
    let services = w.services().await;
    let plugins = w.plugins().await;
    // Which svc-<i> a Konnect service came from: its k8s-name tag (the Service's name).
    let index_of = |s: &Service| -> usize {
        let name = s
            .tags
            .iter()
            .flatten()
            .find_map(|t| t.as_str().strip_prefix("k8s-name:"))
            .unwrap_or_else(|| panic!("service without k8s-name tag: {s:?}"));
        name.strip_prefix("svc-")
            .and_then(|i| i.parse().ok())
            .unwrap_or_else(|| panic!("unexpected service {name}"))
    };
    let mut by_index: BTreeMap<usize, Vec<&Service>> = BTreeMap::new();
    for s in &services {
        by_index.entry(index_of(s)).or_default().push(s);
    }
    assert_eq!(
        by_index.keys().copied().collect::<BTreeSet<_>>(),
        *wanted,
        "services Konnect holds"
    );
    assert!(
        by_index.values().all(|v| v.len() == 1),
        "a Service made more than one Konnect service: {services:#?}"
    );
    assert_eq!(
        plugins.len(),
        wanted.len(),
        "one plugin per Service: {plugins:#?}"
    );
    for (i, s) in &by_index {
        let id = s[0].id.expect("service id");
        let on: Vec<&Plugin> = plugins
            .iter()
            .filter(|p| p.service.as_ref().is_some_and(|fk| fk.id == id))
            .collect();
        assert_eq!(on.len(), 1, "plugins on svc-{i}: {on:#?}");
        assert_eq!(on[0].name, "rate-limiting");
        assert_eq!(on[0].config["minute"], json!(i + 1), "svc-{i}'s plugin");
    }
}

fn all_of(n: usize) -> BTreeSet<usize> {
    (0..n).collect()
}

/// Story: Konnect misbehaves (a 429 storm, 5% 500s, added latency, 2% of connections dropped
/// after the write happened) while 30 Services with plugins are synced. The operator converges
/// with every entity once, nothing extra; once the faults stop, relists write nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_faulty_konnect_converges_without_duplicates_or_orphans() {
    const N: usize = 30;
    // The fault draws depend only on the seed and the order of served requests (emulator
    // gate.rs, `roll`): with seed 7 (rand 0.9 StdRng, computed apart) the 6th served request
    // gets a 500 and the 53rd is dropped, and every run serves at least 66 before it
    // converges (control-plane lookup, 5 lists, 60 writes), so both faults always happen.
    // A budget of 40 a minute (a burst of 40, then one every 1.5 s) against at least 60 writes
    // and the start-up lists: the operator's own budget (far higher) cannot prevent 429s.
    let w = World::with_emulator(
        "flt-konnect",
        EmulatorConfig {
            error_rate: 0.05,
            latency_ms: 20,
            drop_rate: 0.02,
            rate_limit_per_minute: Some(40),
            seed: 7,
            ..EmulatorConfig::default()
        },
    )
    .await;
    w.apply_yaml(&services_with_plugins(N));
    let op = w.operator(&[
        "--sync-period",
        "2s",
        "--konnect-requests-per-minute",
        "60000",
    ]);

    // Converged as the operator sees it: a pass that wanted all 60 entities and had no failed
    // write. (Read from its log, not from Konnect: polling Konnect would spend its budget.)
    eventually(
        "a pass with every entity and no failure",
        &[&op],
        || async {
            op.passes()
                .iter()
                .any(|p| p["desired"] == json!(2 * N) && p["failed"] == 0)
                .then_some(())
        },
    )
    .await;
    let stats = w.emulator_stats();
    assert!(
        stats["rate_limited"].as_u64().unwrap() > 0,
        "the budget must have answered 429: {stats}"
    );
    let errors = stats["by_status"]["500"].as_u64().unwrap_or(0);
    assert!(errors > 0, "the emulator must have answered 500s: {stats}");
    assert!(
        stats["dropped"].as_u64().unwrap() > 0,
        "the emulator must have dropped connections: {stats}"
    );

    // Faults off: what Konnect holds is exactly the manifests, once each.
    w.set_faults(&json!({
        "error_rate": 0.0, "drop_rate": 0.0, "latency_ms": 0, "rate_limit_per_minute": null
    }));
    assert_exactly(&w, &all_of(N)).await;

    // Steady state: two relists after the faults stop make no write.
    let relists = || {
        op.metric_sum(
            "kpo_konnect_requests_total",
            &["operation=\"list\"", "entity=\"service\"", "status=\"200\""],
        )
    };
    // One relist to absorb a pass that was retrying when the faults stopped.
    let first = relists();
    eventually("a relist", &[&op], || async {
        (relists() > first).then_some(())
    })
    .await;
    let writes_before = w.writes();
    let lists_before = relists();
    eventually("two more relists", &[&op], || async {
        (relists() >= lists_before + 2.0).then_some(())
    })
    .await;
    assert_eq!(
        w.writes(),
        writes_before,
        "steady state must make zero writes"
    );
    assert_exactly(&w, &all_of(N)).await;
}

/// The Lease holder's identity, if any.
fn lease_holder(ns: &str) -> Option<String> {
    let out = support::cluster()
        .kubectl()
        .args(["-n", ns, "get", "lease", "konnect-plugin-operator", "-o"])
        .arg("jsonpath={.spec.holderIdentity}")
        .output()
        .ok()?;
    let holder = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    (out.status.success() && !holder.is_empty()).then_some(holder)
}

/// Story: two replicas with leader election. Only the Lease holder lists Konnect, writes and
/// reports; when it dies, the other takes the Lease and converges an edit made meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_one_writer_and_a_takeover() {
    const N: usize = 3;
    const NAMES: [&str; 2] = ["replica-a", "replica-b"];
    let w = World::new("flt-leader").await;
    w.apply_yaml(&services_with_plugins(N));
    let le = [
        "--leader-election",
        "--leader-election-namespace",
        &w.ns,
        "--sync-period",
        "2s",
    ];
    let kubeconfig = support::cluster().kubeconfig_path();
    let mut replicas: Vec<Option<Operator>> = NAMES
        .iter()
        .map(|name| Some(w.operator_with(&le, kubeconfig, &[("POD_NAME", name)])))
        .collect();
    {
        let ops: Vec<&Operator> = replicas.iter().flatten().collect();
        eventually("the manifests in Konnect", &ops, || async {
            (w.services().await.len() == N && w.plugins().await.len() == N).then_some(())
        })
        .await;
    }
    assert_exactly(&w, &all_of(N)).await;
    let ops: Vec<&Operator> = replicas.iter().flatten().collect();
    let holder = eventually("a Lease holder", &ops, || async { lease_holder(&w.ns) }).await;
    // Both replicas are up and have joined the election.
    for op in &ops {
        eventually("the replica joined the election", &ops, || async {
            op.log_text().contains("leader election on").then_some(())
        })
        .await;
    }
    let leader_index = NAMES
        .iter()
        .position(|n| *n == holder)
        .unwrap_or_else(|| panic!("unexpected Lease holder {holder:?}"));
    let (leader, follower) = (ops[leader_index], ops[1 - leader_index]);
    // Let the leader relist twice more: the follower still never listed, passed or wrote.
    let plugin_lists = |op: &Operator| {
        op.metric_sum(
            "kpo_konnect_requests_total",
            &["operation=\"list\"", "entity=\"plugin\""],
        )
    };
    let before = plugin_lists(leader);
    eventually("two leader relists", &ops, || async {
        (plugin_lists(leader) >= before + 2.0).then_some(())
    })
    .await;
    assert!(leader.metric_sum("kpo_konnect_writes_total", &[]) > 0.0);
    let fm = follower.metrics();
    // Its metrics are served (it resolved the control plane, and nothing else).
    assert!(
        fm.contains("entity=\"control_plane\""),
        "follower metrics: {fm}"
    );
    assert_eq!(
        metric_sum(&fm, "kpo_konnect_writes_total", &[]),
        0.0,
        "the follower wrote:\n{fm}"
    );
    assert_eq!(
        metric_sum(&fm, "kpo_sync_passes_total", &[]),
        0.0,
        "the follower ran a pass:\n{fm}"
    );
    assert_eq!(plugin_lists(follower), 0.0, "the follower listed Konnect");
    assert!(follower.passes().is_empty());
    drop(ops);

    // The leader dies without releasing the Lease (SIGKILL); an edit is made meanwhile.
    replicas[leader_index] = None;
    let survivor_name = NAMES[1 - leader_index];
    let survivor = replicas[1 - leader_index].as_ref().unwrap();
    w.kubectl(&[
        "patch",
        "kp",
        "rl-0",
        "--type=merge",
        "-p",
        r#"{"config":{"minute":100}}"#,
    ]);
    eventually("the survivor holds the Lease", &[survivor], || async {
        (lease_holder(&w.ns).as_deref() == Some(survivor_name)).then_some(())
    })
    .await;
    eventually("the edit reached Konnect", &[survivor], || async {
        w.plugins()
            .await
            .iter()
            .any(|p| p.config["minute"] == 100)
            .then_some(())
    })
    .await;
    assert!(survivor.metric_sum("kpo_konnect_writes_total", &[]) > 0.0);
    let plugins = w.plugins().await;
    assert_eq!(plugins.len(), N, "{plugins:#?}");
}

/// What the chart's RBAC grants (charts/konnect-plugin-operator/templates/rbac.yaml, with
/// `namespaces` set), for `user` in `ns`, but without `httproutes`.
fn rbac_without_httproutes(ns: &str, user: &str) -> String {
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
- apiGroups: ["configuration.konghq.com"]
  resources: ["kongclusterplugins/status"]
  verbs: ["patch"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
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
  resources: ["services", "secrets"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["networking.k8s.io"]
  resources: ["ingresses"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["gateway.networking.k8s.io"]
  resources: ["gateways", "referencegrants"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["configuration.konghq.com"]
  resources: ["kongplugins", "kongconsumers", "kongconsumergroups"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["configuration.konghq.com"]
  resources: ["kongplugins/status", "kongconsumers/status", "kongconsumergroups/status"]
  verbs: ["patch"]
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

/// An HTTPRoute protected by key-auth, with its Gateway and GatewayClass (named after the
/// namespace, so no other test's class is involved).
fn protected_route(ns: &str) -> String {
    format!(
        r#"apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata:
  name: gc-{ns}
spec:
  controllerName: konghq.com/kic-gateway-controller
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: kong
spec:
  gatewayClassName: gc-{ns}
  listeners:
  - name: http
    protocol: HTTP
    port: 80
---
apiVersion: v1
kind: Service
metadata:
  name: echo
spec:
  ports:
  - name: http
    port: 80
---
apiVersion: configuration.konghq.com/v1
kind: KongPlugin
metadata:
  name: auth
plugin: key-auth
config:
  key_names: ["apikey"]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: echo
  annotations:
    konghq.com/plugins: auth
spec:
  parentRefs:
  - name: kong
  rules:
  - matches:
    - path:
        type: PathPrefix
        value: /echo
    backendRefs:
    - name: echo
      port: 80
"#
    )
}

/// Story: never act on a partial view. The operator synced an HTTPRoute's service, route and
/// auth plugin; restarted with an identity that may not list HTTPRoutes, it keeps all three in
/// Konnect (the route never loses its auth plugin), and says which kind it cannot list.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kind_it_cannot_list_is_never_read_as_empty() {
    let w = World::new("flt-partial").await;
    w.apply_yaml(&protected_route(&w.ns));
    let gc = format!("gc-{}", w.ns);
    let extra = ["--gateway-class", &gc, "--sync-period", "2s"];
    let op = w.operator(&extra);
    let (services, routes, plugins) = eventually("service, route and key-auth", &[&op], || async {
        let (s, r, p) = (w.services().await, w.routes().await, w.plugins().await);
        // A new route is attached to its service only after its key-auth is in.
        let attached = r.iter().all(|r| r.service.is_some());
        (s.len() == 1 && r.len() == 1 && p.len() == 1 && attached).then_some((s, r, p))
    })
    .await;
    assert_eq!(plugins[0].name, "key-auth");
    assert_eq!(
        plugins[0].route.as_ref().map(|fk| fk.id),
        routes[0].id,
        "key-auth is on the route"
    );
    eventually("auth Programmed", &[&op], || async {
        w.condition("kp", "auth").filter(|c| c["status"] == "True")
    })
    .await;
    drop(op);

    // The same operator, as an identity the API server refuses HTTPRoutes.
    let user = format!("kpo-partial-{}", w.ns);
    w.apply_yaml(&rbac_without_httproutes(&w.ns, &user));
    let kubeconfig = support::impersonating_kubeconfig(w.dir.path(), &user);
    let denied = support::cluster()
        .kubectl()
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args(["-n", &w.ns, "get", "httproutes"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&denied.stderr);
    assert!(
        !denied.status.success() && stderr.contains("forbidden"),
        "{stderr}"
    );
    let op = w.operator_with(&extra, &kubeconfig, &[]);

    // It says so in its log, naming the kind.
    eventually(
        "a log line naming HTTPRoute as unlistable",
        &[&op],
        || async {
            op.log_lines()
                .iter()
                .any(|l| l.contains("cannot list this kind") && l.contains("HTTPRoute"))
                .then_some(())
        },
    )
    .await;
    // Two full passes ran on this view (each lists Konnect afresh: sync period 2s).
    eventually("two passes without HTTPRoutes", &[&op], || async {
        (op.passes()
            .iter()
            .filter(|p| p["unavailable_kinds"].to_string().contains("HTTPRoute"))
            .count()
            >= 2)
            .then_some(())
    })
    .await;
    assert!(
        op.metric_sum("kpo_kept_entities", &["reason=\"kind_unavailable\""]) >= 1.0,
        "{}",
        op.metrics()
    );
    // Nothing derived from the HTTPRoute was deleted or changed.
    assert_eq!(w.services().await, services);
    assert_eq!(w.routes().await, routes);
    assert_eq!(w.plugins().await, plugins);
    assert!(
        !op.log_text().contains("\"operation\":\"delete\""),
        "{}",
        op.log_text()
    );
    // Status is not written from the partial view either: the plugin is still used by the
    // HTTPRoute the operator cannot see, so it must not turn NotReferenced.
    let c = w.condition("kp", "auth").expect("condition");
    assert_eq!(c["status"], "True", "{c}");
}

/// Story: a pass that would delete most of what the operator manages (here 20 of 30 Services
/// gone while it was stopped: 40 of 60 entities) deletes nothing and says why; started with
/// `--max-delete-share 1.0`, it deletes them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mass_delete_waits_for_a_higher_share() {
    const N: usize = 30;
    const GONE: usize = 20;
    let w = World::new("flt-guard").await;
    w.apply_yaml(&services_with_plugins(N));
    let op = w.operator(&[]);
    eventually("every Service and plugin in Konnect", &[&op], || async {
        (w.services().await.len() == N && w.plugins().await.len() == N).then_some(())
    })
    .await;
    assert_exactly(&w, &all_of(N)).await;
    // Deleted while the operator is stopped, so its first pass sees all 20 gone at once.
    drop(op);
    let mut delete = vec!["delete".to_owned(), "service".to_owned()];
    delete.extend((0..GONE).map(|i| format!("svc-{i}")));
    w.kubectl(&delete.iter().map(String::as_str).collect::<Vec<_>>());

    // As the chart's Deployment sets them (downward API): the guard's Event goes on this Pod.
    let op = w.operator_with(
        &["--max-delete-share", "0.5"],
        support::cluster().kubeconfig_path(),
        &[("POD_NAME", "kpo-0"), ("POD_NAMESPACE", &w.ns)],
    );
    let why = eventually("the guard's log line", &[&op], || async {
        op.log_lines()
            .into_iter()
            .find(|l| l.contains("nothing was deleted"))
    })
    .await;
    assert!(why.contains("would delete 40 of the 60"), "{why}");
    assert!(why.contains("--max-delete-share"), "{why}");
    assert!(why.contains("ERROR"), "{why}");
    // The pass that stopped finished (10 Services and their plugins wanted) and wrote nothing.
    let pass = eventually("the guarded pass", &[&op], || async {
        op.passes()
            .into_iter()
            .find(|p| p["desired"] == 2 * (N - GONE))
    })
    .await;
    assert_eq!(pass["writes"], 0, "{pass}");
    assert_eq!(pass["kept"], 2 * GONE, "{pass}");
    assert_eq!(
        op.metric_sum("kpo_kept_entities", &["reason=\"delete_guard\""]),
        (2 * GONE) as f64
    );
    assert_eq!(op.metric_sum("kpo_delete_guard_blocked", &[]), 1.0);
    assert!(op.metric_sum("kpo_delete_guard_stopped_passes_total", &[]) >= 1.0);
    // Someone on call sees it without the logs: a Warning Event on the operator's Pod.
    let event = eventually("the MassDeleteBlocked Event", &[&op], || async {
        let list: serde_json::Value = serde_json::from_str(&w.kubectl(&[
            "get",
            "events.events.k8s.io",
            "--field-selector",
            "reason=MassDeleteBlocked",
            "-o",
            "json",
        ]))
        .ok()?;
        list["items"].as_array()?.first().cloned()
    })
    .await;
    assert_eq!(event["type"], "Warning", "{event}");
    assert_eq!(event["regarding"]["kind"], "Pod", "{event}");
    assert_eq!(event["regarding"]["name"], "kpo-0", "{event}");
    let note = event["note"].as_str().unwrap_or_default();
    assert!(note.contains("would delete 40 of the 60"), "{note}");
    assert_exactly(&w, &all_of(N)).await;

    drop(op);
    let op = w.operator(&["--max-delete-share", "1.0"]);
    eventually("the 20 Services' entities deleted", &[&op], || async {
        (w.services().await.len() == N - GONE && w.plugins().await.len() == N - GONE).then_some(())
    })
    .await;
    assert_exactly(&w, &(GONE..N).collect()).await;
}

/// Story: the config of a KongPlugin comes from a Secret (configFrom); rotating the Secret
/// updates the plugin in Konnect, in place.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotating_a_referenced_secret_updates_the_plugin() {
    let w = World::new("flt-secret").await;
    let secret = |minute: u32| {
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: rl-config\ntype: Opaque\n\
             stringData:\n  config: |\n    minute: {minute}\n    policy: local\n"
        )
    };
    w.apply_yaml(&secret(5));
    w.apply_yaml(
        "apiVersion: configuration.konghq.com/v1\nkind: KongPlugin\nmetadata:\n  name: rl\n\
         plugin: rate-limiting\nconfigFrom:\n  secretKeyRef:\n    name: rl-config\n    key: config\n\
         ---\napiVersion: v1\nkind: Service\nmetadata:\n  name: echo\n  annotations:\n    \
         konghq.com/plugins: rl\nspec:\n  ports:\n  - name: http\n    port: 80\n",
    );
    let op = w.operator(&[]);
    let first = eventually("rate-limiting minute 5", &[&op], || async {
        let p = w.plugins().await;
        (p.len() == 1 && p[0].config["minute"] == 5).then(|| p[0].clone())
    })
    .await;
    w.apply_yaml(&secret(12));
    let rotated = eventually("rate-limiting minute 12", &[&op], || async {
        let p = w.plugins().await;
        (p.len() == 1 && p[0].config["minute"] == 12).then(|| p[0].clone())
    })
    .await;
    assert_eq!(rotated.id, first.id, "updated in place, not replaced");
    assert_eq!(rotated.service, first.service);
    eventually("rl Programmed", &[&op], || async {
        w.condition("kp", "rl").filter(|c| c["status"] == "True")
    })
    .await;
}
