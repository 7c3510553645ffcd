//! The Konnect emulator: a local stand-in for the Konnect API, for tests, the demo and users
//! without an account.
//!
//! It owns the emulated API surface the operator uses (control planes; services, routes,
//! consumers, consumer groups with membership, and plugins, top-level and nested; plugin
//! schemas and validation), with the official specs' paths, status codes and bodies, plus the
//! behaviour Konnect shows but does not document in its specs (koko's error bodies, constraint
//! rules, cascades, the request budget, the 403 of an entity limit or a read-only token). It
//! also owns test-only controls: fault injection, request counters and a reset, under
//! `/_emulator/`. It must never depend on the operator's client.
//!
//! Layout: [`store`] (core entities, constraints, paging; pure), [`state`] (control planes;
//! pure), [`plugins`] (plugin names and configs), [`errors`] (Konnect's error bodies),
//! [`api`] (HTTP handlers), [`gate`] (auth, budget, faults, counters), [`conn`] (resettable
//! connections), [`persist`] (the state file).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub mod api;
pub mod apps;
pub mod conn;
pub mod errors;
pub mod gate;
pub mod persist;
pub mod plugins;
pub mod state;
pub mod store;
pub mod typedefs;

pub use gate::RetryAfterFormat;
use gate::{Faults, Gate};
use state::{NewControlPlane, State};

/// Errors of starting or stopping the emulator (request errors are HTTP answers, not these).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot read state file {path}: {source}")]
    StateRead {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("state file {path} is not a valid emulator state: {source}")]
    StateParse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("cannot write state file {path}: {source}")]
    StateWrite {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "state file {path} is in use by another emulator (its lock {lock} is held); stop that \
         emulator or give this one another --state-file"
    )]
    StateLocked { path: PathBuf, lock: PathBuf },
    #[error("invalid fault setting: {0}")]
    InvalidFaults(String),
    #[error("the server task failed: {0}")]
    Serve(String),
}

/// Settings of the emulator; the binary's flags (each also an environment variable).
#[derive(Clone, clap::Args)]
pub struct EmulatorConfig {
    /// Address to listen on.
    #[arg(
        long,
        env = "KONNECT_EMULATOR_LISTEN",
        default_value = "127.0.0.1:8080"
    )]
    pub listen: SocketAddr,

    /// Accepted bearer tokens (repeat the flag or separate with commas; default `kpat_test`).
    /// Never logged.
    #[arg(
        long = "token",
        env = "KONNECT_EMULATOR_TOKENS",
        value_delimiter = ',',
        default_value = "kpat_test",
        hide_env_values = true,
        hide_default_value = true
    )]
    pub tokens: Vec<String>,

    /// Tokens that authenticate but may only read (repeat the flag or separate with commas):
    /// any write with one answers 403 `usage constraint error`, as Konnect answers a token
    /// without the permission. A token also given to --token is read-only. Never logged.
    #[arg(
        long = "read-only-token",
        env = "KONNECT_EMULATOR_READ_ONLY_TOKENS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub read_only_tokens: Vec<String>,

    /// Control planes created at start (repeat or separate with commas); their ids are derived
    /// from their names, so they are the same on every start.
    #[arg(
        long = "control-plane",
        env = "KONNECT_EMULATOR_CONTROL_PLANES",
        value_delimiter = ',',
        default_value = "default"
    )]
    pub control_planes: Vec<String>,

    /// Request budget per minute across all /v2 calls; beyond it, 429 with Retry-After.
    /// Unset means unlimited.
    #[arg(long, env = "KONNECT_EMULATOR_RATE_LIMIT_PER_MINUTE")]
    pub rate_limit_per_minute: Option<u32>,

    /// Core entities (services, routes, consumers, consumer groups, plugins together) one
    /// control plane may hold; creating one more (POST, or PUT of a new id) answers 403
    /// `usage constraint error`, as Konnect does at an account limit. Replacing an existing
    /// entity is still allowed. Unset means unlimited; also settable at /_emulator/faults.
    #[arg(long, env = "KONNECT_EMULATOR_MAX_ENTITIES_PER_CONTROL_PLANE")]
    pub max_entities_per_control_plane: Option<u32>,

    /// Fraction (0..1) of /v2 requests answered with a 500 instead of being served.
    #[arg(long, env = "KONNECT_EMULATOR_ERROR_RATE", default_value_t = 0.0)]
    pub error_rate: f64,

    /// Latency added to every /v2 request, in milliseconds.
    #[arg(long, env = "KONNECT_EMULATOR_LATENCY_MS", default_value_t = 0)]
    pub latency_ms: u64,

    /// Fraction (0..1) of /v2 requests that are served but whose connection is then reset
    /// without a response (the write happened; the client cannot know).
    #[arg(long, env = "KONNECT_EMULATOR_DROP_RATE", default_value_t = 0.0)]
    pub drop_rate: f64,

    /// How a 429 writes Retry-After: delay-seconds or an HTTP date (Konnect may send either);
    /// also settable at /_emulator/faults as `retry_after_format`.
    #[arg(
        long,
        env = "KONNECT_EMULATOR_RETRY_AFTER_FORMAT",
        value_enum,
        default_value_t = RetryAfterFormat::Seconds
    )]
    pub retry_after_format: RetryAfterFormat,

    /// Seed of the fault-injection randomness, so a failing run can be replayed.
    #[arg(long, env = "KONNECT_EMULATOR_SEED", default_value_t = 0)]
    pub seed: u64,

    /// JSON file holding the emulated state: loaded at start when present, rewritten
    /// (debounced, atomically) after changes, so a demo survives a restart. Locked while the
    /// emulator runs (`<file>.lock`): a second emulator on the same file refuses to start.
    #[arg(long, env = "KONNECT_EMULATOR_STATE_FILE")]
    pub state_file: Option<PathBuf>,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        EmulatorConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            tokens: vec!["kpat_test".to_string()],
            read_only_tokens: Vec::new(),
            control_planes: vec!["default".to_string()],
            rate_limit_per_minute: None,
            max_entities_per_control_plane: None,
            error_rate: 0.0,
            latency_ms: 0,
            drop_rate: 0.0,
            retry_after_format: RetryAfterFormat::Seconds,
            seed: 0,
            state_file: None,
        }
    }
}

