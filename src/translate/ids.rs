//! Deterministic entity ids, computed exactly as go-kong's `FillID` does, so the entities we
//! write line up with those KIC (and decK) would write for the same names.
//!
//! Scheme: base namespace `fd02801f-0957-4a15-a55a-c8d9606f30b5`; per-type namespace =
//! UUIDv5(base, plural); id = UUIDv5(type namespace, key). No workspace prefix in Konnect.

use uuid::Uuid;

use crate::konnect::models::EntityId;

/// go-kong's base namespace for generated ids.
const BASE_NAMESPACE: Uuid = Uuid::from_u128(0xfd02801f_0957_4a15_a55a_c8d9606f30b5);

fn id_for(plural: &str, key: &str) -> EntityId {
    let namespace = Uuid::new_v5(&BASE_NAMESPACE, plural.as_bytes());
    Uuid::new_v5(&namespace, key.as_bytes()).into()
}

/// Id of a service from its name.
pub fn service_id(name: &str) -> EntityId {
    id_for("services", name)
}

/// Id of a route from its name.
pub fn route_id(name: &str) -> EntityId {
    id_for("routes", name)
}

/// Id of a consumer from its username (or custom_id when it has no username).
pub fn consumer_id(username: &str) -> EntityId {
    id_for("consumers", username)
}

/// Id of a consumer group from its name.
pub fn consumer_group_id(name: &str) -> EntityId {
    id_for("consumergroups", name)
}

/// The parents of a plugin instance, by the parents' names.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PluginParents {
    pub service: Option<String>,
    pub route: Option<String>,
    pub consumer: Option<String>,
    pub consumer_group: Option<String>,
}

/// The key go-kong hashes for a plugin: its name, then `:service/<n>`, `:route/<n>`,
/// `:consumer/<n>`, `:consumer_group/<n>` for the parents present.
pub fn plugin_key(plugin: &str, parents: &PluginParents) -> String {
    let mut key = plugin.to_owned();
    for (label, value) in [
        ("service", &parents.service),
        ("route", &parents.route),
        ("consumer", &parents.consumer),
        ("consumer_group", &parents.consumer_group),
    ] {
        if let Some(v) = value {
            key.push(':');
            key.push_str(label);
            key.push('/');
            key.push_str(v);
        }
    }
    key
}

/// Id of a plugin instance.
pub fn plugin_id(plugin: &str, parents: &PluginParents) -> EntityId {
    id_for("plugins", &plugin_key(plugin, parents))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_key_lists_present_parents_in_order() {
        let parents = PluginParents {
            route: Some("r".into()),
            consumer: Some("c".into()),
            ..Default::default()
        };
        assert_eq!(plugin_key("acl", &parents), "acl:route/r:consumer/c");
        assert_eq!(plugin_key("acl", &PluginParents::default()), "acl");
    }

    #[test]
    fn ids_differ_by_type() {
        assert_ne!(service_id("x"), route_id("x"));
        assert_ne!(consumer_id("x"), consumer_group_id("x"));
    }
}
