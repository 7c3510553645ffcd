//! Deterministic entity ids, computed exactly as go-kong's `FillID` does, so the entities we
//! write line up with those KIC (and decK) would write for the same names.
//!
//! Scheme: base namespace `fd02801f-0957-4a15-a55a-c8d9606f30b5`; per-type namespace =
//! UUIDv5(base, plural); id = UUIDv5(type namespace, key). No workspace prefix in Konnect.

use std::sync::LazyLock;

use uuid::Uuid;

use crate::konnect::models::EntityId;

/// go-kong's base namespace for generated ids.
const BASE_NAMESPACE: Uuid = Uuid::from_u128(0xfd02801f_0957_4a15_a55a_c8d9606f30b5);

/// The per-type namespace, UUIDv5(base, plural).
fn type_namespace(plural: &str) -> Uuid {
    Uuid::new_v5(&BASE_NAMESPACE, plural.as_bytes())
}

// Per-type namespaces, computed once: translation makes thousands of ids per run.
static SERVICES: LazyLock<Uuid> = LazyLock::new(|| type_namespace("services"));
static ROUTES: LazyLock<Uuid> = LazyLock::new(|| type_namespace("routes"));
static CONSUMERS: LazyLock<Uuid> = LazyLock::new(|| type_namespace("consumers"));
static CONSUMER_GROUPS: LazyLock<Uuid> = LazyLock::new(|| type_namespace("consumergroups"));
static PLUGINS: LazyLock<Uuid> = LazyLock::new(|| type_namespace("plugins"));

fn id_for(namespace: &Uuid, key: &str) -> EntityId {
    Uuid::new_v5(namespace, key.as_bytes()).into()
}

/// Id of a service from its name.
pub fn service_id(name: &str) -> EntityId {
    id_for(&SERVICES, name)
}

/// Id of a route from its name.
pub fn route_id(name: &str) -> EntityId {
    id_for(&ROUTES, name)
}

/// Id of a consumer from its username (or custom_id when it has no username).
pub fn consumer_id(username: &str) -> EntityId {
    id_for(&CONSUMERS, username)
}

/// Id of a consumer group from its name.
pub fn consumer_group_id(name: &str) -> EntityId {
    id_for(&CONSUMER_GROUPS, name)
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
    id_for(&PLUGINS, &plugin_key(plugin, parents))
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
    fn cached_namespaces_are_go_kongs() {
        // UUIDv5(base, plural) computed afresh, against the cached value behind each id.
        for (plural, id) in [
            ("services", service_id("x")),
            ("routes", route_id("x")),
            ("consumers", consumer_id("x")),
            ("consumergroups", consumer_group_id("x")),
            ("plugins", plugin_id("x", &PluginParents::default())),
        ] {
            let fresh: EntityId = Uuid::new_v5(&type_namespace(plural), b"x").into();
            assert_eq!(id, fresh, "{plural}");
        }
    }

    #[test]
    fn ids_differ_by_type() {
        assert_ne!(service_id("x"), route_id("x"));
        assert_ne!(consumer_id("x"), consumer_group_id("x"));
    }
}
