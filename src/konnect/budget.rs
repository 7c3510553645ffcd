//! The shared request budget: one token bucket (requests per minute), bounded concurrency,
//! and a client-wide pause after a 429.
//!
//! Konnect rate-limits per organization, not per connection, so every clone of the client
//! draws from the same [`Budget`]. When one caller receives a 429, the `Retry-After` applies to
//! everybody: [`Budget::pause_for`] moves a shared "paused until" instant forward and every
//! caller waits for it in [`Budget::acquire`] before sending its next request.
//!
//! After a pause the bucket is emptied once, so callers resume at the steady rate (one token
//! every `60 / rpm` seconds) instead of all firing the burst the bucket refilled meanwhile,
//! which would only earn the next 429.

use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use super::error::{Error, MAX_RETRY_AFTER};

/// Holds one concurrency slot; the request it guards must finish before it is dropped.
#[derive(Debug)]
pub struct Permit {
    _permit: OwnedSemaphorePermit,
    /// Time spent waiting for the slot, the pause and the token bucket.
    pub waited: Duration,
}

#[derive(Debug, Default)]
struct Pause {
    until: Option<Instant>,
    /// Set by a 429, cleared by the first caller that passes the end of the pause and empties
    /// the bucket.
    drain: bool,
}

pub struct Budget {
    limiter: DefaultDirectRateLimiter,
    slots: std::sync::Arc<Semaphore>,
    pause: Mutex<Pause>,
}

impl std::fmt::Debug for Budget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Budget")
            .field("available_slots", &self.slots.available_permits())
            .field("paused_until", &self.paused_until())
            .finish()
    }
}

impl Budget {
    /// `requests_per_minute` and `max_concurrency` are clamped to at least 1. The bucket holds
    /// one second's worth of requests, so a start-up burst overshoots a per-minute window by
    /// at most 1/60 instead of doubling it.
    pub fn new(requests_per_minute: u32, max_concurrency: usize) -> Self {
        let rpm = NonZeroU32::new(requests_per_minute).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(requests_per_minute / 60).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::per_minute(rpm).allow_burst(burst);
        Self {
            limiter: RateLimiter::direct(quota),
            slots: std::sync::Arc::new(Semaphore::new(max_concurrency.max(1))),
            pause: Mutex::new(Pause::default()),
        }
    }

    /// Waits for a concurrency slot, for any 429 pause to end, and for a token. The pause is
    /// checked again after the token wait because another caller may have hit a 429 meanwhile.
    ///
    /// Fails only if the slot semaphore was closed, which this type never does: an error
    /// rather than a silent loss of the concurrency bound.
    pub async fn acquire(&self) -> Result<Permit, Error> {
        let start = Instant::now();
        let permit = self
            .slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Error::invalid("the client's request budget was closed"))?;
        loop {
            self.wait_pause().await;
            self.drain_after_pause();
            self.limiter.until_ready().await;
            match self.paused_until() {
                Some(until) if until > Instant::now() => continue,
                _ => break,
            }
        }
        Ok(Permit {
            _permit: permit,
            waited: start.elapsed(),
        })
    }

    /// Pauses every caller for `d` from now, at most [`MAX_RETRY_AFTER`] (never shortens an
    /// existing pause).
    pub fn pause_for(&self, d: Duration) {
        let now = Instant::now();
        let d = d.min(MAX_RETRY_AFTER);
        // checked_add: an Instant far in the future can overflow on some platforms.
        let until = now.checked_add(d).unwrap_or(now);
        let mut guard = self.lock();
        if guard.until.is_none_or(|cur| cur < until) {
            guard.until = Some(until);
        }
        guard.drain = true;
    }

    /// The instant the current 429 pause ends, if one is in force.
    pub fn paused_until(&self) -> Option<Instant> {
        let until = self.lock().until;
        until.filter(|u| *u > Instant::now())
    }

    async fn wait_pause(&self) {
        while let Some(until) = self.paused_until() {
            tokio::time::sleep_until(until).await;
        }
    }

    /// Once per pause, after it ended: take every token the bucket accumulated meanwhile.
    fn drain_after_pause(&self) {
        {
            let mut guard = self.lock();
            if !guard.drain || guard.until.is_some_and(|u| u > Instant::now()) {
                return;
            }
            guard.drain = false;
        }
        // Bounded by the burst size (rpm / 60).
        while self.limiter.check().is_ok() {}
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Pause> {
        // The guarded value is plain data; a panic while holding it cannot leave it
        // half-written, so a poisoned lock is safe to reuse.
        self.pause
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn concurrency_is_bounded() {
        let b = Arc::new(Budget::new(60_000, 2));
        let inflight = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let (b, inflight, peak) = (b.clone(), inflight.clone(), peak.clone());
            tasks.push(tokio::spawn(async move {
                let _p = b.acquire().await.unwrap();
                let now = inflight.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(20)).await;
                inflight.fetch_sub(1, Ordering::SeqCst);
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(peak.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_pause_holds_every_caller() {
        let b = Arc::new(Budget::new(60_000, 8));
        b.pause_for(Duration::from_millis(150));
        let start = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..4 {
            let b = b.clone();
            tasks.push(tokio::spawn(async move {
                let p = b.acquire().await.unwrap();
                (Instant::now(), p.waited)
            }));
        }
        for t in tasks {
            let (at, waited) = t.await.unwrap();
            assert!(at.duration_since(start) >= Duration::from_millis(150));
            assert!(waited >= Duration::from_millis(140));
        }
    }

    #[tokio::test]
    async fn a_pause_is_never_shortened() {
        let b = Budget::new(60, 1);
        b.pause_for(Duration::from_secs(10));
        let long = b.paused_until().unwrap();
        b.pause_for(Duration::from_secs(1));
        assert_eq!(b.paused_until(), Some(long));
    }

    #[tokio::test]
    async fn the_bucket_limits_the_rate() {
        // 600/min = 10/s with a burst of 10: the 11th..15th tokens need ~100 ms each.
        let b = Budget::new(600, 64);
        let start = Instant::now();
        for _ in 0..15 {
            drop(b.acquire().await.unwrap());
        }
        assert!(start.elapsed() >= Duration::from_millis(400));
    }

    #[tokio::test]
    async fn a_huge_pause_is_capped_and_does_not_panic() {
        let b = Budget::new(60, 1);
        // The pause starts at some instant between `before` and `after` and lasts exactly
        // MAX_RETRY_AFTER: bracketing it needs no assumption on how long the call takes.
        let before = Instant::now();
        b.pause_for(Duration::MAX);
        let after = Instant::now();
        let until = b.paused_until().unwrap();
        assert!(
            until >= before + MAX_RETRY_AFTER,
            "capped below the maximum"
        );
        assert!(until <= after + MAX_RETRY_AFTER, "not capped");
    }

    #[tokio::test]
    async fn requests_resume_at_the_steady_rate_after_a_pause() {
        // 600/min: a burst of 10, then one token per 100 ms. Without the drain, the 10 tokens
        // refilled during the pause would all go out at once when it ends.
        let b = Budget::new(600, 64);
        for _ in 0..10 {
            drop(b.acquire().await.unwrap());
        }
        b.pause_for(Duration::from_millis(1100));
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let resumed = Instant::now();
        for _ in 0..5 {
            drop(b.acquire().await.unwrap());
        }
        assert!(
            resumed.elapsed() >= Duration::from_millis(400),
            "5 requests after a pause took only {:?}",
            resumed.elapsed()
        );
    }
}
