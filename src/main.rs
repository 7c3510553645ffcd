//! The operator's command line: `run`, `crds`.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use konnect_plugin_operator::crd::generate;

/// Makes Kong Konnect carry the Kong plugins a Kubernetes cluster declares.
#[derive(Parser, Debug)]
#[command(name = "konnect-plugin-operator", version, about)]
struct Cli {
    /// Log filter (tracing `EnvFilter` syntax), e.g. `info` or `konnect_plugin_operator=debug`.
    #[arg(long, env = "KPO_LOG", default_value = "info", global = true)]
    log: String,
    /// Log format.
    #[arg(long, env = "KPO_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Connect to the cluster and run the operator.
    Run,
    /// Print every CRD the operator serves, as multi-document YAML.
    Crds {
        /// Write one file per CRD into this directory instead of printing.
        #[arg(long, value_name = "DIR")]
        out_dir: Option<PathBuf>,
    },
}

fn init_tracing(filter: &str, format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(&cli.log, cli.log_format);
    let result = match cli.command {
        Command::Crds { out_dir } => crds(out_dir),
        Command::Run => run(),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            tracing::error!("{err:#}");
            ExitCode::FAILURE
        }
    }
}

fn crds(out_dir: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let crds = generate::all();
    match out_dir {
        None => print!("{}", generate::to_yaml(&crds)?),
        Some(dir) => {
            std::fs::create_dir_all(&dir)?;
            for (file, crd) in &crds {
                let text = generate::to_yaml(std::slice::from_ref(&(file.clone(), crd.clone())))?;
                std::fs::write(dir.join(file), text)?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn run() -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let client = kube::Client::try_default().await?;
        let version = client.apiserver_version().await?;
        tracing::info!(server = %version.git_version, "connected to the cluster; the controller is not written yet, waiting for a signal");
        tokio::signal::ctrl_c().await?;
        Ok(ExitCode::SUCCESS)
    })
}
