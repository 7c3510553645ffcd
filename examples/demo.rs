//! The one-command demo: a local Kubernetes control plane (etcd + kube-apiserver built from Go
//! modules by tests/cluster/build.sh), the Konnect emulator, and the operator, all on loopback.
//! It applies config/samples (the seed examples), waits until every KongPlugin is Programmed,
//! prints what Konnect holds, and keeps running so you can edit objects and watch.
//!
//! `tests/cluster/build.sh && cargo run --example demo`
//! `KPO_DEMO_ONCE=1` stops after printing (CI runs it that way).

#[path = "../tests/support/mod.rs"]
mod support;

use std::path::Path;
use std::time::Instant;

use clap::Parser;
use konnect_plugin_operator::controller::{self, RunArgs};
use konnect_plugin_operator::emulator::{self, EmulatorConfig};
use konnect_plugin_operator::konnect::models::{ForeignKey, Plugin};
use konnect_plugin_operator::konnect::{ClientConfig, KonnectClient, ServerUrl, Token};
use konnect_plugin_operator::manifest;
use konnect_plugin_operator::translate::{TranslateOptions, translate};
use kube::config::{KubeConfigOptions, Kubeconfig};

const TOKEN: &str = "kpat_demo";
const CP: &str = "demo";

#[derive(Parser)]
struct Args {
    #[command(flatten)]
    run: RunArgs,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("KPO_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let started = Instant::now();
    let step = |what: &str| println!("==> {what} (+{:.1}s)", started.elapsed().as_secs_f64());

    step("starting the local Kubernetes control plane (etcd + kube-apiserver) and installing CRDs");
    let cluster = support::cluster();
    let kubeconfig = cluster.kubeconfig_path().to_path_buf();

    step("starting the Konnect emulator");
    let emu = emulator::spawn(EmulatorConfig {
        listen: "127.0.0.1:0".parse()?,
        tokens: vec![TOKEN.into()],
        control_planes: vec![CP.into()],
        ..EmulatorConfig::default()
    })
    .await?;
    let dir = tempfile::tempdir()?;
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, TOKEN)?;

