//! The Konnect API client: the operator's only door to Kong Konnect.
//!
//! This module owns the wire models ([`models`]), typed errors parsed from Konnect's
//! error bodies, the shared request budget (rate limit, concurrency, 429 pauses, retries)
//! and the metrics hooks. It knows nothing about Kubernetes and holds no business logic: the
//! sync step decides *what* to write, this module only writes it.
//!
//! Entry points: [`KonnectClient::new`] / [`KonnectClient::with_metrics`] from a
//! [`ClientConfig`]; [`KonnectClient::control_plane`] gives a [`ControlPlaneClient`] with one
//! method per operation (`get_*`, `upsert_*` by `PUT /{id}`, `delete_*`, `list_*` one page,
//! `list_all_*` every page, generic `get`/`upsert`/`delete`/`list`/`stream` over
//! [`CoreEntity`]). Errors are [`Error`], with `is_retryable()`, `retry_after()`, `reason()`.

pub mod apps;
pub mod budget;
pub mod client;
pub mod config;
pub mod error;
pub mod metrics;
pub mod models;

pub use client::{
    ControlPlaneClient, CoreEntity, KonnectClient, ListQuery, MAX_PAGE_SIZE, PluginParent,
    TagFilter, USER_AGENT, install_crypto_provider,
};
pub use config::{ClientConfig, REGIONS, ServerUrl, Token};
pub use error::{ConstraintKind, DetailType, Error, FieldDetail};
pub use metrics::{ClientMetrics, InMemoryMetrics, NoopMetrics};