impl std::fmt::Debug for EmulatorConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmulatorConfig")
            .field("listen", &self.listen)
            .field("tokens", &format_args!("[{} redacted]", self.tokens.len()))
            .field(
                "read_only_tokens",
                &format_args!("[{} redacted]", self.read_only_tokens.len()),
            )
            .field("control_planes", &self.control_planes)
            .field("rate_limit_per_minute", &self.rate_limit_per_minute)
            .field(
                "max_entities_per_control_plane",
                &self.max_entities_per_control_plane,
            )
            .field("error_rate", &self.error_rate)
            .field("latency_ms", &self.latency_ms)
            .field("drop_rate", &self.drop_rate)
            .field("retry_after_format", &self.retry_after_format)
            .field("seed", &self.seed)
            .field("state_file", &self.state_file)
            .finish()
    }
}

impl EmulatorConfig {
    fn faults(&self) -> Faults {
        Faults {
            error_rate: self.error_rate,
            latency_ms: self.latency_ms,
            drop_rate: self.drop_rate,
            rate_limit_per_minute: self.rate_limit_per_minute,
            max_entities_per_control_plane: self.max_entities_per_control_plane,
            retry_after_format: self.retry_after_format,
        }
    }
}

/// Locks a mutex, carrying on after a panic elsewhere: the emulator's state stays usable
/// for the rest of a test run, which is what a stand-in server should do.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// State shared by all handlers.
pub(crate) struct Inner {
    pub state: Mutex<State>,
    pub gate: Gate,
    pub persist: Option<persist::Persister>,
    pub cfg: EmulatorConfig,
}

/// Cheap handle on the shared state, the axum router state.
#[derive(Clone)]
pub struct Ctx(pub(crate) Arc<Inner>);

impl Ctx {
    /// Records that the state changed, for the state file.
    pub(crate) fn changed(&self) {
        if let Some(p) = &self.0.persist {
            p.mark_dirty();
        }
    }

    /// Back to the start-up state: only the configured control planes (same ids), no
    /// entities, zeroed counters, the configured faults and a full budget.
    pub(crate) fn reset(&self) {
        let mut fresh = State::default();
        seed_control_planes(&mut fresh, &self.0.cfg.control_planes);
        *lock(&self.0.state) = fresh;
        self.0.gate.reset(self.0.cfg.faults(), self.0.cfg.seed);
        self.changed();
    }
}

fn seed_control_planes(state: &mut State, names: &[String]) {
    let now = jiff::Timestamp::now().to_string();
    for name in names {
        if state.find_by_name(name).is_none() {
            state.create(state::startup_id(name), NewControlPlane::named(name), &now);
        }
    }
}

/// A running emulator.
pub struct EmulatorHandle {
    addr: SocketAddr,
    ctx: Ctx,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), std::io::Error>>,
    /// The state file's lock, held until the final write is done (see [`persist::lock_state_file`]).
    state_lock: Option<std::fs::File>,
}

