//! I/O. The admin server: `/metrics` (Prometheus text), `/livez` (the process serves), and
//! `/readyz` (every watched kind listed and Konnect reachable; otherwise 503 with the reason).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

use super::metrics::Metrics;

/// What readiness reports.
#[derive(Debug, Default)]
pub struct Health {
    caches_synced: AtomicBool,
    konnect_ok: AtomicBool,
    detail: Mutex<String>,
}

impl Health {
    pub fn set_caches_synced(&self, synced: bool) {
        self.caches_synced.store(synced, Ordering::Relaxed);
    }

    /// Records whether the last Konnect exchange worked; `detail` says why not (no secret).
    pub fn set_konnect(&self, ok: bool, detail: impl Into<String>) {
        self.konnect_ok.store(ok, Ordering::Relaxed);
        *self.detail.lock().unwrap_or_else(|p| p.into_inner()) = detail.into();
    }

    pub fn ready(&self) -> Result<(), String> {
        if !self.caches_synced.load(Ordering::Relaxed) {
            return Err("watched kinds not listed yet".into());
        }
        if !self.konnect_ok.load(Ordering::Relaxed) {
            let detail = self.detail.lock().unwrap_or_else(|p| p.into_inner());
            return Err(format!("Konnect not reachable: {detail}"));
        }
        Ok(())
    }
}

#[derive(Clone)]
struct AppState {
    metrics: Arc<Metrics>,
    health: Arc<Health>,
}

/// Binds `addr` and serves until the process ends. Returns the bound address (port 0 picks
/// one).
pub async fn serve(
    addr: SocketAddr,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let app = Router::new()
        .route("/livez", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .with_state(AppState { metrics, health });
    tokio::spawn(async move {
        if let Err(err) = axum::serve(listener, app).await {
            tracing::error!(error = %err, "admin server stopped");
        }
    });
    Ok(bound)
}

async fn readyz(State(s): State<AppState>) -> impl IntoResponse {
    match s.health.ready() {
        Ok(()) => (StatusCode::OK, "ok".to_owned()),
        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, why),
    }
}

async fn metrics_text(State(s): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        s.metrics.render(),
    )
}
