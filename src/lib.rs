//! konnect-plugin-operator: makes Kong Konnect carry the Kong plugins a cluster declares.
//!
//! The pipeline is visible in the module tree:
//! resolve (I/O) -> [`translate`] (pure) -> sync (I/O, [`controller`]) -> report.
//! [`konnect`] is the narrow HTTP client; [`emulator`] stands in for Konnect in tests and demos;
//! [`schema`] validates plugin configurations with Kong's schema format; [`crd`] holds the
//! Kong-compatible custom resources; [`manifest`] reads manifests from disk into a snapshot and
//! [`cli`] holds the offline commands (`render`, `validate`) built on them.
//!
//! Dependencies between our modules form a DAG: `cli -> {manifest, translate, schema}`,
//! `manifest -> translate` (snapshot types only), `translate -> schema`; the pure modules
//! (`translate`, `schema`) never reach back to `cli`, `manifest`, `controller` or `emulator`.
#![forbid(unsafe_code)]

pub mod cli;
pub mod controller;
pub mod crd;
pub mod emulator;
pub mod konnect;
pub mod manifest;
pub mod schema;
pub mod translate;
pub mod webhook;
