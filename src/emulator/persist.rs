//! The optional state file: loaded at start, rewritten after changes.
//!
//! Owns only file I/O. Writes are debounced (a burst of requests costs one write) and atomic
//! (write a sibling temp file, then rename), so a `kill -9` leaves either the old or the new
//! state, never half of one.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

use super::state::State;
use super::{Ctx, Error, lock};

/// How long to wait after a change for more changes before writing.
const DEBOUNCE: Duration = Duration::from_millis(200);

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

/// Writes the state file in the background when told the state changed.
pub struct Persister {
    path: PathBuf,
    dirty: Arc<Notify>,
    /// Serialises writers (the background task and the final flush).
    writing: Mutex<()>,
}

impl Persister {
    pub fn new(path: PathBuf) -> Persister {
        Persister {
            path,
            dirty: Arc::new(Notify::new()),
            writing: Mutex::new(()),
        }
    }

    pub fn mark_dirty(&self) {
        self.dirty.notify_one();
    }

    /// Starts the debounced writer on the current runtime.
    pub fn start(&self, ctx: Ctx) {
        let dirty = self.dirty.clone();
        tokio::spawn(async move {
            loop {
                dirty.notified().await;
                tokio::time::sleep(DEBOUNCE).await;
                let Some(p) = &ctx.0.persist else { return };
                if let Err(e) = p.flush(&ctx.0.state) {
                    tracing::warn!(error = %e, "state file write failed");
                }
            }
        });
    }

    /// Writes the current state now.
    pub fn flush(&self, state: &Mutex<State>) -> Result<(), Error> {
        let _guard = lock(&self.writing);
        // Serialise under the state lock (fast), write outside it (slow).
        let bytes = serde_json::to_vec(&*lock(state)).map_err(|e| Error::StateWrite {
            path: self.path.clone(),
            source: std::io::Error::other(e),
        })?;
        write_atomically(&self.path, &bytes)
    }
}
