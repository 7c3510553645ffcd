//! Starting etcd and kube-apiserver (the flags envtest passes; see docs/testing.md).
//!
//! Each process runs under a small `sh` watchdog that kills it (TERM, then KILL) as soon as the
//! test binary's pid is gone, so nothing outlives the test binary, whatever way it ends.

use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const VERSIONS_ENV: &str = include_str!("../cluster/versions.env");

/// The Kubernetes version `tests/cluster/build.sh` builds (from `tests/cluster/versions.env`).
pub fn k8s_version() -> &'static str {
    VERSIONS_ENV
        .lines()
        .find_map(|l| l.trim().strip_prefix("K8S_VERSION="))
        .map(str::trim)
        .expect("K8S_VERSION in tests/cluster/versions.env")
}

/// The directory with kube-apiserver, etcd, kubectl and helm; panics with what to do if missing.
pub fn bin_dir() -> PathBuf {
    let dir = match std::env::var_os("KPO_TESTBED_BIN") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => {
            let cache = match std::env::var_os("KPO_TESTBED_CACHE") {
                Some(c) if !c.is_empty() => PathBuf::from(c),
                _ => {
                    let home = std::env::var_os("HOME").expect("HOME is not set");
                    PathBuf::from(home).join(".cache/konnect-plugin-operator/testbed")
                }
            };
            cache.join(format!("k8s-{}", k8s_version())).join("bin")
        }
    };
    let missing: Vec<&str> = ["kube-apiserver", "etcd", "kubectl", "helm"]
        .into_iter()
        .filter(|b| !dir.join(b).is_file())
        .collect();
    if !missing.is_empty() {
        panic!(
            "test control plane binaries missing in {}: {}. Build them with `tests/cluster/build.sh` \
             (cold: ~15-25 min on 2 cores; then cached outside the clone), or point KPO_TESTBED_BIN at \
             a directory that has them.",
            dir.display(),
            missing.join(", ")
        );
    }
    dir
}

/// Directory of the Gateway API CRDs: `KPO_TESTBED_GATEWAY_CRDS`, else `<bin>/../gateway-api-crds`.
pub fn gateway_crds_dir(bin_dir: &Path) -> PathBuf {
    match std::env::var_os("KPO_TESTBED_GATEWAY_CRDS") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => bin_dir.parent().unwrap_or(bin_dir).join("gateway-api-crds"),
    }
}

/// The `*.yaml`/`*.yml`/`*.json` files of `dir` (sorted) that hold a CustomResourceDefinition.
/// A missing or empty directory yields none.
pub fn crd_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && matches!(
                    p.extension().and_then(|e| e.to_str()),
                    Some("yaml" | "yml" | "json")
                )
                && std::fs::read_to_string(p).is_ok_and(|s| s.contains("CustomResourceDefinition"))
        })
        .collect();
    files.sort();
    files
}

/// A fresh directory `<tmp>/<prefix>-<pid>-<random>` (left behind on purpose).
pub fn fresh_dir(prefix: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "{prefix}-{}-{}",
        std::process::id(),
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    ));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
    dir
}

/// Runs a command to completion; panics with its output when it fails.
pub fn run(cmd: &mut Command, what: &str) -> String {
    match try_run(cmd) {
        Ok(out) => out,
        Err(e) => panic!("{what}: {e}"),
    }
}

fn try_run(cmd: &mut Command) -> Result<String, String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("spawning {:?}: {e}", cmd.get_program()))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{cmd:?} exited with {}\nstdout:\n{}\nstderr:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// A control plane started by this process.
pub struct Started {
    pub dir: PathBuf,
    pub kubeconfig: PathBuf,
    pub apiserver_url: String,
    pub etcd_url: String,
    /// pids of the watchdog shells (each the parent of one control-plane process).
    pub watchdog_pids: Vec<u32>,
}

/// Starts etcd and kube-apiserver; a few tries, since a free port can be taken in between.
pub fn start(bin_dir: &Path) -> Started {
    let t0 = Instant::now();
    let mut last = String::new();
    for attempt in 1..=3 {
        match try_start(bin_dir) {
            Ok(s) => {
                eprintln!(
                    "[testbed] kube-apiserver {} ready at {} in {:.1}s (data and logs in {})",
                    k8s_version(),
                    s.apiserver_url,
                    t0.elapsed().as_secs_f64(),
                    s.dir.display()
                );
                return s;
            }
            Err(e) => {
                eprintln!("[testbed] start attempt {attempt} failed: {e}");
                last = e;
            }
        }
    }
    panic!("could not start the test control plane: {last}");
}

