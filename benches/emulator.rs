//! Benchmark: the emulator's write throughput does not fall as entities accumulate.
//!
//! Target (issue 10, point 7): PUT throughput with 100 and with 20,000 entities in a control
//! plane within 2x of each other, because every lookup a write makes (uniqueness, the
//! one-plugin-per-scope rule, foreign keys, names in paths) is an index probe, not a scan.
//!
//! For each size S it starts a fresh emulator in-process, fills it over HTTP with S/2 services
//! and S/2 plugins (one `cors` plugin per service, so each has its own scope), then times
//! `KPO_BENCH_WRITES` (default 3000) PUTs that replace existing services and as many that
//! replace existing plugins, 4 in flight, through plain HTTP with keep-alive. Each replacement
//! passes the same checks as a creation (the body, uniqueness of the name, the plugin scope,
//! the foreign key) and keeps the table at S entities.
//!
//! Informational: prints figures and a PASS/MISS word, always exits 0.
//! `KPO_BENCH_SMALL` (default 100) and `KPO_BENCH_LARGE` (default 20000) override the sizes.
//!
//! `cargo bench --bench emulator`

use std::time::Instant;

use futures::StreamExt;
use konnect_plugin_operator::emulator::{self, EmulatorConfig};
use serde_json::{Value, json};

const IN_FLIGHT: usize = 4;

fn env_or<T: std::str::FromStr>(var: &str, default: T) -> T {
    std::env::var(var)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

fn uuid(kind: u8, i: usize) -> String {
    format!("00000000-0000-4000-8{kind:03x}-{i:012x}")
}

struct Target {
    http: reqwest::Client,
    core: String,
    token: String,
}

impl Target {
    /// PUTs every (path, body) with `IN_FLIGHT` requests at a time; returns requests/second.
    async fn put_all(&self, writes: Vec<(String, Value)>) -> anyhow::Result<f64> {
        let n = writes.len();
        let start = Instant::now();
        let mut results = futures::stream::iter(writes.into_iter().map(|(path, body)| {
            let req = self
                .http
                .put(format!("{}/{path}", self.core))
                .bearer_auth(&self.token)
                .json(&body);
            async move {
                let resp = req.send().await?;
                let status = resp.status();
                let text = resp.text().await?;
                anyhow::ensure!(status.is_success(), "PUT {path}: {status} {text}");
                Ok(())
            }
        }))
        .buffer_unordered(IN_FLIGHT);
        while let Some(r) = results.next().await {
            r?;
        }
        Ok(n as f64 / start.elapsed().as_secs_f64())
    }
}

fn service(i: usize, round: usize) -> (String, Value) {
    (
        format!("services/{}", uuid(1, i)),
        json!({"name": format!("svc-{i}"), "host": format!("h{i}-{round}.example"), "tags": ["bench"]}),
    )
}

fn plugin(i: usize, round: usize) -> (String, Value) {
    (
        format!("plugins/{}", uuid(2, i)),
        json!({
            "name": "cors",
            "service": {"id": uuid(1, i)},
            "config": {"origins": [format!("https://o{round}.example")]},
            "tags": ["bench"],
        }),
    )
}

/// (service PUT/s, plugin PUT/s) with `size` entities stored.
async fn measure(size: usize, writes: usize) -> anyhow::Result<(f64, f64)> {
    let emu = emulator::spawn(EmulatorConfig::default()).await?;
    let cp = emu
        .control_plane_id("default")
        .ok_or_else(|| anyhow::anyhow!("no default control plane"))?;
    let t = Target {
        http: reqwest::Client::new(),
        core: format!("{}/control-planes/{cp}/core-entities", emu.base_url()),
        token: emu.token(),
    };
    let half = size / 2;
    let fill_start = Instant::now();
    t.put_all((0..half).map(|i| service(i, 0)).collect())
        .await?;
    t.put_all((0..half).map(|i| plugin(i, 0)).collect()).await?;
    println!(
        "  filled {size} entities ({half} services, {half} plugins) in {:.1}s",
        fill_start.elapsed().as_secs_f64()
    );
    let svc = t
        .put_all((0..writes).map(|k| service(k % half, 1 + k)).collect())
        .await?;
    let plg = t
        .put_all((0..writes).map(|k| plugin(k % half, 1 + k)).collect())
        .await?;
    emu.shutdown().await;
    Ok((svc, plg))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let small: usize = env_or("KPO_BENCH_SMALL", 100);
    let large: usize = env_or("KPO_BENCH_LARGE", 20_000);
    let writes: usize = env_or("KPO_BENCH_WRITES", 3000);
    println!("emulator PUT throughput, {writes} replacing PUTs per kind, {IN_FLIGHT} in flight");
    println!("size {small}:");
    let (s_svc, s_plg) = measure(small.max(2), writes).await?;
    println!("  services {s_svc:.0}/s, plugins {s_plg:.0}/s");
    println!("size {large}:");
    let (l_svc, l_plg) = measure(large.max(2), writes).await?;
    println!("  services {l_svc:.0}/s, plugins {l_plg:.0}/s");
    let ratio_svc = s_svc / l_svc;
    let ratio_plg = s_plg / l_plg;
    let verdict = |r: f64| if r <= 2.0 { "PASS" } else { "MISS" };
    println!(
        "ratio small/large: services {ratio_svc:.2} ({}), plugins {ratio_plg:.2} ({}); target <= 2",
        verdict(ratio_svc),
        verdict(ratio_plg)
    );
    Ok(())
}
