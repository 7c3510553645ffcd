//! The operator, run as its binary against the real kube-apiserver and the Konnect emulator
//! over HTTP: one test per user story. Each test has its own namespace, its own emulator and its
//! own operator (watching only that namespace, with its own owner tag), so they run in
//! parallel. Nothing asserts a duration: waits poll until a condition holds or a generous
//! deadline passes, and then the test fails naming what it waited for.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use konnect_plugin_operator::konnect::models::Plugin;
use serde_json::Value;

#[path = "support/operator.rs"]
mod harness;
use harness::*;

/// True when `held` has every value of `sent` (objects: key by key; arrays: item by item).
fn contains(held: &Value, sent: &Value) -> bool {
    match (held, sent) {
        (Value::Object(h), Value::Object(s)) => s
            .iter()
            .all(|(k, v)| h.get(k).is_some_and(|hv| contains(hv, v))),
        (Value::Array(h), Value::Array(s)) => {
            h.len() == s.len() && h.iter().zip(s).all(|(hv, v)| contains(hv, v))
        }
        (h, s) => h == s,
    }
}

fn samples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("config/samples")
}

/// The entities `render` computes for the samples (the translation the goldens check), with
/// the given owner.
fn rendered_samples(owner: &str) -> Value {
    let out = Command::new(BIN)
        .args([
            "render",
            "-o",
            "json",
            "--show-secrets",
            "--owner",
            owner,
            "-f",
        ])
        .arg(samples_dir())
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).expect("render json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_samples_reach_konnect_and_report_programmed() {
    // The samples go to the `default` namespace, as `render` reads them, so Konnect's ids must
    // equal render's. (No other test uses `default` or the `kong` ingress class.)
    let w = World::in_namespace("default".into()).await;
    w.kubectl(&["apply", "-f", samples_dir().to_str().unwrap()]);
    let op = w.operator(&["--sync-period", "1s"]);

    // Every KongPlugin, KongConsumer and KongConsumerGroup says Programmed=True.
    let wait = support::cluster()
        .kubectl()
        .args([
            "-n",
            &w.ns,
            "wait",
            "--for=condition=Programmed",
            "--timeout=90s",
        ])
        .args(["kp", "--all"])
        .output()
        .unwrap();
    assert!(
        wait.status.success(),
        "kubectl wait kp: {}\n{}",
        String::from_utf8_lossy(&wait.stderr),
        op.log_text()
    );
    for kind in ["kongconsumer", "kongconsumergroup"] {
        let c = eventually(&format!("{kind} Programmed"), &[&op], || async {
            let out = support::cluster()
                .kubectl()
                .args(["-n", &w.ns, "get", kind, "-o", "json"])
                .output()
                .unwrap();
            let v: Value = serde_json::from_slice(&out.stdout).ok()?;
            let items = v["items"].as_array()?.clone();
            items
                .iter()
                .all(|i| {
                    i["status"]["conditions"].as_array().is_some_and(|cs| {
                        cs.iter()
                            .any(|c| c["type"] == "Programmed" && c["status"] == "True")
                    })
                })
                .then_some(items.len())
        })
        .await;
        assert_eq!(c, 1, "{kind}");
    }

    // Konnect holds exactly what `render` computes for the same manifests (ids, scopes, bodies).
    let rendered = rendered_samples(&w.owner);
    let plugins = w.plugins().await;
    let want = rendered["plugins"].as_array().unwrap();
    assert_eq!(plugins.len(), want.len(), "plugins: {plugins:#?}");
    for p in want {
        let got = plugins
            .iter()
            .find(|g| g.id.map(|i| i.to_string()).as_deref() == p["id"].as_str())
            .unwrap_or_else(|| {
                let held: Vec<String> = plugins
                    .iter()
                    .map(|g| format!("{:?} {} {:?} {:?}", g.id, g.name, g.service, g.route))
                    .collect();
                panic!("plugin {p} missing; Konnect holds {held:#?}")
            });
        let got = serde_json::to_value(got).unwrap();
        for field in ["name", "service", "route", "consumer", "consumer_group"] {
            assert_eq!(
                got.get(field),
                p.get(field),
                "plugin {} field {field}",
                p["id"]
            );
        }
        // Tags too, but for the uid (files have none) and the payload hash (which covers it).
        let tags = |v: &Value| -> Vec<String> {
            v["tags"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(Value::as_str)
                .filter(|t| !t.starts_with("k8s-uid:") && !t.starts_with("kpo-hash:"))
                .map(str::to_owned)
                .collect()
        };
        assert_eq!(tags(&got), tags(p), "plugin {} tags", p["id"]);
        for (k, v) in p["config"].as_object().unwrap() {
            // Konnect adds defaults (nulls included); every value we sent must be there.
            assert!(
                contains(&got["config"][k], v),
                "plugin {} config.{k}: sent {v}, Konnect holds {}",
                p["name"],
                got["config"][k]
            );
        }
    }
    // The seed's attachment points, each once: global, Service, Ingress route, HTTPRoute route,
    // KongConsumer, KongConsumerGroup.
    let datakit: Vec<&Plugin> = plugins.iter().filter(|p| p.name == "datakit").collect();
    let scopes = |f: fn(&Plugin) -> bool| datakit.iter().filter(|p| f(p)).count();
    assert_eq!(
        scopes(|p| p.service.is_none()
            && p.route.is_none()
            && p.consumer.is_none()
            && p.consumer_group.is_none()),
        1,
        "global datakit"
    );
    assert_eq!(
        scopes(|p| p.service.is_some()),
        2,
        "datakit on the Service echo: on both Konnect services made from it (the Ingress's and the HTTPRoute's), as KIC attaches a Service's plugins"
    );
    assert_eq!(
        scopes(|p| p.route.is_some()),
        2,
        "datakit on the Ingress and the HTTPRoute"
    );
    assert_eq!(
        scopes(|p| p.consumer.is_some()),
        1,
        "datakit on the consumer"
    );
    assert_eq!(
        scopes(|p| p.consumer_group.is_some()),
        1,
        "datakit on the group"
    );
    // Values from Secrets reached Konnect (they are in the sample manifests).
    let samples_text = std::fs::read_to_string(samples_dir().join("08-session.yaml")).unwrap();
    assert!(samples_text.contains("opensesame-0123456789abcdef"));
    let session = plugins
        .iter()
        .find(|p| p.name == "session")
        .expect("session");
    assert_eq!(session.config["secret"], "opensesame-0123456789abcdef");
    let oauth = plugins
        .iter()
        .find(|p| p.name == "upstream-oauth")
        .expect("upstream-oauth");
    // The whole config came from the Secret (configFrom): its client_secret is in the sample.
    let oauth_sample =
        std::fs::read_to_string(samples_dir().join("07-upstream-oauth.yaml")).unwrap();
    assert!(oauth_sample.contains("client_secret: s3cr3t-billing-client"));
    assert_eq!(
        oauth.config["oauth"]["client_secret"],
        "s3cr3t-billing-client"
    );
    assert_eq!(
        w.services().await.len(),
        rendered["services"].as_array().unwrap().len()
    );
    assert_eq!(
        w.routes().await.len(),
        rendered["routes"].as_array().unwrap().len()
    );
    assert_eq!(w.consumers().await.len(), 1);
    // Every route ended attached to the service render computes (routes are written detached
    // first, until their plugins are in).
    for r in rendered["routes"].as_array().unwrap() {
        let got = w
            .routes()
            .await
            .into_iter()
            .find(|g| g.id.map(|i| i.to_string()).as_deref() == r["id"].as_str())
            .expect("route");
        assert_eq!(
            serde_json::to_value(&got.service).unwrap(),
            r["service"],
            "{r}"
        );
    }

    // Steady state: after three more relists (sync period 1s), not one write.
    let (writes_before, total_before) = (w.writes(), w.emulator_stats()["total"].as_u64().unwrap());
    let passes = |m: &str| -> u64 {
        m.lines()
            .filter(|l| {
                l.starts_with("kpo_konnect_requests_total")
                    && l.contains("operation=\"list\"")
                    && l.contains("entity=\"service\"")
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum()
    };
    let lists_before = passes(&op.metrics());
    eventually("three relists", &[&op], || async {
        (passes(&op.metrics()) >= lists_before + 3).then_some(())
    })
    .await;
    let (writes_after, total_after) = (w.writes(), w.emulator_stats()["total"].as_u64().unwrap());
    assert!(total_after > total_before, "relists happened");
    assert_eq!(
        writes_after, writes_before,
        "steady state must make zero writes"
    );

    // Secrets never leak: not the token, not a Secret value, in logs, metrics or conditions.
    let log = op.log_text();
    let metrics = op.metrics();
    let conditions = w.kubectl(&["get", "kp", "-o", "json"]);
    for text in [&log, &metrics, &conditions] {
        assert!(!text.contains("canaryTOKEN"), "token leaked");
        assert!(
            !text.contains("opensesame-0123456789abcdef"),
            "Secret value leaked"
        );
    }
    assert!(metrics.contains("kpo_sync_passes_total"), "{metrics}");
    assert_eq!(http_get(&format!("http://{}/readyz", op.admin)), "ok");
}

const ECHO: &str = r#"
apiVersion: v1
kind: Service
metadata:
  name: echo
  annotations:
    konghq.com/plugins: rl, cors
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
apiVersion: configuration.konghq.com/v1
kind: KongPlugin
metadata:
  name: cors
plugin: cors
config:
  origins: ["https://example.com"]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn konnect_follows_edits_annotations_and_deletes() {
    let w = World::new("ctl-edits").await;
    w.apply_yaml(ECHO);
    let op = w.operator(&[]);
    eventually("two plugins on the service", &[&op], || async {
        (w.plugins().await.len() == 2).then_some(())
    })
    .await;

    // Editing a plugin's config reaches Konnect.
    w.kubectl(&[
        "patch",
        "kp",
        "rl",
        "--type=merge",
        "-p",
        r#"{"config":{"minute":7}}"#,
    ]);
    eventually("rate-limiting minute 7", &[&op], || async {
        w.plugins()
            .await
            .iter()
            .any(|p| p.name == "rate-limiting" && p.config["minute"] == 7)
            .then_some(())
    })
    .await;

    // Removing a plugin from the annotation removes it from Konnect.
    w.kubectl(&[
        "annotate",
        "--overwrite",
        "service",
        "echo",
        "konghq.com/plugins=rl",
    ]);
    eventually("cors removed", &[&op], || async {
        let p = w.plugins().await;
        (p.len() == 1 && p[0].name == "rate-limiting").then_some(())
    })
    .await;

    // Deleting the Service removes the service and its plugins.
    w.kubectl(&["delete", "service", "echo"]);
    eventually("service and plugins gone", &[&op], || async {
        (w.plugins().await.is_empty() && w.services().await.is_empty()).then_some(())
    })
    .await;
    // The now-unreferenced plugin says so.
    let c = eventually("rl not Programmed", &[&op], || async {
        w.condition("kp", "rl").filter(|c| c["status"] == "False")
    })
    .await;
    assert_eq!(c["reason"], "NotReferenced", "{c}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_config_is_reported_and_the_rest_keeps_syncing() {
    let w = World::new("ctl-bad").await;
    w.apply_yaml(ECHO);
    // A second Service uses only rate-limiting.
    w.apply_yaml(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: api\n  annotations:\n    konghq.com/plugins: rl\nspec:\n  ports:\n  - name: http\n    port: 80\n",
    );
    let op = w.operator(&[]);
    eventually("three plugins", &[&op], || async {
        (w.plugins().await.len() == 3).then_some(())
    })
    .await;
    // cors gets a config its schema refuses; then rate-limiting is edited.
    w.kubectl(&[
        "patch",
        "kp",
        "cors",
        "--type=merge",
        "-p",
        r#"{"config":{"max_age":"soon"}}"#,
    ]);
    w.kubectl(&[
        "patch",
        "kp",
        "rl",
        "--type=merge",
        "-p",
        r#"{"config":{"minute":9}}"#,
    ]);
    let c = eventually("cors Programmed=False", &[&op], || async {
        w.condition("kp", "cors").filter(|c| c["status"] == "False")
    })
    .await;
    assert_eq!(c["reason"], "InvalidConfig", "{c}");
    assert!(
        c["message"].as_str().unwrap().contains("config.max_age"),
        "{c}"
    );
    // The Service `api` does not use cors: its rate-limiting keeps syncing.
    eventually("rate-limiting minute 9 on api", &[&op], || async {
        w.plugins()
            .await
            .iter()
            .any(|p| p.name == "rate-limiting" && p.config["minute"] == 9)
            .then_some(())
    })
    .await;
    // Fail closed: the Service `echo` names the broken cors, so everything on it keeps its last
    // good state in Konnect: cors is never silently removed, its rate-limiting stays at 5.
    let plugins = w.plugins().await;
    assert_eq!(plugins.len(), 3, "{plugins:#?}");
    assert!(
        plugins
            .iter()
            .any(|p| p.name == "rate-limiting" && p.config["minute"] == 5),
        "echo's rate-limiting is held at its last good config: {plugins:#?}"
    );
    let cors = plugins
        .iter()
        .find(|p| p.name == "cors")
        .expect("cors kept in Konnect");
    assert_eq!(cors.config["origins"][0], "https://example.com");
    // A Warning Event names the field.
    let events = eventually("a warning event on cors", &[&op], || async {
        let e = w.kubectl(&["get", "events", "-o", "json"]);
        e.contains("config.max_age").then_some(e)
    })
    .await;
    assert!(events.contains("Warning"), "{events}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_and_orphans_are_repaired_after_a_restart() {
    let w = World::new("ctl-drift").await;
    w.apply_yaml(ECHO);
    let op = w.operator(&["--sync-period", "1s"]);
    eventually("two plugins", &[&op], || async {
        (w.plugins().await.len() == 2).then_some(())
    })
    .await;
    // `diff` on the same manifests: nothing to do; on an edited copy: exactly that field.
    let manifests = w.dir.path().join("echo.yaml");
    let with_ns = ECHO.replace(
        "metadata:\n",
        &format!("metadata:\n  namespace: {}\n", w.ns),
    );
    std::fs::write(&manifests, &with_ns).unwrap();
    let diff = |file: &Path| {
        Command::new(BIN)
            .args([
                "diff",
                "--konnect-server",
                &w.emu.base_url(),
                "--control-plane",
                CP,
            ])
            .arg("--konnect-token-file")
            .arg(w.dir.path().join("token"))
            .args(["--owner", &w.owner, "-f"])
            .arg(file)
            .output()
            .unwrap()
    };
    let same = diff(&manifests);
    let text = String::from_utf8_lossy(&same.stdout);
    assert_eq!(
        same.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&same.stderr)
    );
    assert!(text.contains("0 change(s)"), "{text}");
    let edited = w.dir.path().join("edited.yaml");
    std::fs::write(&edited, with_ns.replace("minute: 5", "minute: 6")).unwrap();
    let changed = diff(&edited);
    let text = String::from_utf8_lossy(&changed.stdout);
    assert_eq!(changed.status.code(), Some(1), "{text}");
    assert!(text.contains("~ PUT plugin rate-limiting"), "{text}");
    assert!(text.contains("config.minute: 5 -> 6"), "{text}");
    assert!(text.contains("1 change(s)"), "{text}");

    // Out of band: someone edits our rate-limiting plugin in Konnect and deletes cors.
    let mut rl = w
        .plugins()
        .await
        .into_iter()
        .find(|p| p.name == "rate-limiting")
        .unwrap();
    rl.config["minute"] = 1000.into();
    w.cp.upsert_plugin(&rl).await.unwrap();
    let cors = w
        .plugins()
        .await
        .into_iter()
        .find(|p| p.name == "cors")
        .unwrap();
    w.cp.delete_plugin(&cors.id.unwrap().to_string())
        .await
        .unwrap();
    eventually("drift repaired at the next relist", &[&op], || async {
        let p = w.plugins().await;
        (p.len() == 2
            && p.iter()
                .any(|p| p.name == "rate-limiting" && p.config["minute"] == 5))
        .then_some(())
    })
    .await;
    assert!(
        op.metrics().contains("kpo_drift_repaired_total"),
        "drift metric"
    );

    // Objects deleted while the operator is stopped: their entities go after the restart.
    drop(op);
    w.kubectl(&[
        "annotate",
        "--overwrite",
        "service",
        "echo",
        "konghq.com/plugins=rl",
    ]);
    let op = w.operator(&[]);
    eventually("orphaned cors removed after restart", &[&op], || async {
        let p = w.plugins().await;
        (p.len() == 1 && p[0].name == "rate-limiting").then_some(())
    })
    .await;
}

/// A write Konnect refuses (here: a plugin Konnect does not know, which translation cannot
/// check offline) is reported on the object and not sent again while its body is unchanged:
/// steady state stays free of writes. Editing the object sends it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_konnect_refusal_is_not_resent_until_the_object_changes() {
    let w = World::new("ctl-refused").await;
    w.apply_yaml(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: api\n  annotations:\n    konghq.com/plugins: mystery\nspec:\n  ports:\n  - name: http\n    port: 80\n---\napiVersion: configuration.konghq.com/v1\nkind: KongPlugin\nmetadata:\n  name: mystery\nplugin: kpo-no-such-plugin\nconfig:\n  level: 1\n",
    );
    let op = w.operator(&["--sync-period", "1s"]);
    let c = eventually("mystery Programmed=False", &[&op], || async {
        w.condition("kp", "mystery")
            .filter(|c| c["status"] == "False")
    })
    .await;
    assert!(
        c["message"]
            .as_str()
            .unwrap()
            .contains("kpo-no-such-plugin"),
        "Konnect's refusal is in the condition: {c}"
    );
    let lists = |m: &str| op_lists(m);
    let (writes_before, lists_before) = (w.writes(), lists(&op.metrics()));
    eventually("three relists", &[&op], || async {
        (lists(&op.metrics()) >= lists_before + 3).then_some(())
    })
    .await;
    assert_eq!(
        w.writes(),
        writes_before,
        "the refused PUT must not be re-sent while nothing changed"
    );
    // The condition still says why.
    let c = w.condition("kp", "mystery").expect("condition");
    assert_eq!(c["status"], "False", "{c}");
    // An edit is a new body: it is sent.
    w.kubectl(&[
        "patch",
        "kp",
        "mystery",
        "--type=merge",
        "-p",
        r#"{"config":{"level":2}}"#,
    ]);
    eventually("the edited body is sent", &[&op], || async {
        (w.writes() > writes_before).then_some(())
    })
    .await;
}

/// Service list requests the operator made (one per relist), from its metrics.
fn op_lists(metrics: &str) -> u64 {
    metrics
        .lines()
        .filter(|l| {
            l.starts_with("kpo_konnect_requests_total")
                && l.contains("operation=\"list\"")
                && l.contains("entity=\"service\"")
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}
