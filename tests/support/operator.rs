//! The harness of the operator's end-to-end tests (tests/controller.rs,
//! tests/controller_faults.rs): a [`World`] per test — its own namespace, emulator (over HTTP),
//! token file and owner tag — and [`Operator`] processes of the real binary with their logs and
//! admin endpoints. Included with `#[path]` by test files that also declare `mod support;`
//! (not from support/mod.rs: the demo and benches include that module and have no
//! `CARGO_BIN_EXE_*`).
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use konnect_plugin_operator::emulator::{self, EmulatorConfig, EmulatorHandle};
use konnect_plugin_operator::konnect::client::{ControlPlaneClient, KonnectClient};
use konnect_plugin_operator::konnect::config::{ClientConfig, ServerUrl, Token};
use konnect_plugin_operator::konnect::models::{Consumer, Plugin, Route, Service};
use serde_json::Value;

use crate::support;

pub const BIN: &str = env!("CARGO_BIN_EXE_konnect-plugin-operator");
pub const CP: &str = "kpo-test";
/// Generous: CI machines are slow and shared. Only bounds a failing run.
pub const DEADLINE: Duration = Duration::from_secs(180);

/// One operator process, its log and its admin address.
pub struct Operator {
    pub child: Child,
    pub log: Arc<Mutex<Vec<String>>>,
    pub admin: String,
}

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Operator {
    pub fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    pub fn log_lines(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    pub fn metrics(&self) -> String {
        http_get(&format!("http://{}/metrics", self.admin))
    }

    /// The `sync pass` log records (their JSON fields), oldest first.
    pub fn passes(&self) -> Vec<Value> {
        self.log_lines()
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .map(|v| v["fields"].clone())
            .filter(|f| f["message"] == "sync pass")
            .collect()
    }

    /// The sum of a metric's samples whose line contains every `labels` item.
    pub fn metric_sum(&self, name: &str, labels: &[&str]) -> f64 {
        metric_sum(&self.metrics(), name, labels)
    }
}

pub fn metric_sum(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|l| {
            l.split(['{', ' '])
                .next()
                .is_some_and(|metric| metric == name)
                && labels.iter().all(|want| l.contains(want))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

pub fn http_get(url: &str) -> String {
    let out = Command::new("curl")
        .args(["-s", "--max-time", "5", url])
        .output()
        .expect("curl runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn http_put_json(url: &str, body: &Value) -> String {
    let out = Command::new("curl")
        .args([
            "-s",
            "--max-time",
            "5",
            "-X",
            "PUT",
            "-H",
            "content-type: application/json",
            "--data",
            &body.to_string(),
            url,
        ])
        .output()
        .expect("curl runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A test's world: namespace, emulator, token file.
pub struct World {
    pub ns: String,
    pub emu: EmulatorHandle,
    pub cp: ControlPlaneClient,
    pub dir: tempfile::TempDir,
    pub owner: String,
}

impl World {
    pub async fn new(prefix: &str) -> World {
        World::with_emulator(prefix, EmulatorConfig::default()).await
    }

    pub async fn with_emulator(prefix: &str, cfg: EmulatorConfig) -> World {
        let ns = support::cluster().namespace(prefix).await;
        World::in_namespace_with(ns, cfg).await
    }

    /// A world in an existing namespace (`default` for the seed samples, as `render` reads them).
    pub async fn in_namespace(ns: String) -> World {
        World::in_namespace_with(ns, EmulatorConfig::default()).await
    }

    async fn in_namespace_with(ns: String, cfg: EmulatorConfig) -> World {
        let emu = emulator::spawn(EmulatorConfig {
            control_planes: vec![CP.into()],
            tokens: vec!["kpat_canaryTOKEN0123456789".into()],
            ..cfg
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

    pub fn operator(&self, extra: &[&str]) -> Operator {
        self.operator_with(extra, support::cluster().kubeconfig_path(), &[])
    }

    /// An operator with its own kubeconfig and environment.
    pub fn operator_with(
        &self,
        extra: &[&str],
        kubeconfig: &Path,
        env: &[(&str, &str)],
    ) -> Operator {
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
            // The samples' cluster-wide KongClusterPlugin is of class `kong` (namespace
            // `default`); every other test uses its own class.
            .args(if self.ns == "default" {
                vec![]
            } else {
                vec!["--ingress-class".to_owned(), format!("class-{}", self.ns)]
            })
            .args(extra)
            .env("KUBECONFIG", kubeconfig)
            .env("KPO_LOG", "info,konnect_plugin_operator=debug")
            .env("KPO_LOG_FORMAT", "json")
            .envs(env.iter().copied())
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

    pub fn kubectl(&self, args: &[&str]) -> String {
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

    pub fn apply_yaml(&self, yaml: &str) {
        let path = self
            .dir
            .path()
            .join(format!("m-{}.yaml", support::unique_name("x")));
        std::fs::write(&path, yaml).unwrap();
        self.kubectl(&["apply", "-f", path.to_str().unwrap()]);
    }

    pub async fn plugins(&self) -> Vec<Plugin> {
        self.cp.list_all_plugins(None).await.expect("list plugins")
    }

    pub async fn services(&self) -> Vec<Service> {
        self.cp
            .list_all_services(None)
            .await
            .expect("list services")
    }

    pub async fn routes(&self) -> Vec<Route> {
        self.cp.list_all_routes(None).await.expect("list routes")
    }

    pub async fn consumers(&self) -> Vec<Consumer> {
        self.cp
            .list_all_consumers(None)
            .await
            .expect("list consumers")
    }

    pub fn emulator_stats(&self) -> Value {
        serde_json::from_str(&http_get(&format!(
            "http://{}/_emulator/stats",
            self.emu.addr()
        )))
        .expect("stats json")
    }

    /// Writes (PUT, POST, DELETE, PATCH) the emulator has served, whatever their status.
    pub fn writes(&self) -> u64 {
        self.emulator_stats()["requests"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| {
                matches!(
                    r["method"].as_str(),
                    Some("PUT" | "POST" | "DELETE" | "PATCH")
                )
            })
            .map(|r| r["count"].as_u64().unwrap())
            .sum()
    }

    pub fn set_faults(&self, faults: &Value) {
        let answer = http_put_json(
            &format!("http://{}/_emulator/faults", self.emu.addr()),
            faults,
        );
        let now: Value = serde_json::from_str(&answer)
            .unwrap_or_else(|e| panic!("faults refused: {answer}: {e}"));
        for (k, v) in faults.as_object().unwrap() {
            assert_eq!(&now[k], v, "fault {k} not set: {answer}");
        }
    }

    pub fn condition(&self, kind: &str, name: &str) -> Option<Value> {
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

/// Polls `check` until it returns `Some`, or fails naming `what` with the operators' logs.
pub async fn eventually<T, F, Fut>(what: &str, ops: &[&Operator], mut check: F) -> T
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
            let mut logs = String::new();
            for (i, op) in ops.iter().enumerate() {
                let log = op.log_text();
                let tail: Vec<&str> = log.lines().rev().take(40).collect();
                logs.push_str(&format!(
                    "\noperator {i} log (last lines, newest first):\n{}\n",
                    tail.join("\n")
                ));
            }
            panic!("timed out waiting for: {what}{logs}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
