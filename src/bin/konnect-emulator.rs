//! `konnect-emulator`: serves the Konnect emulator until SIGINT or SIGTERM.
//!
//! Prints the API base URL (`http://ADDR/v2`) as the first line on stdout once listening, so
//! scripts can read it; logs go to stderr (`RUST_LOG`, default `info`).

#![forbid(unsafe_code)]

use clap::Parser;
use konnect_plugin_operator::emulator::{self, EmulatorConfig};

#[derive(Parser)]
#[command(
    name = "konnect-emulator",
    version,
    about = "A local stand-in for the Kong Konnect API (control planes and core entities)",
    long_about = "A local stand-in for the Kong Konnect API: control planes, services, routes, \
consumers, consumer groups and plugins, with Konnect's paths, bodies, constraints and errors. \
Test controls live under /_emulator/ (stats, faults, reset) and need no token."
)]
struct Cli {
    #[command(flatten)]
    emulator: EmulatorConfig,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let handle = emulator::spawn(cli.emulator).await?;
    println!("{}", handle.base_url());
    shutdown_signal().await;
    handle.shutdown().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