    step("starting the operator (in this process), watching the default namespace");
    let args = Args::parse_from([
        "demo",
        "--konnect-server",
        &emu.base_url(),
        "--konnect-token-file",
        token_file.to_str().unwrap_or_default(),
        "--control-plane",
        CP,
        "--admin-address",
        "127.0.0.1:0",
        "--sync-period",
        "30s",
        "--namespaces",
        "default",
    ])
    .run;
    let kube_config = kube::Config::from_custom_kubeconfig(
        Kubeconfig::read_from(&kubeconfig)?,
        &KubeConfigOptions::default(),
    )
    .await?;
    let opts = TranslateOptions {
        owner_tag: "demo".into(),
        ..TranslateOptions::default()
    };
    // Not spawned: the controller future is polled here, next to the demo's own steps.
    let opts_for_wait = opts.clone();
    let operator = controller::run_with(kube_config, args, opts);
    tokio::pin!(operator);
    let steps = async {
        step("kubectl apply -f config/samples/");
        let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/samples");
        kubectl(
            cluster,
            &["apply", "-f", samples.to_str().unwrap_or_default()],
        )
        .await?;

        step("kubectl wait --for=condition=Programmed kongplugins --all");
        kubectl(
            cluster,
            &[
                "wait",
                "--for=condition=Programmed",
                "--timeout=180s",
                "kongplugins,kongclusterplugins,kongconsumers,kongconsumergroups",
                "--all",
            ],
        )
        .await?;
        println!("{}", kubectl(cluster, &["get", "kp,kcp"]).await?);

        // Every object Programmed says the last pass wrote what it saw; a pass that started
        // while `kubectl apply` was half done may have programmed each KongPlugin through one
        // use while the next pass still writes the rest. So wait until Konnect holds as many
        // entities as `render` computes from the same files.
        let want = translate(&manifest::load_paths(&[samples])?.snapshot, &opts_for_wait);
        let want = [
            want.services.len(),
            want.routes.len(),
            want.consumers.len(),
            want.consumer_groups.len(),
            want.plugins.len(),
        ];
        step("what Konnect (the emulator) now holds");
        let mut cfg = ClientConfig::new(ServerUrl::parse(&emu.base_url())?, Token::new(TOKEN)?);
        cfg.requests_per_minute = 100_000;
        let konnect = KonnectClient::new(cfg)?;
        let cp = konnect.control_plane(emu.control_plane_id(CP).unwrap_or_default());
        let deadline = Instant::now() + std::time::Duration::from_secs(60);
        let (services, routes, consumers, groups, plugins) = loop {
            let services = cp.list_all_services(None).await?;
            let routes = cp.list_all_routes(None).await?;
            let consumers = cp.list_all_consumers(None).await?;
            let groups = cp.list_all_consumer_groups(None).await?;
            let plugins = cp.list_all_plugins(None).await?;
            let got = [
                services.len(),
                routes.len(),
                consumers.len(),
                groups.len(),
                plugins.len(),
            ];
            if got == want {
                break (services, routes, consumers, groups, plugins);
            }
            if Instant::now() > deadline {
                anyhow::bail!(
                    "after 60 s Konnect holds {got:?} (services, routes, consumers, groups, \
                     plugins); the samples render {want:?}"
                );
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        };
        let name_of = |fk: &Option<ForeignKey>| -> Option<String> {
            let id = fk.as_ref()?.id;
            services
                .iter()
                .find(|e| e.id == Some(id))
                .and_then(|e| e.name.clone())
                .or_else(|| {
                    routes
                        .iter()
                        .find(|e| e.id == Some(id))
                        .and_then(|e| e.name.clone())
                })
                .or_else(|| {
                    consumers
                        .iter()
                        .find(|e| e.id == Some(id))
                        .and_then(|e| e.username.clone())
                })
                .or_else(|| {
                    groups
                        .iter()
                        .find(|e| e.id == Some(id))
                        .map(|e| e.name.clone())
                })
        };
        let scope = |p: &Plugin| -> (String, String) {
            for (kind, fk) in [
                ("route", &p.route),
                ("service", &p.service),
                ("consumer", &p.consumer),
                ("consumer_group", &p.consumer_group),
            ] {
                if fk.is_some() {
                    return (kind.into(), name_of(fk).unwrap_or_default());
                }
            }
            ("global".into(), String::new())
        };
        println!(
            "{} services, {} routes, {} consumers, {} consumer groups, {} plugins",
            services.len(),
            routes.len(),
            consumers.len(),
            groups.len(),
            plugins.len()
        );
        println!("{:<16} {:<15} ATTACHED TO", "PLUGIN", "SCOPE");
        let mut rows: Vec<(String, String, String)> = plugins
            .iter()
            .map(|p| {
                let (kind, target) = scope(p);
                (p.name.clone(), kind, target)
            })
            .collect();
        rows.sort();
        for (name, kind, target) in rows {
            println!("{name:<16} {kind:<15} {target}");
        }

        Ok::<_, anyhow::Error>(())
    };
    tokio::select! {
        r = &mut operator => {
            r?;
            anyhow::bail!("the operator stopped");
        }
        r = steps => r?,
    }
    if std::env::var_os("KPO_DEMO_ONCE").is_some() {
        step("done (KPO_DEMO_ONCE set)");
        return Ok(());
    }
    println!(
        "\nThe demo keeps running. In another shell:\n\
         \x20 export KUBECONFIG={}\n\
         \x20 kubectl get kp                                   # PROGRAMMED column\n\
         \x20 kubectl annotate --overwrite service echo konghq.com/plugins-   # detach a plugin\n\
         \x20 kubectl edit kp session                          # change a config\n\
         \x20 curl -s -H 'Authorization: Bearer {TOKEN}' {}/control-planes/{}/core-entities/plugins\n\
         \x20 curl -s http://{}/_emulator/stats                # requests by method and path\n\
         Ctrl-C stops everything.",
        kubeconfig.display(),
        emu.base_url(),
        emu.control_plane_id(CP).unwrap_or_default(),
        emu.addr()
    );
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        r = &mut operator => r?,
    }
    Ok(())
}

/// Runs kubectl off the async threads (the operator runs on them meanwhile).
async fn kubectl(cluster: &'static support::TestCluster, args: &[&str]) -> anyhow::Result<String> {
    let owned: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let out =
        tokio::task::spawn_blocking(move || cluster.kubectl().args(&owned).output()).await??;
    if !out.status.success() {
        anyhow::bail!(
            "kubectl {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
