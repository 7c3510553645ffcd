//! Schemas for plugins we do not embed, fetched from Konnect once and kept.
//!
//! The cache does no I/O itself: the caller passes the fetch (the Konnect client's
//! `GET schemas/plugins/{name}`) as a closure, so this stays testable without a server and the
//! client module stays the only one that talks HTTP.

use std::collections::HashMap;
use std::future::Future;

use serde_json::Value;
use tokio::sync::RwLock;

use super::{PluginSchema, Registry};

/// What the cache remembers for a fetched name.
#[derive(Clone, Debug)]
enum Entry {
    Schema(PluginSchema),
    /// Konnect does not know the plugin (or served a schema we cannot read): remembered so a
    /// sync pass does not ask again for every object; [`SchemaCache::forget`] clears it.
    Absent,
}

/// Embedded schemas first, then schemas fetched on demand.
#[derive(Debug)]
pub struct SchemaCache {
    embedded: Registry,
    fetched: RwLock<HashMap<String, Entry>>,
}

impl Default for SchemaCache {
    fn default() -> Self {
        SchemaCache::new(Registry::embedded())
    }
}

impl SchemaCache {
    pub fn new(embedded: Registry) -> SchemaCache {
        SchemaCache {
            embedded,
            fetched: RwLock::new(HashMap::new()),
        }
    }

    /// The schema for `name`: embedded, cached, or fetched with `fetch` (which returns the
    /// schema JSON, or `None` when Konnect answers 404). A schema that does not parse is logged
    /// and treated as absent, so the plugin is left to Konnect's own validation.
    pub async fn get_or_fetch<F, Fut, E>(
        &self,
        name: &str,
        fetch: F,
    ) -> Result<Option<PluginSchema>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<Value>, E>>,
    {
        if let Some(s) = self.embedded.get(name) {
            return Ok(Some(s.clone()));
        }
        if let Some(entry) = self.fetched.read().await.get(name) {
            return Ok(match entry {
                Entry::Schema(s) => Some(s.clone()),
                Entry::Absent => None,
            });
        }
        // Errors (network, 5xx) are not cached: the next pass tries again.
        let fetched = fetch().await?;
        let entry = match fetched.map(|v| PluginSchema::from_konnect_json(&v)) {
            Some(Ok(s)) => Entry::Schema(s),
            Some(Err(error)) => {
                tracing::warn!(plugin = name, %error, "Konnect plugin schema not understood; left to Konnect");
                Entry::Absent
            }
            None => Entry::Absent,
        };
        self.fetched
            .write()
            .await
            .insert(name.to_owned(), entry.clone());
        Ok(match entry {
            Entry::Schema(s) => Some(s),
            Entry::Absent => None,
        })
    }

    /// The schema for `name` if embedded or already cached; never fetches.
    pub async fn get_cached(&self, name: &str) -> Option<PluginSchema> {
        if let Some(s) = self.embedded.get(name) {
            return Some(s.clone());
        }
        match self.fetched.read().await.get(name) {
            Some(Entry::Schema(s)) => Some(s.clone()),
            _ => None,
        }
    }

    /// Drops what was cached for `name` (e.g. after a Konnect upgrade), so the next call fetches.
    pub async fn forget(&self, name: &str) {
        self.fetched.write().await.remove(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn schema() -> Value {
        json!({"fields": [{"config": {"type": "record", "required": true,
            "fields": [{"level": {"type": "integer", "between": [1, 3], "default": 2}}]}}]})
    }

    #[tokio::test]
    async fn fetches_once_and_validates_with_the_fetched_schema() {
        let cache = SchemaCache::default();
        let calls = AtomicUsize::new(0);
        for _ in 0..3 {
            let got = cache
                .get_or_fetch("my-plugin", || async {
                    calls.fetch_add(1, Ordering::SeqCst);
                    Ok::<_, std::io::Error>(Some(schema()))
                })
                .await
                .expect("fetch ok")
                .expect("schema present");
            assert_eq!(got.validate(&json!({})), Ok(json!({"level": 2})));
            let errs = got.validate(&json!({"level": 9})).err().unwrap_or_default();
            assert_eq!(
                errs[0].to_string(),
                "config.level: value should be between 1 and 3"
            );
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn embedded_never_fetches_and_errors_are_not_cached() {
        let cache = SchemaCache::default();
        let got = cache
            .get_or_fetch("session", || async {
                Err::<Option<Value>, _>("must not be called")
            })
            .await;
        assert!(matches!(got, Ok(Some(_))));
        let err = cache
            .get_or_fetch("x", || async { Err::<Option<Value>, _>("boom") })
            .await;
        assert_eq!(err.err(), Some("boom"));
        let later = cache
            .get_or_fetch("x", || async { Ok::<_, &str>(None) })
            .await;
        assert!(matches!(later, Ok(None)));
        assert!(cache.get_cached("x").await.is_none());
    }
}
