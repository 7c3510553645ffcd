//! Benchmark: bulk writes through the Konnect client under a request budget.
//!
//! Target (docs/architecture.md, README benchmarks): a bulk sync of N entities under a budget of B requests/minute uses
//! at least 90% of B, with 0 duplicate writes and 0 unhandled 429s; the physical limit is N/B
//! minutes.
//!
//! It spawns the emulator in-process with `rate_limit_per_minute = B` and upserts N services
//! (`PUT services/{id}`, one task each) through one `KonnectClient`, whose own budget and
//! concurrency bound what is in flight. Figures come from the emulator's `/_emulator/stats`
//! (what the server saw) and the client's metrics hook (what the client did):
//!
//! 1. client budget = B against a fresh server (the server's minute is unspent);
//! 2. client budget = 2 x B against a server whose budget was just spent (drained by plain
//!    requests first, as if another client had used the minute), so the server answers 429s
//!    and the client has to absorb them.
//!
//! Duplicate writes = PUTs the server served minus entities it holds (each PUT carries a
//! distinct id, so anything beyond one served PUT per entity is a duplicate).
//!
//! Informational: prints figures and PASS/MISS words, always exits 0. `KPO_BENCH_N` (default
//! 600) and `KPO_BENCH_BUDGET` (requests/minute, default 1800) override N and B.
//!
//! `cargo bench --bench client_budget`

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use konnect_plugin_operator::emulator::{self, EmulatorConfig, EmulatorHandle};
use konnect_plugin_operator::konnect::models::Service;
use konnect_plugin_operator::konnect::{
    ClientConfig, InMemoryMetrics, KonnectClient, ServerUrl, Token, install_crypto_provider,
};
use serde_json::{Value, json};

const DEFAULT_N: usize = 600;
const DEFAULT_BUDGET: u32 = 1800;
const TARGET_UTILISATION: f64 = 0.90;
/// True for the stats template of one service, `.../core-entities/services/{<id param>}`
/// (matched by shape, so a renamed path parameter does not silently zero the count).
fn is_service_item(template: &str) -> bool {
    let mut segments = template.rsplit('/');
    let last = segments.next().unwrap_or_default();
    last.starts_with('{') && segments.next() == Some("services")
}

fn env_or<T: std::str::FromStr>(var: &str, default: T) -> T {
    std::env::var(var)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

/// Request counts by (method, path template, status), from `/_emulator/stats`.
type Counts = BTreeMap<(String, String, u64), u64>;

async fn stats(http: &reqwest::Client, emu: &EmulatorHandle) -> anyhow::Result<Counts> {
    let body: Value = http
        .get(format!("http://{}/_emulator/stats", emu.addr()))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let mut counts = Counts::new();
    for r in body["requests"].as_array().into_iter().flatten() {
        let key = (
            r["method"].as_str().unwrap_or_default().to_owned(),
            r["path"].as_str().unwrap_or_default().to_owned(),
            r["status"].as_u64().unwrap_or_default(),
        );
        *counts.entry(key).or_default() += r["count"].as_u64().unwrap_or_default();
    }
    Ok(counts)
}

/// `after - before`, per key.
fn diff(after: &Counts, before: &Counts) -> Counts {
    after
        .iter()
        .map(|(k, n)| (k.clone(), n - before.get(k).copied().unwrap_or(0).min(*n)))
        .filter(|(_, n)| *n > 0)
        .collect()
}

/// Spends the server's current budget with plain list calls until it answers 429; returns how
/// many requests that took.
async fn drain_server_budget(
    http: &reqwest::Client,
    emu: &EmulatorHandle,
    cp: &str,
) -> anyhow::Result<u64> {
    let url = format!(
        "{}/control-planes/{cp}/core-entities/services?size=1",
        emu.base_url()
    );
    let token = emu.token();
    // Bounded: a budget of B admits B at once plus what refills meanwhile.
    for sent in 1..=1_000_000u64 {
        let status = http.get(&url).bearer_auth(&token).send().await?.status();
        if status.as_u16() == 429 {
            return Ok(sent);
        }
    }
    anyhow::bail!("the emulator never answered 429")
}

fn service(i: usize) -> anyhow::Result<Service> {
    let name = format!("bench-svc-{i}");
    let id = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, name.as_bytes());
    // Built from its wire form, so the bench does not depend on the Rust shape of the model.
    Ok(serde_json::from_value(json!({
        "id": id.to_string(),
        "name": name,
        "host": format!("bench-svc-{i}.bench.svc"),
        "port": 80,
        "protocol": "http",
        "tags": ["managed-by:konnect-plugin-operator", "kpo-bench"],
    }))?)
}

struct Scenario {
    title: &'static str,
    client_rpm: u32,
    drain_first: bool,
}

