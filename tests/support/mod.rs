//! Test support shared by the integration tests (`mod support;` in `tests/*.rs`).
//!
//! [`cluster()`] hands out one real Kubernetes control plane (etcd + kube-apiserver, built from
//! Go modules by `tests/cluster/build.sh`) per test binary. It is started on first use, on free
//! loopback ports, with its data in a fresh directory under the system temp dir, and the
//! processes die with the test binary. Set `KPO_TEST_KUBECONFIG` to a kubeconfig file to reuse a
//! running control plane instead (its current context is the admin, a context named
//! `unprivileged` the unprivileged user).
//!
//! Environment:
//! - `KPO_TESTBED_BIN`: directory holding `kube-apiserver`, `etcd`, `kubectl`, `helm`
//!   (default `${KPO_TESTBED_CACHE:-$HOME/.cache/konnect-plugin-operator/testbed}/k8s-<version>/bin`).
//! - `KPO_TESTBED_CACHE`: the cache root `tests/cluster/build.sh` builds into.
//! - `KPO_TESTBED_GATEWAY_CRDS`: directory of Gateway API CRDs (default `<bin>/../gateway-api-crds`).
//! - `KPO_TEST_KUBECONFIG`: reuse a running control plane instead of starting one.
//!
//! What does not run: no controller-manager, scheduler or kubelet, so no garbage collection, no
//! namespace deletion, no default ServiceAccounts, no Pods. Tests get a fresh namespace each from
//! [`TestCluster::namespace`] and never delete namespaces.
// Each test binary uses a different part of this module.
#![allow(dead_code, unused_imports)]

mod controlplane;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};

pub use controlplane::{bin_dir, k8s_version};

/// Name of the admin context (the default context) in the kubeconfig this module writes.
pub const ADMIN_CONTEXT: &str = "admin";
/// Name of the unprivileged context; its user is [`UNPRIVILEGED_USER`], in no group but
/// `system:authenticated`, with no RBAC bindings.
pub const UNPRIVILEGED_CONTEXT: &str = "unprivileged";
/// The unprivileged user's name (for RoleBindings and impersonation).
pub const UNPRIVILEGED_USER: &str = "kpo-test-user";

/// A running control plane and how to reach it.
pub struct TestCluster {
    kubeconfig: PathBuf,
    apiserver_url: String,
    /// Name of the unprivileged context (the admin one is the kubeconfig's current context).
    unprivileged_context: String,
    /// Directory for kubectl's discovery cache and Helm's home dirs.
    work_dir: PathBuf,
    bin_dir: PathBuf,
    /// The control plane started by this process (None when reusing one).
    started: Option<controlplane::Started>,
}

static CLUSTER: OnceLock<TestCluster> = OnceLock::new();

/// The control plane of this test binary: started on first call (or reused, see the module
/// docs), with our CRDs from `crds/` and the Gateway API CRDs installed and Established.
pub fn cluster() -> &'static TestCluster {
    CLUSTER.get_or_init(|| {
        // Startup only runs processes (no async runtime), so it is safe to call from a
        // #[tokio::test]; it blocks that test while the control plane starts.
        let cluster = match std::env::var_os("KPO_TEST_KUBECONFIG") {
            Some(path) if !path.is_empty() => TestCluster::reuse(PathBuf::from(path)),
            _ => TestCluster::start(),
        };
        cluster.install_crds();
        cluster
    })
}

impl TestCluster {
    fn start() -> TestCluster {
        let bin_dir = bin_dir();
        let started = controlplane::start(&bin_dir);
        TestCluster {
            kubeconfig: started.kubeconfig.clone(),
            apiserver_url: started.apiserver_url.clone(),
            unprivileged_context: UNPRIVILEGED_CONTEXT.to_string(),
            work_dir: started.dir.clone(),
            bin_dir,
            started: Some(started),
        }
    }

