//! The whole emulated organisation: control planes, each with its [`CoreStore`].
//!
//! Owns the control-plane objects of the Konnect-native API (their JSON shape and name
//! uniqueness) and the serialisable snapshot the state file holds. Pure like the store.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::store::CoreStore;

/// One control plane: its Konnect-native description and its core entities.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ControlPlane {
    pub seq: u64,
    /// The control plane as `GET /v2/control-planes/{id}` returns it.
    pub meta: Map<String, Value>,
    pub core: CoreStore,
}

impl ControlPlane {
    pub fn name(&self) -> &str {
        self.meta
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }
}

/// Everything the emulator stores; what the state file holds.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct State {
    next_seq: u64,
    pub control_planes: BTreeMap<String, ControlPlane>,
}

/// The outcome of [`State::update`].
#[derive(Clone, Debug, PartialEq)]
pub enum Update {
    /// The control plane as it now is.
    Updated(Value),
    NotFound,
    /// Another control plane has the new name.
    NameTaken,
}

/// The settable fields of a new control plane (`CreateControlPlaneRequest`).
#[derive(Clone, Debug, Default)]
pub struct NewControlPlane {
    pub name: String,
    pub description: String,
    pub cluster_type: String,
    pub auth_type: String,
    pub cloud_gateway: bool,
    pub proxy_urls: Value,
    pub labels: Value,
}

impl NewControlPlane {
    pub fn named(name: &str) -> Self {
        NewControlPlane {
            name: name.to_string(),
            cluster_type: "CLUSTER_TYPE_CONTROL_PLANE".into(),
            auth_type: "pinned_client_certs".into(),
            proxy_urls: json!([]),
            labels: json!({}),
            ..NewControlPlane::default()
        }
    }
}

/// Control planes named at start-up get ids derived from their names, so that a demo, a state
/// file and a test all agree on the id of "default" without asking.
pub fn startup_id(name: &str) -> String {
    uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_OID,
        format!("konnect-emulator/control-plane/{name}").as_bytes(),
    )
    .to_string()
}

impl State {
    pub fn find_by_name(&self, name: &str) -> Option<&ControlPlane> {
        self.control_planes.values().find(|cp| cp.name() == name)
    }

    /// Adds a control plane; `None` when the name is taken.
    pub fn create(&mut self, id: String, new: NewControlPlane, now_rfc3339: &str) -> Option<Value> {
        if self.find_by_name(&new.name).is_some() {
            return None;
        }
        self.next_seq += 1;
        let compact = id.replace('-', "");
        // Ids are UUIDs (32 hex digits); a shorter one is used whole rather than panicking.
        let short = compact.get(..10).unwrap_or(&compact);
        let meta = json!({
            "id": id,
            "name": new.name,
            "description": new.description,
            "labels": new.labels,
            "config": {
                "control_plane_endpoint": format!("https://{short}.us.cp.konghq.com"),
                "telemetry_endpoint": format!("https://{short}.us.tp0.konghq.com"),
                "cluster_type": new.cluster_type,
                "auth_type": new.auth_type,
                "cloud_gateway": new.cloud_gateway,
                "proxy_urls": new.proxy_urls,
            },
            "created_at": now_rfc3339,
            "updated_at": now_rfc3339,
        });
        let Value::Object(meta) = meta else {
            return None;
        };
        self.control_planes.insert(
            id,
            ControlPlane {
                seq: self.next_seq,
                meta: meta.clone(),
                core: CoreStore::default(),
            },
        );
        Some(Value::Object(meta))
    }

    /// Applies an `UpdateControlPlaneRequest` (already checked) to a control plane.
    pub fn update(&mut self, id: &str, patch: &Map<String, Value>, now_rfc3339: &str) -> Update {
        if let Some(name) = patch.get("name").and_then(Value::as_str)
            && self
                .find_by_name(name)
                .is_some_and(|cp| cp.meta.get("id").and_then(Value::as_str) != Some(id))
        {
            return Update::NameTaken;
        }
        let Some(cp) = self.control_planes.get_mut(id) else {
            return Update::NotFound;
        };
        for (k, v) in patch {
            match k.as_str() {
                "auth_type" | "proxy_urls" => {
                    if let Some(Value::Object(config)) = cp.meta.get_mut("config") {
                        config.insert(k.clone(), v.clone());
                    }
                }
                _ => {
                    cp.meta.insert(k.clone(), v.clone());
                }
            }
        }
        cp.meta.insert("updated_at".into(), json!(now_rfc3339));
        Update::Updated(Value::Object(cp.meta.clone()))
    }

    /// Control planes in creation order.
    pub fn ordered(&self) -> Vec<&ControlPlane> {
        let mut v: Vec<&ControlPlane> = self.control_planes.values().collect();
        v.sort_by_key(|cp| cp.seq);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_ids_stable() {
        let mut s = State::default();
        let id = startup_id("default");
        assert_eq!(id, startup_id("default"));
        assert!(
            s.create(
                id.clone(),
                NewControlPlane::named("default"),
                "2025-01-01T00:00:00Z"
            )
            .is_some()
        );
        assert!(
            s.create(
                startup_id("x"),
                NewControlPlane::named("default"),
                "2025-01-01T00:00:00Z"
            )
            .is_none()
        );
        assert_eq!(
            s.find_by_name("default").map(|c| c.meta["id"].clone()),
            Some(json!(id))
        );
        // A short id does not panic.
        assert!(
            s.create(
                "x".into(),
                NewControlPlane::named("short"),
                "2025-01-01T00:00:00Z"
            )
            .is_some()
        );
    }
}
