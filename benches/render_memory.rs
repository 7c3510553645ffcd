//! Benchmark: peak RSS of `render` over 10k Services + 10k KongPlugins + 1k KongConsumers
//! (target: under 100 MiB, issue 8).
//!
//! Writes the manifests as YAML files into a temporary directory (Services in 50 namespaces,
//! each annotated `konghq.com/plugins: p-<i>`; one KongPlugin `p-<i>` per Service, mostly
//! rate-limiting with a small config; 1,000 KongConsumers in two KongConsumerGroups per
//! namespace, a quarter of them with a plugin), then runs the real binary
//! `konnect-plugin-operator render -o json|yaml -f <dir>` with stdout to `/dev/null` and
//! prints the child's peak resident set, read with `wait4` (the kernel's `ru_maxrss` of that
//! child, so nothing is sampled and no peak is missed).
//!
//! Informational: it prints figures and a PASS/MISS word, and always exits 0 (the project
//! keeps performance claims in benchmarks, never in timed test assertions).
//!
//! `cargo bench --bench render_memory`. `KPO_BENCH_DIR=<dir>` writes the manifests there (and
//! keeps them) instead of a temporary directory, e.g. to compare outputs across changes.

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

const NAMESPACES: usize = 50;
const SERVICES: usize = 10_000;
const CONSUMERS: usize = 1_000;
const GROUPS_PER_NAMESPACE: usize = 2;
/// A quarter of the consumers carry their namespace's `consumer-rl` plugin.
const CONSUMER_PLUGIN_EVERY: usize = 4;
/// Documents per file: the manifests come as many files of moderate size, as in a repository.
const DOCS_PER_FILE: usize = 1_000;
const TARGET_MIB: f64 = 100.0;

fn ns(i: usize) -> String {
    format!("team-{:02}", i % NAMESPACES)
}

/// The manifests, as (file name, YAML text) pairs.
fn files() -> Vec<(String, String)> {
    let mut files = Vec::new();
    let mut chunked = |prefix: &str, docs: Vec<String>| {
        for (n, chunk) in docs.chunks(DOCS_PER_FILE).enumerate() {
            files.push((format!("{prefix}-{n:02}.yaml"), chunk.join("---\n")));
        }
    };
    chunked(
        "services",
        (0..SERVICES)
            .map(|i| {
                format!(
                    "apiVersion: v1\nkind: Service\nmetadata:\n  name: svc-{i}\n  namespace: {ns}\n  uid: 00000000-0000-4000-8000-{i:012}\n  annotations:\n    konghq.com/plugins: p-{i}\nspec:\n  selector:\n    app: svc-{i}\n  ports:\n  - name: http\n    port: 80\n    targetPort: 8080\n",
                    ns = ns(i)
                )
            })
            .collect(),
    );
    chunked(
        "plugins",
        (0..SERVICES)
            .map(|i| {
                let body = if i % 10 == 9 {
                    "plugin: cors\nconfig:\n  origins:\n  - https://app.example.com\n  methods: [GET, POST]\n  max_age: 3600\n".to_owned()
                } else {
                    format!(
                        "plugin: rate-limiting\nconfig:\n  minute: {}\n  hour: {}\n  policy: local\n  limit_by: consumer\n",
                        60 + i % 100,
                        1000 + i
                    )
                };
                format!(
                    "apiVersion: configuration.konghq.com/v1\nkind: KongPlugin\nmetadata:\n  name: p-{i}\n  namespace: {ns}\n{body}",
                    ns = ns(i)
                )
            })
            .collect(),
    );
    let mut groups = Vec::new();
    for n in 0..NAMESPACES {
        groups.push(format!(
            "apiVersion: configuration.konghq.com/v1\nkind: KongPlugin\nmetadata:\n  name: consumer-rl\n  namespace: {ns}\nplugin: rate-limiting\nconfig:\n  minute: 30\n  policy: local\n",
            ns = ns(n)
        ));
        for g in 0..GROUPS_PER_NAMESPACE {
            groups.push(format!(
                "apiVersion: configuration.konghq.com/v1beta1\nkind: KongConsumerGroup\nmetadata:\n  name: grp-{n}-{g}\n  namespace: {ns}\n  annotations:\n    kubernetes.io/ingress.class: kong\n",
                ns = ns(n)
            ));
        }
    }
    chunked("groups", groups);
    chunked(
        "consumers",
        (0..CONSUMERS)
            .map(|c| {
                let n = c % NAMESPACES;
                let group = (c / NAMESPACES) % GROUPS_PER_NAMESPACE;
                let mut annotations = String::from("    kubernetes.io/ingress.class: kong\n");
                if (c / NAMESPACES).is_multiple_of(CONSUMER_PLUGIN_EVERY) {
                    annotations.push_str("    konghq.com/plugins: consumer-rl\n");
                }
                format!(
                    "apiVersion: configuration.konghq.com/v1\nkind: KongConsumer\nmetadata:\n  name: user-{c}\n  namespace: {ns}\n  annotations:\n{annotations}username: user-{c}\ncustom_id: cid-{c:06}\nconsumerGroups:\n- grp-{n}-{group}\n",
                    ns = ns(n)
                )
            })
            .collect(),
    );
    files
}

/// Runs the binary with `args`, stdout to /dev/null, and returns its exit code and peak RSS
/// in KiB (`ru_maxrss` of exactly this child, from `wait4`).
fn run(args: &[&str]) -> std::io::Result<(i32, u64)> {
    let child = Command::new(env!("CARGO_BIN_EXE_konnect-plugin-operator"))
        .args(args)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: zeroed is a valid `rusage`; both pointers outlive the call.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: `pid` is our child, not yet reaped (`child` is never waited on).
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if r == pid {
            break;
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
    drop(child);
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    // Linux reports ru_maxrss in KiB.
    Ok((code, usage.ru_maxrss as u64))
}

fn main() {
    let kept = std::env::var_os("KPO_BENCH_DIR");
    let temp;
    let dir: &Path = match &kept {
        Some(d) => Path::new(d),
        None => {
            temp = match tempfile::tempdir() {
                Ok(t) => t,
                Err(e) => {
                    println!("render_memory: cannot create a temporary directory: {e}");
                    return;
                }
            };
            temp.path()
        }
    };
    let mut bytes = 0usize;
    for (name, text) in files() {
        bytes += text.len();
        if let Err(e) =
            std::fs::create_dir_all(dir).and_then(|()| std::fs::write(dir.join(&name), text))
        {
            println!("render_memory: writing {name}: {e}");
            return;
        }
    }
    println!(
        "render_memory: {SERVICES} Services + {SERVICES} KongPlugins (+{NAMESPACES} for consumers) + {CONSUMERS} KongConsumers, {:.1} MiB of YAML in {}",
        bytes as f64 / (1024.0 * 1024.0),
        dir.display()
    );
    let dir_arg = dir.to_string_lossy().into_owned();
    let mut summary = String::new();
    for format in ["json", "yaml"] {
        match run(&["render", "-o", format, "-f", &dir_arg]) {
            Ok((code, kib)) => {
                let mib = kib as f64 / 1024.0;
                let word = if mib < TARGET_MIB { "PASS" } else { "MISS" };
                let _ = writeln!(
                    summary,
                    "  render -o {format}: peak RSS {mib:.1} MiB (exit {code}) [{word}] (target < {TARGET_MIB} MiB)"
                );
            }
            Err(e) => {
                let _ = writeln!(summary, "  render -o {format}: could not run: {e}");
            }
        }
    }
    print!("{summary}");
}
