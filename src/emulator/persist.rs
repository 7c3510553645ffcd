//! The optional state file: loaded at start, rewritten after changes.
//!
//! Owns only file I/O. Writes are debounced (a burst of requests costs one write) and atomic
//! (write a sibling temp file, then rename), so a `kill -9` leaves either the old or the new
//! state, never half of one.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::state::State;
use super::{Ctx, Error, Inner, lock};

/// How long to wait after a change for more changes before writing.
pub(crate) const DEBOUNCE: Duration = Duration::from_millis(200);

/// Reads the state file; `Ok(None)` when it does not exist yet.
pub fn load(path: &Path) -> Result<Option<State>, Error> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|source| Error::StateParse {
                path: path.to_path_buf(),
                source,
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(Error::StateRead {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// The lock file of a state file: `<state file>.lock`, beside it. The state file itself is
/// replaced on every write (rename), so a lock on it would not outlive the first write.
pub fn lock_path(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(".lock");
    PathBuf::from(p)
}

/// Takes the exclusive lock of a state file for as long as the returned file is open, so a
/// second emulator started on the same file refuses to start instead of one of them silently
/// overwriting the other's state. The lock is the operating system's (`flock` on Unix): a
/// crashed emulator releases it with its process.
pub fn lock_state_file(path: &Path) -> Result<std::fs::File, Error> {
    let lock = lock_path(path);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock)
        .map_err(|source| Error::StateRead {
            path: lock.clone(),
            source,
        })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(Error::StateLocked {
            path: path.to_path_buf(),
            lock,
        }),
        Err(std::fs::TryLockError::Error(source)) => Err(Error::StateRead { path: lock, source }),
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let err = |source| Error::StateWrite {
        path: path.to_path_buf(),
        source,
    };
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, bytes).map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}

/// Serialises the state under its lock (fast), so the slow write can happen without it.
fn snapshot(path: &Path, state: &Mutex<State>) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(&*lock(state)).map_err(|e| Error::StateWrite {
        path: path.to_path_buf(),
        source: std::io::Error::other(e),
    })
}

/// Writes `bytes` on the blocking pool: file I/O must not stall a runtime thread that serves
/// requests.
async fn write_in_background(path: PathBuf, bytes: Vec<u8>) -> Result<(), Error> {
    let p = path.clone();
    tokio::task::spawn_blocking(move || write_atomically(&p, &bytes))
        .await
        .map_err(|e| Error::StateWrite {
            path,
            source: std::io::Error::other(e),
        })?
}

/// Writes the state file in the background when told the state changed.
///
/// The writer task holds only a [`Weak`] reference to the shared state, so it never keeps the
/// emulator alive; [`Persister::stop`] ends it (and waits for a write in progress), after
/// which only the final [`Persister::flush`] writes.
pub struct Persister {
    path: PathBuf,
    dirty: Arc<Notify>,
    stop: Arc<Notify>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Persister {
    pub fn new(path: PathBuf) -> Persister {
        Persister {
            path,
            dirty: Arc::new(Notify::new()),
            stop: Arc::new(Notify::new()),
            task: Mutex::new(None),
        }
    }

    pub fn mark_dirty(&self) {
        self.dirty.notify_one();
    }

    /// Starts the debounced writer on the current runtime.
    pub(crate) fn start(&self, ctx: &Ctx) {
        let inner: Weak<Inner> = Arc::downgrade(&ctx.0);
        let (dirty, stop, path) = (self.dirty.clone(), self.stop.clone(), self.path.clone());
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = dirty.notified() => {}
                    () = stop.notified() => return,
                }
                tokio::select! {
                    () = tokio::time::sleep(DEBOUNCE) => {}
                    () = stop.notified() => return,
                }
                // The emulator is gone: nothing left to write.
                let Some(inner) = inner.upgrade() else { return };
                let bytes = snapshot(&path, &inner.state);
                drop(inner);
                let written = match bytes {
                    Ok(bytes) => write_in_background(path.clone(), bytes).await,
                    Err(e) => Err(e),
                };
                if let Err(e) = written {
                    tracing::warn!(error = %e, "state file write failed");
                }
            }
        });
        *lock(&self.task) = Some(task);
    }

    /// Ends the background writer and waits for a write it has started.
    pub async fn stop(&self) {
        self.stop.notify_one();
        let task = lock(&self.task).take();
        if let Some(task) = task
            && let Err(e) = task.await
        {
            tracing::warn!(error = %e, "state file writer ended abnormally");
        }
    }

    /// Writes the current state now.
    pub async fn flush(&self, state: &Mutex<State>) -> Result<(), Error> {
        let bytes = snapshot(&self.path, state)?;
        write_in_background(self.path.clone(), bytes).await
    }
}
