//! `konnect-plugin-operator validate -f <file|dir>...`: checks the configuration of every
//! KongPlugin and KongClusterPlugin in manifests against the embedded schemas, offline.
//!
//! Output is one line per problem: `<file>: <Kind> <ns>/<name>: config.<path>: <message>`
//! (`<Kind> <name>` for cluster-scoped objects), and `... warning: ...` lines for what cannot be
//! checked offline (a plugin without an embedded schema, a configFrom/configPatches Secret that
//! is not in the given files, an object of a kind we do not read, a FIFO or device met in a
//! directory). A Secret in the files whose `data` cannot be decoded is an error on the Secret,
//! and on each plugin that uses it. Secret values are never printed. `-f -` reads stdin.
//!
//! Files are read with [`crate::manifest`] and each configuration is built and checked by
//! translation's own code ([`crate::translate::resolve_plugin_config`],
//! [`crate::translate::check_plugin_config`]), so `validate` and `render` always agree. Files
//! are loaded one by one to attribute findings to them; Secrets are looked up across all the
//! given files.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::PathBuf;

use k8s_openapi::api::core::v1::Secret;

use crate::manifest::{self, Loaded};
use crate::schema::Registry;
use crate::translate::{
    ConfigCheck, ObjectRef, PluginObject, check_plugin_config, resolve_plugin_config,
};

/// Validates the plugins in `paths` and writes one line per problem to `out`. Returns whether
/// any error was found (warnings do not count). I/O errors on `out` or on listing `paths` are
/// the only `Err`s; an unreadable manifest is reported as an error line.
pub fn validate_files(paths: &[PathBuf], out: &mut dyn Write) -> anyhow::Result<bool> {
    validate_files_with(paths, &Registry::embedded(), out)
}

/// [`validate_files`] with a given registry (e.g. with schemas fetched from Konnect).
pub fn validate_files_with(
    paths: &[PathBuf],
    registry: &Registry,
    out: &mut dyn Write,
) -> anyhow::Result<bool> {
    let files = manifest::manifest_files(paths)?;
    for line in &files.skipped {
        writeln!(out, "{line}")?;
    }
    let mut any_error = false;
    let mut per_file: Vec<(PathBuf, Loaded)> = Vec::new();
    for file in files.files {
        let mut loaded = Loaded::default();
        if let Err(e) = manifest::load_file(&file, &mut loaded) {
            writeln!(out, "{e}")?;
            any_error = true;
        }
        for line in &loaded.malformed {
            writeln!(out, "{line}")?;
            any_error = true;
        }
        for line in &loaded.skipped {
            writeln!(out, "{line}")?;
        }
        per_file.push((manifest::display_name(&file).to_owned(), loaded));
    }
    // Secrets that are in the files but could not be decoded: a reference to one is not a
    // "Secret not in the given files".
    let unreadable: BTreeSet<(String, String)> = per_file
        .iter()
        .flat_map(|(_, loaded)| &loaded.snapshot.malformed)
        .filter(|m| m.kind == "Secret")
        .map(|m| (m.namespace.clone().unwrap_or_default(), m.name.clone()))
        .collect();
    // Secrets from every file; on a duplicate the first file (in name order) wins.
    let mut secrets: BTreeMap<(String, String), &Secret> = BTreeMap::new();
    for (_, loaded) in &per_file {
        for s in &loaded.snapshot.secrets {
            let ns = s
                .metadata
                .namespace
                .clone()
                .unwrap_or_else(|| manifest::DEFAULT_NAMESPACE.to_owned());
            secrets
                .entry((ns, s.metadata.name.clone().unwrap_or_default()))
                .or_insert(s);
        }
    }
    let lookup = |ns: &str, name: &str| secrets.get(&(ns.to_owned(), name.to_owned())).copied();
    for (file, loaded) in &per_file {
        let file = file.display();
        let snap = &loaded.snapshot;
        let plugins = snap
            .kong_plugins
            .iter()
            .map(|p| {
                (
                    ObjectRef::new("KongPlugin", &p.metadata),
                    p.plugin.as_str(),
                    PluginObject::Kong(p),
                )
            })
            .chain(snap.kong_cluster_plugins.iter().map(|p| {
                (
                    ObjectRef::new("KongClusterPlugin", &p.metadata),
                    p.plugin.as_str(),
                    PluginObject::Cluster(p),
                )
            }));
        for (object, plugin, fields) in plugins {
            let prefix = format!("{file}: {object}");
            let resolved = match resolve_plugin_config(fields, &lookup) {
                Ok(r) => r,
                Err(problems) => {
                    for p in problems {
                        match p.missing_secret {
                            Some((ns, name))
                                if unreadable.contains(&(ns.clone(), name.clone())) =>
                            {
                                let field = p.message.split(": ").next().unwrap_or_default();
                                writeln!(
                                    out,
                                    "{prefix}: {field}: Secret {ns}/{name} cannot be decoded (see its own error)"
                                )?;
                                any_error = true;
                            }
                            Some((ns, name)) => writeln!(
                                out,
                                "{prefix}: warning: Secret {ns}/{name} is not in the given files; the configuration cannot be checked offline"
                            )?,
                            None => {
                                writeln!(out, "{prefix}: {}", p.message)?;
                                any_error = true;
                            }
                        }
                    }
                    continue;
                }
            };
            match check_plugin_config(registry, plugin, &resolved) {
                Ok(()) => {}
                Err(ConfigCheck::UnknownPlugin) => writeln!(
                    out,
                    "{prefix}: warning: plugin '{plugin}' has no embedded schema; its configuration is left to Konnect"
                )?,
                Err(ConfigCheck::Invalid(errors)) => {
                    any_error = true;
                    for e in errors {
                        writeln!(out, "{prefix}: {e}")?;
                    }
                }
            }
        }
    }
    Ok(any_error)
}
