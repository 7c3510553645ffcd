//! PURE. `--parent-mode reference`: someone else (KIC's own Konnect sync, decK, Terraform)
//! manages services, routes, consumers and consumer groups; we only attach plugins to them.
//!
//! A plugin's parent is found in Konnect by its KIC-compatible id (the same go-kong UUIDv5 we
//! would have written), else by name; the plugin's foreign key then names what Konnect holds.
//! A plugin whose parent Konnect does not hold is held back (an existing copy stays as it is)
//! and reported Pending on its KongPlugin.

use std::collections::BTreeMap;

use crate::konnect::models::{Consumer, ConsumerGroup, EntityId, ForeignKey, Route, Service};
use crate::translate::DesiredState;

/// The parent entities Konnect holds, whoever wrote them: by id, and id by name.
#[derive(Clone, Debug, Default)]
pub struct Parents {
    pub services: Lookup,
    pub routes: Lookup,
    pub consumers: Lookup,
    pub consumer_groups: Lookup,
}

/// Ids, and names to ids.
#[derive(Clone, Debug, Default)]
pub struct Lookup {
    pub ids: std::collections::BTreeSet<EntityId>,
    pub by_name: BTreeMap<String, EntityId>,
}

impl Lookup {
    fn add(&mut self, id: Option<EntityId>, name: Option<&str>) {
        if let Some(id) = id {
            self.ids.insert(id);
            if let Some(name) = name {
                self.by_name.entry(name.to_owned()).or_insert(id);
            }
        }
    }

    /// The id Konnect holds for a parent we know by `id` and `name`.
    fn find(&self, id: EntityId, name: Option<&str>) -> Option<EntityId> {
        if self.ids.contains(&id) {
            return Some(id);
        }
        name.and_then(|n| self.by_name.get(n).copied())
    }
}

impl Parents {
    pub fn new(
        services: &[Service],
        routes: &[Route],
        consumers: &[Consumer],
        groups: &[ConsumerGroup],
    ) -> Self {
        let mut p = Self::default();
        services
            .iter()
            .for_each(|e| p.services.add(e.id, e.name.as_deref()));
        routes
            .iter()
            .for_each(|e| p.routes.add(e.id, e.name.as_deref()));
        consumers
            .iter()
            .for_each(|e| p.consumers.add(e.id, e.username.as_deref()));
        groups
            .iter()
            .for_each(|e| p.consumer_groups.add(e.id, Some(&e.name)));
        p
    }
}

/// Desired state for reference mode: only plugins, their foreign keys pointing at what Konnect
/// holds. Returns the plugins held back for a missing parent, with the reason.
pub fn plugins_only(
    desired: &DesiredState,
    parents: &Parents,
) -> (DesiredState, BTreeMap<EntityId, String>) {
    let names = |list: Vec<(Option<EntityId>, Option<String>)>| -> BTreeMap<EntityId, String> {
        list.into_iter()
            .filter_map(|(id, n)| Some((id?, n?)))
            .collect()
    };
    let service_names = names(
        desired
            .services
            .iter()
            .map(|e| (e.id, e.name.clone()))
            .collect(),
    );
    let route_names = names(
        desired
            .routes
            .iter()
            .map(|e| (e.id, e.name.clone()))
            .collect(),
    );
    let consumer_names = names(
        desired
            .consumers
            .iter()
            .map(|e| (e.id, e.username.clone()))
            .collect(),
    );
    let group_names = names(
        desired
            .consumer_groups
            .iter()
            .map(|e| (e.id, Some(e.name.clone())))
            .collect(),
    );
    let mut out = DesiredState {
        results: desired.results.clone(),
        secret_fields: desired.secret_fields.clone(),
        held: desired.held.clone(),
        ..DesiredState::default()
    };
    let mut missing = BTreeMap::new();
    for plugin in &desired.plugins {
        let mut p = plugin.clone();
        let mut lacking = Vec::new();
        let mut resolve = |fk: &mut Option<ForeignKey>,
                           lookup: &Lookup,
                           names: &BTreeMap<EntityId, String>,
                           what: &str| {
            if let Some(key) = fk.as_mut() {
                let name = names.get(&key.id).map(String::as_str);
                match lookup.find(key.id, name) {
                    Some(found) => key.id = found,
                    None => lacking.push(format!("{what} {} ({})", name.unwrap_or("?"), key.id)),
                }
            }
        };
        resolve(&mut p.service, &parents.services, &service_names, "service");
        resolve(&mut p.route, &parents.routes, &route_names, "route");
        resolve(
            &mut p.consumer,
            &parents.consumers,
            &consumer_names,
            "consumer",
        );
        resolve(
            &mut p.consumer_group,
            &parents.consumer_groups,
            &group_names,
            "consumer group",
        );
        let Some(id) = p.id else { continue };
        if lacking.is_empty() {
            out.plugins.push(p);
        } else {
            out.held.insert(id);
            missing.insert(
                id,
                format!(
                    "parent mode reference: Konnect holds no {} (by id or name) to attach plugin {} to",
                    lacking.join(", "),
                    p.name
                ),
            );
        }
    }
    (out, missing)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::konnect::models::Plugin;

    fn id(n: u128) -> EntityId {
        EntityId::from(uuid::Uuid::from_u128(n))
    }

    #[test]
    fn parents_are_found_by_id_then_by_name_else_the_plugin_is_held() {
        let desired = DesiredState {
            services: vec![
                Service {
                    id: Some(id(1)),
                    name: Some("default.echo.80".into()),
                    ..Service::default()
                },
                Service {
                    id: Some(id(2)),
                    name: Some("default.billing.80".into()),
                    ..Service::default()
                },
                Service {
                    id: Some(id(3)),
                    name: Some("default.gone.80".into()),
                    ..Service::default()
                },
            ],
            plugins: (1..=3)
                .map(|n| Plugin {
                    id: Some(id(10 + n)),
                    name: "cors".into(),
                    service: Some(ForeignKey::new(id(n))),
                    ..Plugin::default()
                })
                .collect(),
            ..DesiredState::default()
        };
        // Konnect holds echo under our id, billing under another id (written by decK).
        let konnect = Parents::new(
            &[
                Service {
                    id: Some(id(1)),
                    name: Some("default.echo.80".into()),
                    ..Service::default()
                },
                Service {
                    id: Some(id(99)),
                    name: Some("default.billing.80".into()),
                    ..Service::default()
                },
            ],
            &[],
            &[],
            &[],
        );
        let (out, missing) = plugins_only(&desired, &konnect);
        assert!(out.services.is_empty(), "parents are never written");
        let fks: Vec<EntityId> = out
            .plugins
            .iter()
            .map(|p| p.service.as_ref().unwrap().id)
            .collect();
        assert_eq!(fks, vec![id(1), id(99)]);
        assert!(out.held.contains(&id(13)));
        assert!(missing[&id(13)].contains("default.gone.80"), "{missing:?}");
    }
}
