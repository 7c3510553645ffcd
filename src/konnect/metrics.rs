//! Metrics hooks of the Konnect client. The client calls a [`ClientMetrics`] for every
//! request; the admin server plugs in its Prometheus registry, tests use [`InMemoryMetrics`].
//! This module owns no exporter and no global state.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// What the client reports. Every method has a no-op default.
pub trait ClientMetrics: Send + Sync {
    /// One HTTP attempt finished. `op` is e.g. `get`/`upsert`/`delete`/`list`, `entity` e.g.
    /// `plugin`; `status` is `None` when no HTTP answer came (timeout, reset).
    fn request(
        &self,
        _op: &'static str,
        _entity: &'static str,
        _status: Option<u16>,
        _latency: Duration,
    ) {
    }
    /// Konnect answered 429.
    fn rate_limited(&self) {}
    /// Time a request waited for the budget (slot, 429 pause, token bucket) before it was sent.
    fn budget_wait(&self, _waited: Duration) {}
}

/// Discards everything.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoopMetrics;

impl ClientMetrics for NoopMetrics {}

/// Key of one request counter: operation, entity, status (`None`: no HTTP answer).
pub type RequestKey = (&'static str, &'static str, Option<u16>);

/// Counts in memory; cheap enough for tests and for a `/metrics` renderer to read.
#[derive(Debug, Default)]
pub struct InMemoryMetrics {
    requests: Mutex<BTreeMap<RequestKey, u64>>,
    latency_total_us: AtomicU64,
    rate_limited: AtomicU64,
    budget_wait_total_us: AtomicU64,
}

impl InMemoryMetrics {
    pub fn new() -> Self {
        Self::default()
    }

    /// Requests by (op, entity, status).
    pub fn requests(&self) -> BTreeMap<RequestKey, u64> {
        self.lock().clone()
    }

    /// Number of attempts matching `op`, `entity` and `status`.
    pub fn count(&self, op: &str, entity: &str, status: Option<u16>) -> u64 {
        self.lock()
            .iter()
            .filter(|((o, e, s), _)| *o == op && *e == entity && *s == status)
            .map(|(_, n)| n)
            .sum()
    }

    /// All attempts, whatever their outcome.
    pub fn total_requests(&self) -> u64 {
        self.lock().values().sum()
    }

    pub fn rate_limited_count(&self) -> u64 {
        self.rate_limited.load(Ordering::Relaxed)
    }

    pub fn total_latency(&self) -> Duration {
        Duration::from_micros(self.latency_total_us.load(Ordering::Relaxed))
    }

    pub fn total_budget_wait(&self) -> Duration {
        Duration::from_micros(self.budget_wait_total_us.load(Ordering::Relaxed))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<RequestKey, u64>> {
        // Counters only: a panic mid-increment leaves a valid map.
        self.requests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl ClientMetrics for InMemoryMetrics {
    fn request(
        &self,
        op: &'static str,
        entity: &'static str,
        status: Option<u16>,
        latency: Duration,
    ) {
        *self.lock().entry((op, entity, status)).or_default() += 1;
        self.latency_total_us
            .fetch_add(micros(latency), Ordering::Relaxed);
    }

    fn rate_limited(&self) {
        self.rate_limited.fetch_add(1, Ordering::Relaxed);
    }

    fn budget_wait(&self, waited: Duration) {
        self.budget_wait_total_us
            .fetch_add(micros(waited), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_key() {
        let m = InMemoryMetrics::new();
        m.request("get", "plugin", Some(200), Duration::from_millis(2));
        m.request("get", "plugin", Some(200), Duration::from_millis(3));
        m.request("get", "plugin", None, Duration::from_millis(1));
        m.rate_limited();
        m.budget_wait(Duration::from_millis(7));
        assert_eq!(m.count("get", "plugin", Some(200)), 2);
        assert_eq!(m.count("get", "plugin", None), 1);
        assert_eq!(m.count("get", "service", Some(200)), 0);
        assert_eq!(m.total_requests(), 3);
        assert_eq!(m.total_latency(), Duration::from_millis(6));
        assert_eq!(m.rate_limited_count(), 1);
        assert_eq!(m.total_budget_wait(), Duration::from_millis(7));
    }
}