// Runs "$@" with output to $log; when the pid $parent is gone, TERMs it and KILLs it 2s later
// (the data is throwaway); exits when it exits.
const WATCHDOG: &str = r#"parent=$1; log=$2; shift 2
"$@" </dev/null >>"$log" 2>&1 &
child=$!
trap 'kill -TERM "$child" 2>/dev/null' TERM INT HUP
while kill -0 "$parent" 2>/dev/null && kill -0 "$child" 2>/dev/null; do sleep 1; done
kill -TERM "$child" 2>/dev/null
i=0; while kill -0 "$child" 2>/dev/null && [ "$i" -lt 4 ]; do sleep 0.5; i=$((i+1)); done
kill -KILL "$child" 2>/dev/null
wait "$child"
"#;

fn spawn_watched(bin: &Path, args: &[String], log: &Path) -> Result<Child, String> {
    Command::new("sh")
        .arg("-c")
        .arg(WATCHDOG)
        .arg("kpo-testbed-watchdog")
        .arg(std::process::id().to_string())
        .arg(log)
        .arg(bin)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("spawning {}: {e}", bin.display()))
}

fn free_ports<const N: usize>() -> [u16; N] {
    // Hold all listeners at once so the ports differ.
    let listeners: Vec<TcpListener> = (0..N)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("binding a free loopback port"))
        .collect();
    std::array::from_fn(|i| listeners[i].local_addr().unwrap().port())
}

fn log_tail(path: &Path) -> String {
    let mut s = String::new();
    if let Ok(mut f) = std::fs::File::open(path) {
        let _ = f.read_to_string(&mut s);
    }
    let lines: Vec<&str> = s.lines().collect();
    let from = lines.len().saturating_sub(40);
    format!(
        "last lines of {}:\n{}",
        path.display(),
        lines[from..].join("\n")
    )
}

fn openssl(dir: &Path, args: &[&str]) -> Result<(), String> {
    try_run(Command::new("openssl").current_dir(dir).args(args))
        .map(|_| ())
        .map_err(|e| {
            format!("{e}\n(the test control plane needs the `openssl` command to make its keys)")
        })
}

/// CA, apiserver serving cert (127.0.0.1/localhost) and service-account key pair.
fn make_pki(dir: &Path) -> Result<(), String> {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "3650",
            "-subj",
            "/CN=kpo-testbed-ca",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    )?;
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "apiserver.key",
            "-out",
            "apiserver.csr",
            "-subj",
            "/CN=kube-apiserver",
        ],
    )?;
    std::fs::write(
        dir.join("apiserver-ext.cnf"),
        "basicConstraints=CA:FALSE\n\
         keyUsage=critical,digitalSignature,keyEncipherment\n\
         extendedKeyUsage=serverAuth\n\
         subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc\n",
    )
    .map_err(|e| e.to_string())?;
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "apiserver.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "apiserver.crt",
            "-days",
            "3650",
            "-extfile",
            "apiserver-ext.cnf",
        ],
    )?;
    openssl(
        dir,
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            "sa.key",
        ],
    )?;
    openssl(dir, &["pkey", "-in", "sa.key", "-pubout", "-out", "sa.pub"])?;
    Ok(())
}