async fn run(n: usize, budget: u32, scenario: &Scenario) -> anyhow::Result<()> {
    println!();
    println!("-- {} --", scenario.title);
    let emu = emulator::spawn(EmulatorConfig {
        rate_limit_per_minute: Some(budget),
        ..EmulatorConfig::default()
    })
    .await?;
    let cp_id = emu
        .control_plane_id("default")
        .ok_or_else(|| anyhow::anyhow!("the emulator has no control plane \"default\""))?;
    let http = reqwest::Client::new();

    if scenario.drain_first {
        let drained = drain_server_budget(&http, &emu, &cp_id).await?;
        println!("server budget drained first with {drained} list calls (429 reached)");
    }

    let mut cfg = ClientConfig::new(ServerUrl::parse(&emu.base_url())?, Token::new(emu.token())?);
    cfg.requests_per_minute = scenario.client_rpm;
    let concurrency = cfg.max_concurrency;
    let metrics = Arc::new(InMemoryMetrics::new());
    let client = KonnectClient::with_metrics(cfg, metrics.clone())?;
    let cp = client.control_plane(cp_id.clone());
    let services = (0..n).map(service).collect::<anyhow::Result<Vec<_>>>()?;
    println!(
        "server budget B = {budget}/min, client budget {}/min, client concurrency {concurrency}, N = {n} services (physical limit N/B = {:.1} s)",
        scenario.client_rpm,
        n as f64 * 60.0 / f64::from(budget)
    );

    let before = stats(&http, &emu).await?;
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for svc in services {
        let cp = cp.clone();
        tasks.spawn(async move { cp.upsert_service(&svc).await });
    }
    let (mut errors, mut errors_429, mut panicked) = (0u64, 0u64, 0u64);
    let mut first_error = None;
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                errors += 1;
                if e.status() == Some(429) {
                    errors_429 += 1;
                }
                first_error.get_or_insert_with(|| e.to_string());
            }
            Err(_) => panicked += 1,
        }
    }
    let elapsed = start.elapsed();
    let during = diff(&stats(&http, &emu).await?, &before);

    let total: u64 = during.values().sum();
    let rate_limited: u64 = during
        .iter()
        .filter(|((_, _, status), _)| *status == 429)
        .map(|(_, c)| c)
        .sum();
    let served = total - rate_limited;
    let served_puts: u64 = during
        .iter()
        .filter(|((method, path, status), _)| {
            method == "PUT" && is_service_item(path) && (200..300).contains(status)
        })
        .map(|(_, c)| c)
        .sum();
    // Client figures before the listing below adds its own request.
    let attempts = metrics.total_requests();
    let client_429 = metrics.rate_limited_count();
    let queued = metrics.total_budget_wait();
    let stored = cp.list_all_services(None).await.map(|v| v.len() as u64);

    let minutes = elapsed.as_secs_f64() / 60.0;
    let achieved = served as f64 / minutes;
    let utilisation = achieved / f64::from(budget);
    let word = |ok: bool| if ok { "PASS" } else { "MISS" };
    println!(
        "elapsed {:.2} s (physical limit {:.2} s)",
        elapsed.as_secs_f64(),
        n as f64 * 60.0 / f64::from(budget)
    );
    println!(
        "requests seen by the server: {total} ({served} served, {rate_limited} answered 429); client attempts {attempts}, client saw {client_429} 429s; mean time a request queued for the client budget {:.2} s (all N queued at once)",
        queued.as_secs_f64() / attempts.max(1) as f64
    );
    println!(
        "achieved {achieved:.0} served requests/minute = {:.1}% of B; target >= {:.0}%: {}",
        utilisation * 100.0,
        TARGET_UTILISATION * 100.0,
        word(utilisation >= TARGET_UTILISATION)
    );
    if utilisation > 1.0 {
        println!(
            "  (above 100%: the client starts with one second's burst, B/60 requests, which an unspent server budget admits)"
        );
    }
    println!(
        "errors surfaced to callers: {errors} ({errors_429} of them 429s){}; target 0 unhandled 429: {}",
        first_error
            .map(|e| format!(", first: {e}"))
            .unwrap_or_default(),
        word(errors_429 == 0 && panicked == 0)
    );
    if panicked > 0 {
        println!("tasks that panicked: {panicked}");
    }
    match stored {
        Ok(stored) => {
            let duplicates = served_puts.saturating_sub(stored);
            println!(
                "writes: {served_puts} PUTs served for {stored} services stored (N = {n}); duplicate writes {duplicates}; target 0: {}",
                word(duplicates == 0 && stored == n as u64)
            );
        }
        Err(e) => println!(
            "writes: {served_puts} PUTs served; cannot list the stored services ({e}), duplicates unknown"
        ),
    }
    emu.shutdown().await;
    Ok(())
}

#[tokio::main]
async fn main() {
    install_crypto_provider();
    let n = env_or("KPO_BENCH_N", DEFAULT_N).max(1);
    let budget = env_or("KPO_BENCH_BUDGET", DEFAULT_BUDGET).max(1);
    println!(
        "== client_budget: bulk upsert of N entities under a budget of B requests/minute (target >= 90% of B, 0 duplicates, 0 unhandled 429) =="
    );
    let scenarios = [
        Scenario {
            title: "run 1: client budget = server budget B, fresh server",
            client_rpm: budget,
            drain_first: false,
        },
        Scenario {
            title: "run 2: client budget = 2 x B, server budget already spent (429s to absorb)",
            client_rpm: budget.saturating_mul(2),
            drain_first: true,
        },
    ];
    for scenario in &scenarios {
        if let Err(e) = run(n, budget, scenario).await {
            println!("{}: benchmark failed: {e:#}", scenario.title);
        }
    }
}
