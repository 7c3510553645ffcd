//! The operator's Prometheus metrics (prometheus-client), named for what someone on call needs:
//! sync passes and their duration, writes by entity/operation/status, Konnect requests and
//! 429s, budget wait, queue depth, managed entities, drift repaired. Labels never carry a
//! Secret value or the token: only entity kinds, operations, status codes and results.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::konnect::error::Error;
use crate::konnect::metrics::ClientMetrics;

use super::diff::{Kind, Observed, Op};

type Labels = Vec<(&'static str, String)>;

/// Every metric, registered once. Cheap to share (`Arc`).
pub struct Metrics {
    registry: Registry,
    sync_passes: Family<Labels, Counter>,
    sync_duration: Histogram,
    writes: Family<Labels, Counter>,
    planned_writes: Family<Labels, Counter>,
    requests: Family<Labels, Counter>,
    rate_limited: Counter,
    budget_wait: Counter<f64, std::sync::atomic::AtomicU64>,
    queue_depth: Gauge,
    managed: Family<Labels, Gauge>,
    drift_repaired: Counter,
    kept: Family<Labels, Gauge>,
    delete_guard_blocked: Gauge,
    delete_guard_stopped: Counter,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("kpo");
        let m = Self {
            sync_passes: Family::default(),
            sync_duration: Histogram::new([
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
            ]),
            writes: Family::default(),
            planned_writes: Family::default(),
            requests: Family::default(),
            rate_limited: Counter::default(),
            budget_wait: Counter::<f64, AtomicU64>::default(),
            queue_depth: Gauge::default(),
            managed: Family::default(),
            drift_repaired: Counter::default(),
            kept: Family::default(),
            delete_guard_blocked: Gauge::default(),
            delete_guard_stopped: Counter::default(),
            registry: Registry::default(),
        };
        registry.register(
            "sync_passes",
            "Sync passes by result (ok, failed, skipped)",
            m.sync_passes.clone(),
        );
        registry.register(
            "sync_duration_seconds",
            "Duration of a sync pass: translate, diff and writes",
            m.sync_duration.clone(),
        );
        registry.register(
            "konnect_writes",
            "Konnect writes by entity, operation and HTTP status (none: no answer)",
            m.writes.clone(),
        );
        registry.register(
            "konnect_planned_writes",
            "Writes a dry run planned and did not send, by entity and operation",
            m.planned_writes.clone(),
        );
        registry.register(
            "konnect_requests",
            "Konnect HTTP attempts by operation, entity and status",
            m.requests.clone(),
        );
        registry.register(
            "konnect_rate_limited",
            "Konnect answers 429",
            m.rate_limited.clone(),
        );
        registry.register(
            "konnect_budget_wait_seconds",
            "Time requests waited for the shared request budget",
            m.budget_wait.clone(),
        );
        registry.register(
            "queue_depth",
            "Writes of the current pass not yet done",
            m.queue_depth.clone(),
        );
        registry.register(
            "managed_entities",
            "Konnect entities carrying this operator's owner tag, by entity",
            m.managed.clone(),
        );
        registry.register(
            "drift_repaired",
            "Entities Konnect held in another version that a pass rewrote",
            m.drift_repaired.clone(),
        );
        registry.register(
            "kept_entities",
            "Entities kept as Konnect holds them instead of deleted or updated, by reason",
            m.kept.clone(),
        );
        registry.register(
            "delete_guard_blocked",
            "1 while the mass-delete guard holds back the deletes of the latest pass, else 0",
            m.delete_guard_blocked.clone(),
        );
        registry.register(
            "delete_guard_stopped_passes",
            "Passes whose deletes the mass-delete guard stopped",
            m.delete_guard_stopped.clone(),
        );
        Self { registry, ..m }
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }

    pub fn sync_pass(&self, result: &'static str, took: Duration) {
        self.sync_passes
            .get_or_create(&vec![("result", result.to_owned())])
            .inc();
        self.sync_duration.observe(took.as_secs_f64());
    }

    /// One write done: `error` is `None` when it succeeded.
    pub fn write(&self, op: &Op, error: Option<&Error>) {
        let status = match error {
            None => "ok".to_owned(),
            Some(e) => e.status().map_or("none".to_owned(), |s| s.to_string()),
        };
        self.writes
            .get_or_create(&vec![
                ("entity", op.kind.as_str().to_owned()),
                ("operation", op.operation().to_owned()),
                ("status", status),
            ])
            .inc();
        self.queue_depth.dec();
    }

    pub fn planned_write(&self, op: &Op) {
        self.planned_writes
            .get_or_create(&vec![
                ("entity", op.kind.as_str().to_owned()),
                ("operation", op.operation().to_owned()),
            ])
            .inc();
    }

    pub fn queued(&self, n: usize) {
        self.queue_depth.set(n as i64);
    }

    pub fn drift_repaired(&self, n: usize) {
        self.drift_repaired.inc_by(n as u64);
    }

    pub fn observed(&self, observed: &Observed) {
        for (kind, n) in [
            (Kind::Service, observed.services.len()),
            (Kind::Route, observed.routes.len()),
            (Kind::Consumer, observed.consumers.len()),
            (Kind::ConsumerGroup, observed.consumer_groups.len()),
            (Kind::Plugin, observed.plugins.len()),
            (Kind::Membership, observed.memberships.len()),
        ] {
            self.managed
                .get_or_create(&vec![("entity", kind.as_str().to_owned())])
                .set(n as i64);
        }
    }

    /// The latest pass: whether the mass-delete guard stopped its deletes.
    pub fn delete_guard(&self, blocked: bool) {
        self.delete_guard_blocked.set(i64::from(blocked));
        if blocked {
            self.delete_guard_stopped.inc();
        }
    }

    pub fn kept(&self, by_reason: &[(&'static str, usize)]) {
        for (reason, n) in by_reason {
            self.kept
                .get_or_create(&vec![("reason", (*reason).to_owned())])
                .set(*n as i64);
        }
    }
}

/// Feeds the Konnect client's per-request hooks into [`Metrics`].
#[derive(Clone, Debug)]
pub struct ClientHook(pub Arc<Metrics>);

impl ClientMetrics for ClientHook {
    fn request(
        &self,
        op: &'static str,
        entity: &'static str,
        status: Option<u16>,
        _latency: Duration,
    ) {
        self.0
            .requests
            .get_or_create(&vec![
                ("operation", op.to_owned()),
                ("entity", entity.to_owned()),
                (
                    "status",
                    status.map_or("none".to_owned(), |s| s.to_string()),
                ),
            ])
            .inc();
    }

    fn rate_limited(&self) {
        self.0.rate_limited.inc();
    }

    fn budget_wait(&self, waited: Duration) {
        self.0.budget_wait.inc_by(waited.as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::new();
        m.sync_pass("ok", Duration::from_millis(20));
        ClientHook(Arc::new(Metrics::new())).rate_limited();
        let text = m.render();
        assert!(
            text.contains("kpo_sync_passes_total{result=\"ok\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE kpo_sync_duration_seconds histogram"),
            "{text}"
        );
    }
}
