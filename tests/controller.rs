//! The operator, run as its binary against the real kube-apiserver and the Konnect emulator
//! over HTTP: one test per user story. Each test has its own namespace, its own emulator and its
//! own operator (watching only that namespace, with its own owner tag), so they run in
//! parallel. Nothing asserts a duration: waits poll until a condition holds or a generous
//! deadline passes, and then the test fails naming what it waited for.

mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use konnect_plugin_operator::emulator::{self, EmulatorConfig, EmulatorHandle};
use konnect_plugin_operator::konnect::client::ControlPlaneClient;
use konnect_plugin_operator::konnect::client::KonnectClient;
use konnect_plugin_operator::konnect::config::{ClientConfig, ServerUrl, Token};
use konnect_plugin_operator::konnect::models::{Consumer, Plugin, Route, Service};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_konnect-plugin-operator");
const CP: &str = "kpo-test";
/// Generous: the operator reacts in well under a second; CI machines are slow and shared.
const DEADLINE: Duration = Duration::from_secs(90);

/// One operator process, its log and its admin address.
struct Operator {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
    admin: String,
}

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Operator {
    fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    fn metrics(&self) -> String {
        http_get(&format!("http://{}/metrics", self.admin))
    }
}

fn http_get(url: &str) -> String {
    let out = Command::new("curl")
        .args(["-s", "--max-time", "5", url])
        .output()
        .expect("curl runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A test's world: namespace, emulator, token file.
struct World {
    ns: String,
    emu: EmulatorHandle,
    cp: ControlPlaneClient,
    dir: tempfile::TempDir,
    owner: String,
}

impl World {
    async fn new(prefix: &str) -> World {
        let ns = support::cluster().namespace(prefix).await;
        World::in_namespace(ns).await
    }

    async fn in_namespace(ns: String) -> World {
        let emu = emulator::spawn(EmulatorConfig {
            control_planes: vec![CP.into()],
            tokens: vec!["kpat_canaryTOKEN0123456789".into()],
            ..EmulatorConfig::default()
        })
        .await
        .expect("emulator starts");
        let mut cfg = ClientConfig::new(
            ServerUrl::parse(&emu.base_url()).unwrap(),
            Token::new(emu.token()).unwrap(),
        );
        cfg.requests_per_minute = 600_000;
        let client = KonnectClient::new(cfg).unwrap();
        let cp = client.control_plane(emu.control_plane_id(CP).expect("control plane"));
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("token"), emu.token()).unwrap();
        let owner = format!("test-{ns}");
        World {
            ns,
            emu,
            cp,
            dir,
            owner,
        }
    }

    fn operator(&self, extra: &[&str]) -> Operator {
        let cluster = support::cluster();
        let admin = format!("127.0.0.1:{}", free_port());
        let mut child = Command::new(BIN)
            .arg("run")
            .args(["--konnect-server", &self.emu.base_url()])
            .arg("--konnect-token-file")
            .arg(self.dir.path().join("token"))
            .args(["--control-plane", CP])
            .args(["--namespaces", &self.ns])
            .args(["--owner", &self.owner])
            .args(["--admin-address", &admin])
            .args(["--debounce", "20ms"])
            .args(extra)
            // Samples' cluster-wide KongClusterPlugin is of class `kong`: other tests use their own.
            .args(if self.ns == "default" {
                vec![]
            } else {
                vec!["--ingress-class".to_owned(), format!("class-{}", self.ns)]
            })
            .env("KUBECONFIG", cluster.kubeconfig_path())
            .env("KPO_LOG", "info,konnect_plugin_operator=debug")
            .env("KPO_LOG_FORMAT", "json")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("operator starts");
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        Operator { child, log, admin }
    }

    fn kubectl(&self, args: &[&str]) -> String {
        let out = support::cluster()
            .kubectl()
            .args(["-n", &self.ns])
            .args(args)
            .output()
            .expect("kubectl runs");
        assert!(
            out.status.success(),
            "kubectl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn apply_yaml(&self, yaml: &str) {
        let path = self.dir.path().join(format!("m-{}.yaml", rand_suffix()));
        std::fs::write(&path, yaml).unwrap();
        self.kubectl(&["apply", "-f", path.to_str().unwrap()]);
    }

    async fn plugins(&self) -> Vec<Plugin> {
        self.cp.list_all_plugins(None).await.expect("list plugins")
    }

    async fn services(&self) -> Vec<Service> {
        self.cp
            .list_all_services(None)
            .await
            .expect("list services")
    }

    async fn routes(&self) -> Vec<Route> {
        self.cp.list_all_routes(None).await.expect("list routes")
    }

    async fn consumers(&self) -> Vec<Consumer> {
        self.cp
            .list_all_consumers(None)
            .await
            .expect("list consumers")
    }

    /// Writes (PUT, POST, DELETE) the emulator has served, and all requests.
    fn stats(&self) -> (u64, u64) {
        let v: Value = serde_json::from_str(&http_get(&format!(
            "http://{}/_emulator/stats",
            self.emu.addr()
        )))
        .expect("stats json");
        let mut writes = 0;
        for r in v["requests"].as_array().unwrap() {
            if matches!(
                r["method"].as_str(),
                Some("PUT" | "POST" | "DELETE" | "PATCH")
            ) {
                writes += r["count"].as_u64().unwrap();
            }
        }
        (writes, v["total"].as_u64().unwrap())
    }

    fn condition(&self, kind: &str, name: &str) -> Option<Value> {
        let out = support::cluster()
            .kubectl()
            .args(["-n", &self.ns, "get", kind, name, "-o", "json"])
            .output()
            .unwrap();
        let v: Value = serde_json::from_slice(&out.stdout).ok()?;
        v["status"]["conditions"]
            .as_array()?
            .iter()
            .find(|c| c["type"] == "Programmed")
            .cloned()
    }
}

fn rand_suffix() -> String {
    support::unique_name("x")
}

/// Polls `check` until it returns `Some`, or fails naming `what`.
async fn eventually<T, F, Fut>(what: &str, op: Option<&Operator>, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = std::time::Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if start.elapsed() > DEADLINE {
            let log = op.map(Operator::log_text).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            panic!(
                "timed out waiting for: {what}\noperator log (last lines, newest first):\n{}",
                tail.join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

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
        let c = eventually(&format!("{kind} Programmed"), Some(&op), || async {
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
    let (writes_before, total_before) = w.stats();
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
    eventually("three relists", Some(&op), || async {
        (passes(&op.metrics()) >= lists_before + 3).then_some(())
    })
    .await;
    let (writes_after, total_after) = w.stats();
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
    eventually("two plugins on the service", Some(&op), || async {
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
    eventually("rate-limiting minute 7", Some(&op), || async {
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
    eventually("cors removed", Some(&op), || async {
        let p = w.plugins().await;
        (p.len() == 1 && p[0].name == "rate-limiting").then_some(())
    })
    .await;

    // Deleting the Service removes the service and its plugins.
    w.kubectl(&["delete", "service", "echo"]);
    eventually("service and plugins gone", Some(&op), || async {
        (w.plugins().await.is_empty() && w.services().await.is_empty()).then_some(())
    })
    .await;
    // The now-unreferenced plugin says so.
    let c = eventually("rl not Programmed", Some(&op), || async {
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
    eventually("three plugins", Some(&op), || async {
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
    let c = eventually("cors Programmed=False", Some(&op), || async {
        w.condition("kp", "cors").filter(|c| c["status"] == "False")
    })
    .await;
    assert_eq!(c["reason"], "InvalidConfig", "{c}");
    assert!(
        c["message"].as_str().unwrap().contains("config.max_age"),
        "{c}"
    );
    // The Service `api` does not use cors: its rate-limiting keeps syncing.
    eventually("rate-limiting minute 9 on api", Some(&op), || async {
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
    let events = eventually("a warning event on cors", Some(&op), || async {
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
    eventually("two plugins", Some(&op), || async {
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
    eventually("drift repaired at the next relist", Some(&op), || async {
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
    eventually("orphaned cors removed after restart", Some(&op), || async {
        let p = w.plugins().await;
        (p.len() == 1 && p[0].name == "rate-limiting").then_some(())
    })
    .await;
}