fn wait_tcp(
    addr: SocketAddr,
    watchdog: &mut Child,
    log: &Path,
    timeout: Duration,
) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    loop {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        if let Ok(Some(status)) = watchdog.try_wait() {
            return Err(format!(
                "process exited ({status}) before listening on {addr}\n{}",
                log_tail(log)
            ));
        }
        if Instant::now() > deadline {
            return Err(format!(
                "nothing listening on {addr} after {timeout:?}\n{}",
                log_tail(log)
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn try_start(bin_dir: &Path) -> Result<Started, String> {
    let mut watchdogs: Vec<Child> = Vec::new();
    let result = try_start_inner(bin_dir, &mut watchdogs);
    if result.is_err() {
        // Stop what this attempt started: TERM the watchdogs, whose trap TERMs their process.
        for w in &mut watchdogs {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(w.id().to_string())
                .status();
            let _ = w.wait();
        }
    }
    result
}

fn try_start_inner(bin_dir: &Path, watchdogs: &mut Vec<Child>) -> Result<Started, String> {
    let dir = fresh_dir("kpo-testbed");
    let p = |name: &str| dir.join(name).to_string_lossy().into_owned();
    make_pki(&dir)?;

    let admin_token = uuid::Uuid::new_v4().simple().to_string();
    let user_token = uuid::Uuid::new_v4().simple().to_string();
    std::fs::write(
        dir.join("tokens.csv"),
        format!(
            "{admin_token},admin,kpo-testbed-admin,\"system:masters\"\n\
             {user_token},{user},kpo-testbed-{user}\n",
            user = super::UNPRIVILEGED_USER
        ),
    )
    .map_err(|e| e.to_string())?;

    let [etcd_port, peer_port, api_port] = free_ports::<3>();
    let etcd_url = format!("http://127.0.0.1:{etcd_port}");
    let peer_url = format!("http://127.0.0.1:{peer_port}");
    let apiserver_url = format!("https://127.0.0.1:{api_port}");

    // etcd
    let etcd_log = dir.join("etcd.log");
    let etcd_args: Vec<String> = vec![
        format!("--data-dir={}", p("etcd-data")),
        "--name=default".into(),
        format!("--listen-client-urls={etcd_url}"),
        format!("--advertise-client-urls={etcd_url}"),
        format!("--listen-peer-urls={peer_url}"),
        format!("--initial-advertise-peer-urls={peer_url}"),
        format!("--initial-cluster=default={peer_url}"),
        "--unsafe-no-fsync=true".into(),
        "--log-level=warn".into(),
    ];
    watchdogs.push(spawn_watched(&bin_dir.join("etcd"), &etcd_args, &etcd_log)?);
    wait_tcp(
        ([127, 0, 0, 1], etcd_port).into(),
        &mut watchdogs[0],
        &etcd_log,
        Duration::from_secs(30),
    )?;

    // kube-apiserver
    let api_log = dir.join("kube-apiserver.log");
    let api_args: Vec<String> = vec![
        format!("--etcd-servers={etcd_url}"),
        format!("--cert-dir={}", p("apiserver-certs")),
        format!("--tls-cert-file={}", p("apiserver.crt")),
        format!("--tls-private-key-file={}", p("apiserver.key")),
        format!("--secure-port={api_port}"),
        "--bind-address=127.0.0.1".into(),
        "--advertise-address=127.0.0.1".into(),
        "--service-cluster-ip-range=10.0.0.0/24".into(),
        "--allow-privileged=true".into(),
        "--disable-admission-plugins=ServiceAccount".into(),
        "--authorization-mode=RBAC".into(),
        format!("--service-account-issuer={apiserver_url}"),
        format!("--service-account-key-file={}", p("sa.pub")),
        format!("--service-account-signing-key-file={}", p("sa.key")),
        format!("--token-auth-file={}", p("tokens.csv")),
    ];
    watchdogs.push(spawn_watched(
        &bin_dir.join("kube-apiserver"),
        &api_args,
        &api_log,
    )?);

    // kubeconfig (JSON is YAML): admin is the current context, then `unprivileged`.
    let kubeconfig = dir.join("kubeconfig");
    let kc = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": super::ADMIN_CONTEXT,
        "clusters": [{
            "name": "kpo-testbed",
            "cluster": { "server": apiserver_url, "certificate-authority": p("ca.crt") }
        }],
        "users": [
            { "name": "admin", "user": { "token": admin_token } },
            { "name": super::UNPRIVILEGED_USER, "user": { "token": user_token } }
        ],
        "contexts": [
            { "name": super::ADMIN_CONTEXT,
              "context": { "cluster": "kpo-testbed", "user": "admin", "namespace": "default" } },
            { "name": super::UNPRIVILEGED_CONTEXT,
              "context": { "cluster": "kpo-testbed", "user": super::UNPRIVILEGED_USER, "namespace": "default" } }
        ]
    });
    std::fs::write(&kubeconfig, serde_json::to_string_pretty(&kc).unwrap())
        .map_err(|e| e.to_string())?;

    // Wait for /readyz.
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        if let Ok(Some(status)) = watchdogs[1].try_wait() {
            return Err(format!(
                "kube-apiserver exited ({status})\n{}",
                log_tail(&api_log)
            ));
        }
        if let Ok(Some(status)) = watchdogs[0].try_wait() {
            return Err(format!("etcd exited ({status})\n{}", log_tail(&etcd_log)));
        }
        let out = Command::new(bin_dir.join("kubectl"))
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .arg("--request-timeout=5s")
            .arg("get")
            .arg("--raw=/readyz")
            .stdin(Stdio::null())
            .output();
        let last = match out {
            Ok(o) if o.status.success() && String::from_utf8_lossy(&o.stdout).trim() == "ok" => {
                break;
            }
            Ok(o) => String::from_utf8_lossy(&o.stderr).into_owned(),
            Err(e) => e.to_string(),
        };
        if Instant::now() > deadline {
            return Err(format!(
                "kube-apiserver not ready after 180s: {last}\n{}",
                log_tail(&api_log)
            ));
        }
        std::thread::sleep(Duration::from_millis(250));
    }

    let watchdog_pids = watchdogs.iter().map(Child::id).collect();
    Ok(Started {
        dir,
        kubeconfig,
        apiserver_url,
        etcd_url,
        watchdog_pids,
    })
}
