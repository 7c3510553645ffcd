//! Benchmark: translating a ~10k-object cluster snapshot (target: < 50 ms per translation).
//!
//! Builds a realistic snapshot in memory — Services annotated with plugins, KongPlugins
//! (rate-limiting / key-auth / cors, some configured from Secrets), Ingresses with routes,
//! KongConsumers in KongConsumerGroups, global KongClusterPlugins — by writing manifests as
//! YAML and loading them through `manifest::load_str`, exactly as `render` reads files. Then it
//! times `translate::translate` (the public entry point, embedded schema registry included)
//! and `translate_with_schemas` (registry built once) after a warm-up.
//!
//! Informational: it prints figures and a PASS/MISS word, and always exits 0 (the project
//! keeps performance claims in benchmarks, never in timed test assertions).
//!
//! `cargo bench --bench translate`; `KPO_BENCH_ITERS` (default 20) sets the measured
//! iterations.

use std::fmt::Write as _;
use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use konnect_plugin_operator::manifest::{self, Loaded};
use konnect_plugin_operator::schema::Registry;
use konnect_plugin_operator::translate::{
    self, DesiredState, Status, TranslateOptions, translate_with_schemas,
};

/// Object counts: about 10,000 objects in all.
const NAMESPACES: usize = 50;
const SERVICES: usize = 3_000;
/// One KongPlugin per Service (`p-<i>`); every 25th is configured from a Secret.
const SERVICE_PLUGINS: usize = SERVICES;
const CONFIG_FROM_EVERY: usize = 25;
const INGRESSES: usize = 2_500;
const CONSUMERS: usize = 1_250;
/// Consumer groups per namespace.
const GROUPS_PER_NAMESPACE: usize = 2;
/// A quarter of the consumers (in every namespace) carry the namespace's `consumer-rl` plugin.
const CONSUMER_PLUGIN_EVERY: usize = 4;

const WARMUP: usize = 3;
const DEFAULT_ITERS: usize = 20;
const TARGET: Duration = Duration::from_millis(50);

fn ns(i: usize) -> String {
    format!("team-{:02}", i % NAMESPACES)
}

/// The inline (JSON, hence also YAML) configuration of service plugin `i`, and its plugin name.
fn plugin_config(i: usize) -> (&'static str, String) {
    match i % 3 {
        0 => (
            "rate-limiting",
            format!(
                r#"{{"minute": {}, "hour": {}, "policy": "local", "limit_by": "consumer"}}"#,
                60 + i % 100,
                1000 + i
            ),
        ),
        1 => (
            "key-auth",
            r#"{"key_names": ["apikey", "x-api-key"], "hide_credentials": true}"#.to_owned(),
        ),
        _ => (
            "cors",
            format!(
                r#"{{"origins": ["https://app-{i}.example.com", "https://admin.example.com"], "methods": ["GET", "POST", "OPTIONS"], "headers": ["Authorization", "Content-Type"], "credentials": true, "max_age": 3600}}"#
            ),
        ),
    }
}