impl std::fmt::Debug for EmulatorHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmulatorHandle")
            .field("addr", &self.addr)
            .finish()
    }
}

impl EmulatorHandle {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The API base, shaped like `https://us.api.konghq.com/v2`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v2", self.addr)
    }

    /// The first accepted token (tests hand it to the client).
    pub fn token(&self) -> String {
        self.ctx.0.cfg.tokens.first().cloned().unwrap_or_default()
    }

    /// The id of a control plane, looked up by name in the live state.
    pub fn control_plane_id(&self, name: &str) -> Option<String> {
        lock(&self.ctx.0.state)
            .find_by_name(name)
            .and_then(|cp| cp.meta.get("id"))
            .and_then(|v| v.as_str())
            .map(str::to_string)
    }

    /// Stops serving (in-flight requests get a few seconds) and writes the state file.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        // Keep-alive clients can hold the graceful shutdown open; don't wait for them forever.
        if tokio::time::timeout(Duration::from_secs(3), &mut self.task)
            .await
            .is_err()
        {
            self.task.abort();
        }
        if let Some(p) = &self.ctx.0.persist {
            // No background write may land after (or race with) the final one.
            p.stop().await;
            if let Err(e) = p.flush(&self.ctx.0.state).await {
                tracing::warn!(error = %e, "final state file write failed");
            }
        }
        // Only now may another emulator take the file.
        drop(self.state_lock.take());
    }
}

/// Binds `cfg.listen` and serves in the background on the current tokio runtime.
///
/// The socket is bound before this returns, so the emulator is ready as soon as it does.
pub async fn spawn(cfg: EmulatorConfig) -> Result<EmulatorHandle, Error> {
    gate::check_faults(&cfg.faults()).map_err(Error::InvalidFaults)?;
    // Lock before reading: the state read must be the one this emulator goes on writing.
    let state_lock = match &cfg.state_file {
        Some(path) => Some(persist::lock_state_file(path)?),
        None => None,
    };
    let mut state = match &cfg.state_file {
        Some(path) => persist::load(path)?.unwrap_or_default(),
        None => State::default(),
    };
    seed_control_planes(&mut state, &cfg.control_planes);

    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .map_err(|source| Error::Bind {
            addr: cfg.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| Error::Bind {
        addr: cfg.listen,
        source,
    })?;

    let persist = cfg.state_file.clone().map(persist::Persister::new);
    let ctx = Ctx(Arc::new(Inner {
        state: Mutex::new(state),
        gate: Gate::new(cfg.faults(), cfg.seed, cfg.tokens.clone())
            .with_read_only_tokens(cfg.read_only_tokens.clone()),
        persist,
        cfg,
    }));
    if let Some(p) = &ctx.0.persist {
        p.start(&ctx);
        // Write once at start so the file reflects the seeded control planes.
        p.mark_dirty();
    }

    let app = api::router(ctx.clone());
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        axum::serve(
            conn::KillableListener(listener),
            app.into_make_service_with_connect_info::<conn::ConnTag>(),
        )
        .with_graceful_shutdown(async move {
            let _ = stop_rx.await;
        })
        .await
    });
    tracing::info!(%addr, "konnect emulator listening");
    Ok(EmulatorHandle {
        addr,
        ctx,
        stop: Some(stop_tx),
        task,
        state_lock,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_state_file_writer_ends_with_the_emulator_and_flushes_last() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let handle = spawn(EmulatorConfig {
            state_file: Some(path.clone()),
            control_planes: vec!["a".into()],
            ..EmulatorConfig::default()
        })
        .await
        .unwrap();
        let weak = Arc::downgrade(&handle.ctx.0);
        // A change inside the debounce window: only the final flush can have written it.
        seed_control_planes(&mut lock(&handle.ctx.0.state), &["late".to_string()]);
        handle.ctx.changed();
        handle.shutdown().await;
        let saved = persist::load(&path).unwrap().unwrap();
        assert!(saved.find_by_name("late").is_some());
        // Nothing (the writer task in particular) keeps the emulator's state alive.
        for _ in 0..50 {
            if weak.upgrade().is_none() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(
            weak.upgrade().is_none(),
            "the shared state outlived shutdown"
        );
        // And no write lands after shutdown.
        let before = std::fs::read(&path).unwrap();
        tokio::time::sleep(persist::DEBOUNCE * 2).await;
        assert_eq!(std::fs::read(&path).unwrap(), before);
    }
}
