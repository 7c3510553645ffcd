//! The `render` command: manifests on disk -> desired Konnect state on stdout, with no cluster.
//! Users run it in CI; it returns whether any object is Invalid so the caller exits 1.
//! Values from Kubernetes Secrets are redacted unless the caller asks for [`Secrets::Show`].

use std::io::{BufWriter, Write};
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
    // The state owns all it needs: free the manifests before writing.
    drop(loaded);
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
    // Streamed: the output is never held whole in memory (it is the largest thing `render`
    // makes). Serialization cannot fail on these types, so nothing is cut short but by an I/O
    // error.
    let mut out = BufWriter::with_capacity(64 * 1024, out);
    match format {
        OutputFormat::Json => render::write_json(&state, secrets, &mut out)?,
        OutputFormat::Yaml => render::write_yaml(&state, secrets, &mut out)?,
    }
    out.flush()?;
    // A held object (a referrer of a missing or broken plugin) fails the gate too: Konnect
    // would not get what the manifests ask for.
    Ok(state.any_invalid() || state.any_held())
}