/// Every document of the snapshot, one YAML text each.
fn documents() -> Vec<String> {
    let mut docs = Vec::new();
    for i in 0..SERVICES {
        let mut extra = String::new();
        if i.is_multiple_of(10) {
            extra.push_str(
                "    konghq.com/protocol: http\n    konghq.com/read-timeout: \"30000\"\n",
            );
        }
        docs.push(format!(
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: svc-{i}\n  namespace: {ns}\n  uid: 00000000-0000-4000-8000-{i:012}\n  annotations:\n    konghq.com/plugins: p-{i}\n{extra}spec:\n  selector: {{app: svc-{i}}}\n  ports:\n  - name: http\n    port: 80\n    targetPort: 8080\n",
            ns = ns(i)
        ));
    }
    for i in 0..SERVICE_PLUGINS {
        let (plugin, config) = plugin_config(i);
        if i.is_multiple_of(CONFIG_FROM_EVERY) {
            docs.push(format!(
                "apiVersion: v1\nkind: Secret\nmetadata:\n  name: p-{i}-config\n  namespace: {ns}\ntype: Opaque\nstringData:\n  config: '{config}'\n",
                ns = ns(i)
            ));
            docs.push(format!(
                "apiVersion: configuration.konghq.com/v1\nkind: KongPlugin\nmetadata:\n  name: p-{i}\n  namespace: {ns}\nplugin: {plugin}\nconfigFrom:\n  secretKeyRef:\n    name: p-{i}-config\n    key: config\n",
                ns = ns(i)
            ));
        } else {
            docs.push(format!(
                "apiVersion: configuration.konghq.com/v1\nkind: KongPlugin\nmetadata:\n  name: p-{i}\n  namespace: {ns}\nplugin: {plugin}\nconfig: {config}\n",
                ns = ns(i)
            ));
        }
    }
    for n in 0..NAMESPACES {
        docs.push(format!(
            "apiVersion: configuration.konghq.com/v1\nkind: KongPlugin\nmetadata:\n  name: consumer-rl\n  namespace: {ns}\nplugin: rate-limiting\nconfig: {{minute: 30, policy: local}}\n",
            ns = ns(n)
        ));
        for g in 0..GROUPS_PER_NAMESPACE {
            docs.push(format!(
                "apiVersion: configuration.konghq.com/v1beta1\nkind: KongConsumerGroup\nmetadata:\n  name: grp-{n}-{g}\n  namespace: {ns}\n  annotations:\n    kubernetes.io/ingress.class: kong\n",
                ns = ns(n)
            ));
        }
    }
    for j in 0..INGRESSES {
        // Ingress j routes to svc-j (same namespace) and carries the plugin of another Service
        // of its namespace, so plugins are shared between a service and a route.
        let plugin = (j + NAMESPACES) % SERVICE_PLUGINS;
        docs.push(format!(
            "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: ing-{j}\n  namespace: {ns}\n  annotations:\n    konghq.com/plugins: p-{plugin}\n    konghq.com/strip-path: \"true\"\nspec:\n  ingressClassName: kong\n  rules:\n  - host: app-{j}.example.com\n    http:\n      paths:\n      - path: /api\n        pathType: Prefix\n        backend:\n          service:\n            name: svc-{j}\n            port:\n              number: 80\n      - path: /healthz\n        pathType: Exact\n        backend:\n          service:\n            name: svc-{j}\n            port:\n              number: 80\n",
            ns = ns(j)
        ));
    }
    for c in 0..CONSUMERS {
        let n = c % NAMESPACES;
        let group = (c / NAMESPACES) % GROUPS_PER_NAMESPACE;
        let plugins = if (c / NAMESPACES).is_multiple_of(CONSUMER_PLUGIN_EVERY) {
            "    konghq.com/plugins: consumer-rl\n"
        } else {
            ""
        };
        docs.push(format!(
            "apiVersion: configuration.konghq.com/v1\nkind: KongConsumer\nmetadata:\n  name: user-{c}\n  namespace: {ns}\n  annotations:\n    kubernetes.io/ingress.class: kong\n{plugins}username: user-{c}\ncustom_id: cid-{c:06}\nconsumerGroups:\n- grp-{n}-{group}\n",
            ns = ns(n)
        ));
    }
    for (name, plugin, config) in [
        (
            "correlation-id",
            "correlation-id",
            "{header_name: X-Request-ID, generator: uuid#counter, echo_downstream: true}",
        ),
        (
            "add-cluster-header",
            "request-transformer",
            "{add: {headers: ['x-cluster:bench']}}",
        ),
        (
            "strip-server-header",
            "response-transformer",
            "{remove: {headers: [server]}}",
        ),
    ] {
        docs.push(format!(
            "apiVersion: configuration.konghq.com/v1\nkind: KongClusterPlugin\nmetadata:\n  name: {name}\n  annotations:\n    kubernetes.io/ingress.class: kong\n  labels:\n    global: \"true\"\nplugin: {plugin}\nconfig: {config}\n"
        ));
    }
    docs
}

/// `VmHWM` (peak resident set) and `VmRSS` of this process in KiB, from /proc/self/status.
fn memory_kib() -> Option<(u64, u64)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| {
                rest.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
    };
    Some((field("VmHWM:")?, field("VmRSS:")?))
}