    fn reuse(kubeconfig: PathBuf) -> TestCluster {
        let kc = Kubeconfig::read_from(&kubeconfig)
            .unwrap_or_else(|e| panic!("KPO_TEST_KUBECONFIG={}: {e}", kubeconfig.display()));
        let context_name = kc.current_context.clone().unwrap_or_else(|| {
            panic!(
                "KPO_TEST_KUBECONFIG={}: no current-context",
                kubeconfig.display()
            )
        });
        let cluster_name = kc
            .contexts
            .iter()
            .find(|c| c.name == context_name)
            .and_then(|c| c.context.as_ref())
            .map(|c| c.cluster.clone())
            .unwrap_or_else(|| panic!("kubeconfig: context {context_name} not found"));
        let apiserver_url = kc
            .clusters
            .iter()
            .find(|c| c.name == cluster_name)
            .and_then(|c| c.cluster.as_ref())
            .and_then(|c| c.server.clone())
            .unwrap_or_else(|| panic!("kubeconfig: cluster {cluster_name} has no server"));
        let work_dir = controlplane::fresh_dir("kpo-testbed-reuse");
        TestCluster {
            kubeconfig,
            apiserver_url,
            unprivileged_context: UNPRIVILEGED_CONTEXT.to_string(),
            work_dir,
            bin_dir: bin_dir(),
            started: None,
        }
    }

    /// The kubeconfig file (admin is the current context; `unprivileged` the other one).
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig
    }

    /// `https://127.0.0.1:<port>`
    pub fn apiserver_url(&self) -> &str {
        &self.apiserver_url
    }

    /// The directory holding kube-apiserver, etcd, kubectl and helm.
    pub fn bin_dir(&self) -> &Path {
        &self.bin_dir
    }

    /// A scratch directory that lives as long as the cluster (under the system temp dir).
    pub fn work_dir(&self) -> &Path {
        &self.work_dir
    }

    /// Where the control plane started by this process keeps its data and logs
    /// (`etcd.log`, `kube-apiserver.log`); None when reusing one.
    pub fn data_dir(&self) -> Option<&Path> {
        self.started.as_ref().map(|s| s.dir.as_path())
    }

    /// `kubectl --kubeconfig <admin kubeconfig>`; add `--context unprivileged` for the other user.
    pub fn kubectl(&self) -> Command {
        let mut cmd = Command::new(self.bin_dir.join("kubectl"));
        cmd.arg("--kubeconfig").arg(&self.kubeconfig);
        cmd.arg("--cache-dir")
            .arg(self.work_dir.join("kubectl-cache"));
        cmd
    }

    /// `helm --kubeconfig <admin kubeconfig>`, with Helm's cache/config/data homes in the
    /// cluster's work dir (never the user's home).
    pub fn helm(&self) -> Command {
        let mut cmd = Command::new(self.bin_dir.join("helm"));
        cmd.arg("--kubeconfig").arg(&self.kubeconfig);
        let home = self.work_dir.join("helm");
        cmd.env("HELM_CACHE_HOME", home.join("cache"))
            .env("HELM_CONFIG_HOME", home.join("config"))
            .env("HELM_DATA_HOME", home.join("data"));
        cmd
    }

    /// A new admin client (system:masters). A new one per call: each #[tokio::test] has its
    /// own runtime, and a client must not outlive the runtime it was made in.
    pub async fn client(&self) -> kube::Client {
        self.client_for(None).await
    }

    /// A new client as [`UNPRIVILEGED_USER`] (no RBAC bindings unless a test adds them).
    pub async fn unprivileged_client(&self) -> kube::Client {
        self.client_for(Some(self.unprivileged_context.clone()))
            .await
    }

    async fn client_for(&self, context: Option<String>) -> kube::Client {
        let kc = Kubeconfig::read_from(&self.kubeconfig)
            .unwrap_or_else(|e| panic!("reading {}: {e}", self.kubeconfig.display()));
        let options = KubeConfigOptions {
            context,
            ..Default::default()
        };
        let config = kube::Config::from_custom_kubeconfig(kc, &options)
            .await
            .unwrap_or_else(|e| panic!("kubeconfig {}: {e}", self.kubeconfig.display()));
        kube::Client::try_from(config).expect("building kube client")
    }

    /// Creates a fresh namespace `<prefix>-<random>` and returns its name. Namespaces are
    /// never deleted (there is no namespace controller).
    pub async fn namespace(&self, prefix: &str) -> String {
        let name = unique_name(prefix);
        let api: Api<Namespace> = Api::all(self.client().await);
        let ns = Namespace {
            metadata: kube::api::ObjectMeta {
                name: Some(name.clone()),
                labels: Some(
                    [("kpo-test".to_string(), "true".to_string())]
                        .into_iter()
                        .collect(),
                ),
                ..Default::default()
            },
            ..Default::default()
        };
        api.create(&PostParams::default(), &ns)
            .await
            .unwrap_or_else(|e| panic!("creating namespace {name}: {e}"));
        name
    }

    /// Applies `crds/*.yaml` of this repository (if any) and the Gateway API CRDs with
    /// server-side apply, then waits until every CRD is Established.
    fn install_crds(&self) {
        let mut files = repo_crd_files();
        let gateway = controlplane::gateway_crds_dir(&self.bin_dir);
        let gateway_files = controlplane::crd_files(&gateway);
        if gateway_files.is_empty() {
            panic!(
                "no Gateway API CRDs in {}: run tests/cluster/build.sh (or set KPO_TESTBED_GATEWAY_CRDS)",
                gateway.display()
            );
        }
        files.extend(gateway_files);
        let mut apply = self.kubectl();
        apply.args([
            "apply",
            "--server-side",
            "--force-conflicts",
            "--field-manager=kpo-testbed",
        ]);
        for f in &files {
            apply.arg("-f").arg(f);
        }
        controlplane::run(&mut apply, "installing CRDs");
        let mut wait = self.kubectl();
        wait.args([
            "wait",
            "--for=condition=Established",
            "--timeout=120s",
            "crd",
            "--all",
        ]);
        controlplane::run(&mut wait, "waiting for CRDs to be Established");
    }
}

