//! The commands of the binary besides `run`: `render` and `validate` (offline) and `diff`
//! (reads Konnect through the controller's listing and diff, writes nothing; with
//! `--from-cluster` it reads the cluster through the controller's reflectors instead of
//! files). They read manifests from disk
//! (through [`crate::manifest`]), run the pure code ([`crate::translate`], [`crate::schema`])
//! and write what a person reads (stdout, and warnings via `tracing` on stderr).
//!
//! This is the only place where those pure modules meet files and logs: the module graph is
//! `cli -> {manifest, translate, schema}`, `manifest -> translate` (snapshot types),
//! `translate -> schema`, `cli::diff -> controller`, and nothing of ours depends on `cli` but `main.rs`
//! (`tests/module_dag.rs` checks the pure side of this).

pub mod diff;
pub mod render;
pub mod validate;

pub use render::{OutputFormat, render_command};
pub use validate::{validate_files, validate_files_with};
