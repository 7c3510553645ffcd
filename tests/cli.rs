//! The operator binary's commands, run as a user runs them.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_konnect-plugin-operator");
/// `run` against a Konnect URL where nothing listens.
const RUN_ARGS: &[&str] = &[
    "run",
    "--control-plane",
    "demo",
    "--konnect-server",
    "http://127.0.0.1:1",
    "--owner",
    "test",
    "--admin-address",
    "127.0.0.1:0",
];

#[test]
fn run_connects_to_the_cluster_and_waits() {
    let cluster = support::cluster();
    // Konnect is unreachable (nothing listens on port 1): the operator keeps retrying.
    let mut child = Command::new(BIN)
        .args(RUN_ARGS)
        .env("KPO_KONNECT_TOKEN", "kpat_canary_run_token")
        .env("KUBECONFIG", cluster.kubeconfig_path())
        .env("KPO_LOG_FORMAT", "json")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("operator starts");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = Vec::new();
    let mut connected = None;
    loop {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(line) => {
                if line.contains("connected to the cluster") {
                    connected = Some(line.clone());
                }
                let retrying = line.contains("cannot resolve the Konnect control plane");
                seen.push(line);
                if retrying {
                    break;
                }
            }
            Err(_) if Instant::now() > deadline => break,
            Err(_) => {}
        }
    }
    let still_running = child.try_wait().expect("try_wait").is_none();
    child.kill().ok();
    child.wait().ok();
    let line = connected.unwrap_or_else(|| panic!("no 'connected' log line; saw: {seen:#?}"));
    let log: serde_json::Value = serde_json::from_str(&line).expect("json log line");
    assert_eq!(log["fields"]["server"], "v1.36.3", "{line}");
    assert!(still_running, "run must keep running after connecting");
    let all = seen.join("\n");
    assert!(
        all.contains("cannot resolve the Konnect control plane"),
        "an unreachable Konnect is retried and said: {all}"
    );
    assert!(
        !all.contains("kpat_canary_run_token"),
        "the token must not be printed"
    );
}

#[test]
fn run_without_a_reachable_cluster_fails_with_a_message() {
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = dir.path().join("kubeconfig");
    // A cluster on a loopback port nothing listens on.
    std::fs::write(
        &kubeconfig,
        r#"{"apiVersion":"v1","kind":"Config","current-context":"c",
            "clusters":[{"name":"c","cluster":{"server":"https://127.0.0.1:1"}}],
            "users":[{"name":"u","user":{"token":"canary-token-value"}}],
            "contexts":[{"name":"c","context":{"cluster":"c","user":"u"}}]}"#,
    )
    .expect("write kubeconfig");
    let output = Command::new(BIN)
        .args(RUN_ARGS)
        .env("KPO_KONNECT_TOKEN", "kpat_x")
        .env("KUBECONFIG", &kubeconfig)
        .output()
        .expect("operator runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "must fail: {stderr}");
    assert!(stderr.contains("ERROR"), "an error line: {stderr}");
    assert!(
        !stderr.contains("canary-token-value"),
        "the token must not be printed: {stderr}"
    );
}

#[test]
fn crds_prints_every_crd_as_yaml() {
    let output = Command::new(BIN).arg("crds").output().expect("crds runs");
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).expect("utf-8");
    let kinds: Vec<String> = serde_norway::Deserializer::from_str(&text)
        .map(|doc| {
            let v: serde_json::Value = serde::Deserialize::deserialize(doc).expect("yaml document");
            v["spec"]["names"]["kind"]
                .as_str()
                .expect("kind")
                .to_string()
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "KongPlugin",
            "KongClusterPlugin",
            "KongConsumer",
            "KongConsumerGroup",
            "KonnectApplicationAuthStrategy",
            "KonnectDCRProvider"
        ]
    );
}