/// The CRD manifests of this repository (`crds/*.yaml`); none while that directory is empty.
pub fn repo_crd_files() -> Vec<PathBuf> {
    controlplane::crd_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("crds"))
}

/// `<prefix>-<8 random hex>`, made a valid DNS label (lowercase, at most 63 characters).
pub fn unique_name(prefix: &str) -> String {
    let mut p: String = prefix
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    p.truncate(54);
    let p = p.trim_matches('-');
    let p = if p.is_empty() { "test" } else { p };
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    format!("{p}-{}", &suffix[..8])
}

/// Runs `kubectl --namespace <ns> <args>` on the test cluster with `stdin` as its input.
pub fn kubectl_with_stdin(ns: &str, args: &[&str], stdin: &str) -> std::process::Output {
    use std::io::Write as _;
    use std::process::Stdio;
    let mut child = cluster()
        .kubectl()
        .args(["--namespace", ns])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl starts");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("kubectl finishes")
}

/// A finished command's stdout then stderr, as text.
pub fn output_text(output: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The admin kubeconfig with every user impersonating `user`, written in `dir`: what the API
/// server decides for requests made with it is what it decides for that identity.
pub fn impersonating_kubeconfig(dir: &Path, user: &str) -> PathBuf {
    let admin = std::fs::read_to_string(cluster().kubeconfig_path()).expect("kubeconfig");
    let mut kc: serde_json::Value = serde_norway::from_str(&admin).expect("kubeconfig YAML");
    for u in kc["users"].as_array_mut().expect("users") {
        u["user"]["as"] = serde_json::Value::String(user.to_string());
    }
    let path = dir.join(format!("kubeconfig-{}", unique_name("as")));
    std::fs::write(&path, serde_norway::to_string(&kc).expect("YAML")).expect("write");
    path
}
