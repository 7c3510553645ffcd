//! The operator's command line: `run`, `crds`, `render`, `validate`.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use konnect_plugin_operator::cli::{OutputFormat, render_command, validate_files};
use konnect_plugin_operator::crd::generate;
use konnect_plugin_operator::translate::{Secrets, TranslateOptions};

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
    /// Run the operator: reconcile the cluster's plugins into a Konnect control plane.
    Run {
        #[command(flatten)]
        run: konnect_plugin_operator::controller::RunArgs,
        #[command(flatten)]
        translate: TranslateArgs,
    },
    /// Print every CRD the operator serves, as multi-document YAML.
    Crds {
        /// Write one file per CRD into this directory instead of printing.
        #[arg(long, value_name = "DIR")]
        out_dir: Option<PathBuf>,
    },
    /// Translate manifests into the Konnect entities the operator would write, without a
    /// cluster. Exits 1 when any object is Invalid.
    Render {
        /// Manifest files or directories (read recursively: .yaml, .yml, .json); `-` reads
        /// standard input.
        #[arg(short = 'f', long = "filename", value_name = "PATH", required = true)]
        paths: Vec<PathBuf>,
        /// Output format.
        #[arg(short = 'o', long = "output", value_enum, default_value_t = OutputFormat::Json)]
        output: OutputFormat,
        /// Print values that come from Kubernetes Secrets (configFrom, configPatches) in clear
        /// instead of `<redacted: Secret <ns>/<name> key <key>>`. DANGEROUS: never use it in CI
        /// or anywhere the output is logged — build logs keep it and are widely readable.
        #[arg(long, env = "KPO_SHOW_SECRETS", value_parser = clap::builder::BoolishValueParser::new())]
        show_secrets: bool,
        #[command(flatten)]
        translate: TranslateArgs,
    },
    /// Check the plugin configurations in manifests against Kong's plugin schemas. Prints one
    /// line per error (file, object, field path); exits 1 when there is any.
    Validate {
        /// Manifest files or directories (read recursively: .yaml, .yml, .json); `-` reads
        /// standard input.
        #[arg(short = 'f', long = "filename", value_name = "PATH", required = true)]
        paths: Vec<PathBuf>,
    },
    /// Show the writes the operator would make to Konnect for these manifests (-f), or for
    /// what the cluster holds (--from-cluster, read as `run` reads it): each PUT with its
    /// changed fields, each DELETE. Reads the control plane, writes nothing. Exits 0 when
    /// Konnect already matches, 1 when it would change, 2 on error. Pass the same --owner (and
    /// with --from-cluster, --namespaces) as the running operator; with -f the owner default is
    /// the cluster name, with --from-cluster the kube-system namespace UID, as `run`'s.
    #[command(group(clap::ArgGroup::new("source").required(true).args(["paths", "from_cluster"])))]
    Diff {
        /// Manifest files or directories (read recursively: .yaml, .yml, .json); `-` reads
        /// standard input.
        #[arg(short = 'f', long = "filename", value_name = "PATH")]
        paths: Vec<PathBuf>,
        #[command(flatten)]
        cluster: konnect_plugin_operator::cli::diff::FromCluster,
        #[command(flatten)]
        konnect: konnect_plugin_operator::controller::KonnectArgs,
        #[command(flatten)]
        translate: TranslateArgs,
    },
}

/// What decides which objects are ours and how entities are tagged.
#[derive(clap::Args, Debug)]
struct TranslateArgs {
    /// The IngressClass we serve; KongClusterPlugins and KongConsumers need it in
    /// `kubernetes.io/ingress.class`.
    #[arg(long, env = "KPO_INGRESS_CLASS", default_value = "kong")]
    ingress_class: String,
    /// Treat our IngressClass as the cluster default (objects without a class are ours).
    #[arg(long, env = "KPO_INGRESS_CLASS_IS_DEFAULT")]
    ingress_class_is_default: bool,
    /// The GatewayClass whose Gateways' HTTPRoutes we serve (default: every GatewayClass with
    /// KIC's controllerName).
    #[arg(long, env = "KPO_GATEWAY_CLASS")]
    gateway_class: Option<String>,
    /// The owner identity written in the owner tag (default in a cluster, for `run` and
    /// `diff --from-cluster`: the kube-system namespace UID; for `render` and `diff -f`: the
    /// cluster name).
    #[arg(long, env = "KPO_OWNER", default_value = "")]
    owner: String,
    /// A name for this cluster, used as the owner identity when `--owner` is empty.
    #[arg(long, env = "KPO_CLUSTER_NAME", default_value = "default")]
    cluster_name: String,
    /// KIC's flag of the same name: HTTPRoute rules with the same backends share one Konnect
    /// service across all HTTPRoutes of a namespace (`httproute.<ns>.svc.<backends>`) instead
    /// of one service per HTTPRoute rule group (`httproute.<ns>.<route>.<rule>`). Changes
    /// service names, so ids.
    #[arg(long, env = "KPO_COMBINED_SERVICES_FROM_DIFFERENT_HTTPROUTES")]
    combined_services_from_different_httproutes: bool,
}

impl From<TranslateArgs> for TranslateOptions {
    fn from(a: TranslateArgs) -> Self {
        let TranslateArgs {
            ingress_class,
            ingress_class_is_default,
            gateway_class,
            owner,
            cluster_name,
            combined_services_from_different_httproutes,
        } = a;
        TranslateOptions {
            ingress_class,
            ingress_class_is_default,
            gateway_class,
            owner_tag: owner,
            cluster: cluster_name,
            combined_services_from_different_httproutes,
        }
    }
}

fn init_tracing(filter: &str, format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
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
        Command::Run {
            run: args,
            translate,
        } => run(args, translate.into()),
        Command::Render {
            paths,
            output,
            show_secrets,
            translate,
        } => {
            let secrets = if show_secrets {
                Secrets::Show
            } else {
                Secrets::Redact
            };
            let invalid = render_command(
                &paths,
                output,
                secrets,
                translate.into(),
                &mut std::io::stdout().lock(),
            );
            invalid.map(exit_code)
        }
        Command::Validate { paths } => {
            validate_files(&paths, &mut std::io::stdout().lock()).map(exit_code)
        }
        Command::Diff {
            paths,
            cluster,
            konnect,
            translate,
        } => {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(r) => r,
                Err(err) => {
                    tracing::error!("{err}");
                    return ExitCode::from(2);
                }
            };
            let out = &mut std::io::stdout().lock();
            let changed = if cluster.from_cluster {
                runtime.block_on(konnect_plugin_operator::cli::diff::diff_cluster_command(
                    &cluster,
                    translate.into(),
                    &konnect,
                    out,
                    &mut std::io::stderr(),
                ))
            } else {
                runtime.block_on(konnect_plugin_operator::cli::diff::diff_command(
                    &paths,
                    translate.into(),
                    &konnect,
                    out,
                ))
            };
            return match changed {
                Ok(changed) => exit_code(changed),
                Err(err) => {
                    tracing::error!("{err:#}");
                    ExitCode::from(2)
                }
            };
        }
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            tracing::error!("{err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Exit 1 when the command found bad input, 0 otherwise.
fn exit_code(found_errors: bool) -> ExitCode {
    if found_errors {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
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

fn run(
    args: konnect_plugin_operator::controller::RunArgs,
    opts: TranslateOptions,
) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(konnect_plugin_operator::controller::run(args, opts))?;
    Ok(ExitCode::SUCCESS)
}