fn print_memory(when: &str) {
    match memory_kib() {
        Some((hwm, rss)) => println!(
            "memory {when}: peak RSS (VmHWM) {:.1} MiB, current RSS {:.1} MiB",
            hwm as f64 / 1024.0,
            rss as f64 / 1024.0
        ),
        None => println!("memory {when}: /proc/self/status unavailable"),
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Min, median and p95 (nearest rank) of the samples, which must not be empty.
fn summary(samples: &mut [Duration]) -> (Duration, Duration, Duration) {
    samples.sort();
    let n = samples.len();
    let rank = |q: f64| {
        let r = (q * n as f64).ceil() as usize;
        samples[r.clamp(1, n) - 1]
    };
    (samples[0], rank(0.5), rank(0.95))
}

fn time(iters: usize, mut f: impl FnMut() -> DesiredState) -> Vec<Duration> {
    for _ in 0..WARMUP {
        black_box(f());
    }
    (0..iters)
        .map(|_| {
            let start = Instant::now();
            let state = f();
            let elapsed = start.elapsed();
            // Dropping the result is part of the caller's cost, but not of translation's.
            drop(black_box(state));
            elapsed
        })
        .collect()
}

fn report(label: &str, samples: &mut [Duration]) {
    let (min, median, p95) = summary(samples);
    let verdict = if median < TARGET { "PASS" } else { "MISS" };
    println!(
        "{label}: min {:.2} ms, median {:.2} ms, p95 {:.2} ms over {} runs; target median < {} ms: {verdict}",
        ms(min),
        ms(median),
        ms(p95),
        samples.len(),
        TARGET.as_millis()
    );
}

fn main() {
    let iters = std::env::var("KPO_BENCH_ITERS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(DEFAULT_ITERS);
    println!("== translate: 10k-object snapshot (target < 50 ms per translation) ==");
    // Translation spreads its costliest loops over the cores (translate::par): say how many.
    println!(
        "cores available: {}",
        std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
    );
    print_memory("at start");

    let build = Instant::now();
    let mut loaded = Loaded::default();
    for (index, doc) in documents().iter().enumerate() {
        if let Err(e) = manifest::load_str(doc, Path::new("bench.yaml"), &mut loaded) {
            println!("generated document {index} does not load: {e}; benchmark aborted");
            return;
        }
    }
    let snapshot = loaded.snapshot;
    println!(
        "snapshot: {} objects ({} Services, {} KongPlugins, {} KongClusterPlugins, {} Ingresses, {} KongConsumers, {} KongConsumerGroups, {} Secrets, {} malformed), loaded via manifest::load_str in {:.0} ms",
        snapshot.len(),
        snapshot.services.len(),
        snapshot.kong_plugins.len(),
        snapshot.kong_cluster_plugins.len(),
        snapshot.ingresses.len(),
        snapshot.kong_consumers.len(),
        snapshot.kong_consumer_groups.len(),
        snapshot.secrets.len(),
        snapshot.malformed.len(),
        ms(build.elapsed())
    );
    print_memory("after building the snapshot");

    let opts = TranslateOptions::default();
    let state = translate::translate(&snapshot, &opts);
    let (mut accepted, mut invalid, mut pending) = (0usize, 0usize, 0usize);
    let mut problems = String::new();
    for r in &state.results {
        match r.status {
            Status::Accepted => accepted += 1,
            Status::Invalid { .. } => invalid += 1,
            Status::Pending { .. } => pending += 1,
        }
        if !matches!(r.status, Status::Accepted) && problems.lines().count() < 5 {
            let _ = writeln!(problems, "  not accepted: {}", r.message);
        }
    }
    println!(
        "entities out: {} ({} services, {} routes, {} consumers, {} consumer groups, {} memberships, {} plugins; {} Secret-derived values)",
        state.entity_count(),
        state.services.len(),
        state.routes.len(),
        state.consumers.len(),
        state.consumer_groups.len(),
        state.memberships.len(),
        state.plugins.len(),
        state.secret_value_count()
    );
    println!("object results: {accepted} Accepted, {invalid} Invalid, {pending} Pending");
    print!("{problems}");
    drop(state);

    let mut full = time(iters, || translate::translate(&snapshot, &opts));
    report("translate (embedded registry per call)", &mut full);
    let registry = Registry::embedded();
    let mut shared = time(iters, || {
        translate_with_schemas(&snapshot, &opts, &registry)
    });
    report("translate_with_schemas (registry built once)", &mut shared);
    print_memory("after translating");
}
