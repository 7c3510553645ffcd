//! The output of translation: what Konnect should hold, in Konnect's request-body shapes, and
//! the outcome for every source object.
//!
//! Plugin configurations hold their REAL values, Secret-derived ones included (the controller
//! sends them to Konnect); [`DesiredState::secret_fields`] says which ones came from Secrets, so
//! that whatever shows a plugin to a person hides them ([`DesiredState::redacted_plugin`]).
//! Debug output is redacted.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::konnect::models::{
    Consumer, ConsumerGroup, ConsumerGroupMembership, EntityId, Plugin, Route, Service,
};

use super::redact::{self, SecretField};
use super::result::ObjectResult;
use super::tags::{self, HASH_PREFIX};

/// The desired Konnect state of one control plane. Every entity has its id and tags set;
/// every list is sorted by id (memberships by group then consumer; results by kind,
/// namespace and name).
#[derive(Clone, Default, PartialEq)]
pub struct DesiredState {
    pub services: Vec<Service>,
    pub routes: Vec<Route>,
    pub consumers: Vec<Consumer>,
    pub consumer_groups: Vec<ConsumerGroup>,
    pub memberships: Vec<ConsumerGroupMembership>,
    pub plugins: Vec<Plugin>,
    pub results: Vec<ObjectResult>,
    /// Plugin id -> the values of its `config` that came from a Secret (`configFrom`: all of
    /// them; `configPatches`: those each patch added), sorted by pointer. Plugins without any
    /// are absent. Never print a plugin's config without applying these.
    pub secret_fields: BTreeMap<EntityId, Vec<SecretField>>,
    /// Fail closed: the ids of the entities held back because their source object names a
    /// plugin that is missing, not permitted or Invalid (or because they derive from such an
    /// entity): services, routes, consumers, consumer groups and plugin instances (including
    /// the instances an Invalid plugin would have had, and an Invalid global plugin's global
    /// instance). None of them is in the lists above. The controller keeps exactly what
    /// Konnect holds for each (no PUT, no DELETE) and never creates one. Memberships are not
    /// listed: those whose consumer or group is held are left out of `memberships`, and the
    /// controller keeps them.
    pub held: BTreeSet<EntityId>,
}

/// Debug prints plugins with their Secret-derived values redacted.
impl fmt::Debug for DesiredState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plugins: Vec<Plugin> = self
            .plugins
            .iter()
            .map(|p| self.redacted_plugin(p))
            .collect();
        f.debug_struct("DesiredState")
            .field("services", &self.services)
            .field("routes", &self.routes)
            .field("consumers", &self.consumers)
            .field("consumer_groups", &self.consumer_groups)
            .field("memberships", &self.memberships)
            .field("plugins", &plugins)
            .field("results", &self.results)
            .field("secret_fields", &self.secret_fields)
            .field("held", &self.held)
            .finish()
    }
}

impl DesiredState {
    /// True when any source object is Invalid.
    pub fn any_invalid(&self) -> bool {
        self.results.iter().any(ObjectResult::is_invalid)
    }

    /// True when any entity is held back (see [`Self::held`]).
    pub fn any_held(&self) -> bool {
        !self.held.is_empty()
    }

    /// Number of Konnect entities (memberships included).
    pub fn entity_count(&self) -> usize {
        self.services.len()
            + self.routes.len()
            + self.consumers.len()
            + self.consumer_groups.len()
            + self.memberships.len()
            + self.plugins.len()
    }

    /// The Secret-derived values of a plugin's config (empty when none, or for a plugin this
    /// state does not hold).
    pub fn secret_fields_of(&self, plugin: &Plugin) -> &[SecretField] {
        plugin
            .id
            .as_ref()
            .and_then(|id| self.secret_fields.get(id))
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// A copy of `plugin` fit to show a person: each Secret-derived value replaced by
    /// `"<redacted: Secret <ns>/<name> key <key>>"`, and its `kpo-hash:` tag by
    /// `kpo-hash:<redacted>` (the hash of the real config could confirm a guessed low-entropy
    /// secret). Plugins without Secret-derived values come back unchanged. Also use it for an
    /// observed plugin with the same id (its config holds the same secrets).
    pub fn redacted_plugin(&self, plugin: &Plugin) -> Plugin {
        let fields = self.secret_fields_of(plugin);
        if fields.is_empty() {
            return plugin.clone();
        }
        Plugin {
            config: redact::redact_config(&plugin.config, fields),
            tags: plugin.tags.as_ref().map(|tags| {
                tags.iter()
                    .map(|t| {
                        if t.starts_with(HASH_PREFIX) {
                            tags::redacted_hash_tag()
                        } else {
                            t.clone()
                        }
                    })
                    .collect()
            }),
            ..plugin.clone()
        }
    }

    /// Number of Secret-derived values over all plugins.
    pub fn secret_value_count(&self) -> usize {
        redact::count(&self.secret_fields)
    }

    /// Sorts every list into its canonical order.
    pub(crate) fn sort(&mut self) {
        // Stable sorts by a small key; `sort_by_cached_key` sorts (key, index) pairs and then
        // moves each (large) entity once, instead of moving entities at every step.
        self.services.sort_by_cached_key(|e| e.id);
        self.routes.sort_by_cached_key(|e| e.id);
        self.consumers.sort_by_cached_key(|e| e.id);
        self.consumer_groups.sort_by_cached_key(|e| e.id);
        self.memberships.sort();
        self.plugins.sort_by_cached_key(|e| e.id);
    }
}
