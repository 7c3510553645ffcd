//! Benchmark: the operator, as its binary, reconciling N Services each with an annotated
//! KongPlugin on the real kube-apiserver (tests/support) into the emulator over HTTP.
//!
//! Targets (docs/architecture.md): 0 Konnect writes in a steady-state relist; edit -> Konnect
//! write p50 < 150 ms and p99 < 1 s; operator RSS <= 64 MiB at 10k Services + 10k plugins.
//! Prints figures and PASS/MISS words; always exits 0 (timings are never asserted in tests).
//!
//! `cargo bench --bench controller` (N=1000); `KPO_BENCH_N=10000 cargo bench --bench controller`.
//! `KPO_BENCH_EDITS` (default 40) edits are timed one after another. `KPO_BENCH_LOG` sets the
//! operator's log filter (default `warn`; `info` logs each sync pass and its duration).

#[path = "../tests/support/mod.rs"]
mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Service;
use konnect_plugin_operator::crd::KongPlugin;
use konnect_plugin_operator::emulator::{self, EmulatorConfig};
use konnect_plugin_operator::konnect::{ClientConfig, KonnectClient, ServerUrl, Token};
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_konnect-plugin-operator");
const CP: &str = "bench";

fn env_or<T: std::str::FromStr>(var: &str, default: T) -> T {
    std::env::var(var)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

fn writes_and_total(stats: &Value) -> (u64, u64, Vec<(String, u64)>) {
    let mut by_method = std::collections::BTreeMap::<String, u64>::new();
    for r in stats["requests"].as_array().into_iter().flatten() {
        *by_method
            .entry(r["method"].as_str().unwrap_or("?").to_owned())
            .or_default() += r["count"].as_u64().unwrap_or(0);
    }
    let writes = ["PUT", "POST", "DELETE", "PATCH"]
        .iter()
        .map(|m| by_method.get(*m).copied().unwrap_or(0))
        .sum();
    let total = stats["total"].as_u64().unwrap_or(0);
    (writes, total, by_method.into_iter().collect())
}

fn vm(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let n: usize = env_or("KPO_BENCH_N", 1000);
    let edits: usize = env_or("KPO_BENCH_EDITS", 40);
    let cluster = support::cluster();
    let ns = cluster.namespace("bench").await;
    let kube = cluster.client().await;
    let emu = emulator::spawn(EmulatorConfig {
        control_planes: vec![CP.into()],
        ..EmulatorConfig::default()
    })
    .await?;
    let http = reqwest::Client::new();
    let stats_url = format!("http://{}/_emulator/stats", emu.addr());
    let stats = || async {
        http.get(&stats_url)
            .send()
            .await
            .ok()?
            .json::<Value>()
            .await
            .ok()
    };

    println!("controller benchmark: N = {n} Services, each with one annotated KongPlugin");
    let t = Instant::now();
    let services: Api<Service> = Api::namespaced(kube.clone(), &ns);
    let plugins: Api<KongPlugin> = Api::namespaced(kube.clone(), &ns);
    let pp = PatchParams::apply("kpo-bench");
    let objects: Vec<usize> = (0..n).collect();
    futures::future::try_join_all(objects.chunks(n.div_ceil(8).max(1)).map(|chunk| {
        let (services, plugins, pp) = (services.clone(), plugins.clone(), pp.clone());
        async move {
            for i in chunk {
                let plugin = json!({"apiVersion": "configuration.konghq.com/v1", "kind": "KongPlugin",
                    "metadata": {"name": format!("rl-{i}")}, "plugin": "rate-limiting",
                    "config": {"minute": 10, "policy": "local"}});
                plugins.patch(&format!("rl-{i}"), &pp, &Patch::Apply(&plugin)).await?;
                // Headless: the test control plane's Service IP range is small, and a Kong
                // service's host is the Service's DNS name anyway.
                let svc = json!({"apiVersion": "v1", "kind": "Service",
                    "metadata": {"name": format!("svc-{i}"), "annotations": {"konghq.com/plugins": format!("rl-{i}")}},
                    "spec": {"clusterIP": "None", "ports": [{"name": "http", "port": 80}]}});
                services.patch(&format!("svc-{i}"), &pp, &Patch::Apply(&svc)).await?;
            }
            Ok::<_, kube::Error>(())
        }
    }))
    .await?;
    println!(
        "  created {} objects in {:.1} s",
        2 * n,
        t.elapsed().as_secs_f64()
    );

    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("token"), emu.token())?;
    let admin = {
        let l = std::net::TcpListener::bind("127.0.0.1:0")?;
        l.local_addr()?
    };
    let sync_period = 10;
    let mut child = Command::new(BIN)
        .args([
            "run",
            "--konnect-server",
            &emu.base_url(),
            "--control-plane",
            CP,
        ])
        .arg("--konnect-token-file")
        .arg(dir.path().join("token"))
        .args([
            "--namespaces",
            &ns,
            "--owner",
            "bench",
            "--debounce",
            "20ms",
        ])
        .args(["--sync-period", &format!("{sync_period}s")])
        .args(["--admin-address", &admin.to_string()])
        .env("KUBECONFIG", cluster.kubeconfig_path())
        .env(
            "KPO_LOG",
            std::env::var("KPO_BENCH_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    let pid = child.id();
    let stderr = child.stderr.take().expect("stderr");
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("  operator: {line}");
        }
    });

    // Convergence: the emulator holds N services and N plugins.
    let start = Instant::now();
    loop {
        if let Some(s) = stats().await {
            let e = &s["entities"][CP];
            if e["services"].as_u64() == Some(n as u64) && e["plugins"].as_u64() == Some(n as u64) {
                break;
            }
        }
        if start.elapsed() > Duration::from_secs(1800) {
            println!("  did not converge within 30 min; stopping");
            let _ = child.kill();
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let converge = start.elapsed();
    let s = stats().await.unwrap_or_default();
    let (writes, total, by_method) = writes_and_total(&s);
    println!(
        "  converged in {:.2} s: {total} Konnect requests ({writes} writes for {} entities); by method {by_method:?}",
        converge.as_secs_f64(),
        2 * n
    );
    println!(
        "  duplicate writes: {} (writes beyond one per entity)",
        writes.saturating_sub(2 * n as u64)
    );

    // Steady state: wait for two relists, count writes.
    tokio::time::sleep(Duration::from_secs(2 * sync_period + 2)).await;
    let (writes2, total2, _) = writes_and_total(&stats().await.unwrap_or_default());
    let steady = writes2 - writes;
    println!(
        "  steady state over two relists: {} requests, {steady} writes  [{}] target 0",
        total2 - total,
        if steady == 0 { "PASS" } else { "MISS" }
    );

    // Edit -> Konnect write latency, one edit at a time.
    let mut client_cfg =
        ClientConfig::new(ServerUrl::parse(&emu.base_url())?, Token::new(emu.token())?);
    client_cfg.requests_per_minute = 1_000_000;
    let konnect = KonnectClient::new(client_cfg)?;
    let cp = konnect.control_plane(emu.control_plane_id(CP).expect("control plane"));
    let all = cp.list_all_plugins(None).await?;
    let mut latencies = Vec::new();
    for e in 0..edits {
        let i = (e * 7919) % n;
        let minute = 100 + e;
        let name = format!("rl-{i}");
        let id = all
            .iter()
            .find(|p| {
                p.tags
                    .iter()
                    .flatten()
                    .any(|t| t.as_str() == format!("k8s-name:{name}"))
            })
            .and_then(|p| p.id)
            .expect("plugin id");
        let t = Instant::now();
        plugins
            .patch(
                &name,
                &PatchParams::default(),
                &Patch::Merge(json!({"config": {"minute": minute}})),
            )
            .await?;
        loop {
            let p = cp.get_plugin(&id.to_string()).await?;
            if p.config["minute"] == minute {
                break;
            }
            if t.elapsed() > Duration::from_secs(60) {
                println!("  edit {e} not written within 60 s");
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        if ms >= 1000.0 {
            // Slow edits are named, to be matched with the operator's log (KPO_BENCH_LOG).
            println!(
                "  edit {e} (kp/{name}) took {ms:.0} ms, written at {}",
                jiff::Timestamp::now()
            );
        }
        latencies.push(ms);
    }
    latencies.sort_by(f64::total_cmp);
    let (p50, p99) = (percentile(&latencies, 0.5), percentile(&latencies, 0.99));
    println!(
        "  edit -> Konnect write over {edits} edits: p50 {p50:.0} ms [{}] (target < 150), p99 {p99:.0} ms [{}] (target < 1000)",
        if p50 < 150.0 { "PASS" } else { "MISS" },
        if p99 < 1000.0 { "PASS" } else { "MISS" }
    );

    let hwm = vm(pid, "VmHWM:") as f64 / 1024.0;
    let rss = vm(pid, "VmRSS:") as f64 / 1024.0;
    println!(
        "  operator RSS: peak {hwm:.1} MiB, now {rss:.1} MiB [{}] (target <= 64 MiB at 10k Services + 10k plugins; N = {n})",
        if hwm <= 64.0 { "PASS" } else { "MISS" }
    );
    let _ = child.kill();
    let _ = child.wait();
    Ok(())
}
