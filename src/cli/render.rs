//! The `render` command: manifests on disk -> desired Konnect state on stdout, with no cluster.
//! Users run it in CI; it returns whether any object is Invalid so the caller exits 1.
//! Values from Kubernetes Secrets are redacted unless the caller asks for [`Secrets::Show`].

use std::io::Write;
use std::path::PathBuf;

use crate::manifest;
use crate::translate::render::{self, Secrets};
use crate::translate::{TranslateOptions, translate};

/// Output format of `render`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    #[default]
    Json,
    Yaml,
}

/// Reads the manifests under `paths`, translates them and writes the desired state to `out`.
/// Returns `true` when any object is Invalid (the CLI then exits 1). Unknown kinds are skipped
/// with a warning on stderr via tracing; unreadable files and malformed documents are errors
/// naming the file and the document index. `secrets` says whether values that came from
/// Secrets are printed (the CLI's `--show-secrets`) or redacted (the default).
pub fn render_command(
    paths: &[PathBuf],
    format: OutputFormat,
    secrets: Secrets,
    opts: TranslateOptions,
    out: &mut dyn Write,
) -> anyhow::Result<bool> {
    let loaded = manifest::load_paths(paths)?;
    for skipped in &loaded.skipped {
        tracing::warn!("{skipped}");
    }
    let state = translate(&loaded.snapshot, &opts);
    let count = state.secret_value_count();
    if count > 0 {
        match secrets {
            Secrets::Redact => tracing::info!(
                count,
                "values from Kubernetes Secrets are redacted; --show-secrets prints them"
            ),
            Secrets::Show => tracing::warn!(
                count,
                "--show-secrets: printing values from Kubernetes Secrets in clear"
            ),
        }
    }
    let text = match format {
        OutputFormat::Json => render::to_json_with(&state, secrets)?,
        OutputFormat::Yaml => render::to_yaml_with(&state, secrets)?,
    };
    out.write_all(text.as_bytes())?;
    out.flush()?;
    // A held object (a referrer of a missing or broken plugin) fails the gate too: Konnect
    // would not get what the manifests ask for.
    Ok(state.any_invalid() || state.any_held())
}
