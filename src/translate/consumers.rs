//! Konnect consumers from KongConsumers, consumer groups from KongConsumerGroups, and the
//! memberships KongConsumer `consumerGroups` declares. Both kinds pass KIC's class filter;
//! objects whose `controlPlaneRef` hands them to Kong's operator are left alone.
//! Names are unique in Konnect: when two objects claim one name, the older wins.
//!
//! [`build`] returns them ([`Consumers`]): groups first, as consumers name them.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

use std::collections::{BTreeMap, BTreeSet};

use super::KONG_GROUP;
use super::result::{ObjectRef, Reason, Results};
use super::{Built, Index, Referrer, ids, ns_name, source_meta};
use crate::crd::{KongConsumer, KongConsumerGroup};
use crate::konnect::models::{
    Consumer, ConsumerGroup, ConsumerGroupMembership, EntityId, ForeignKey,
};

/// The claim on a consumer's Konnect key (username, else custom_id) in the "taken" map.
const KONNECT_KEY: &str = "konnect key";

/// Sort key for "older wins": creation time (objects without one count as newest), then
/// namespace and name, so the outcome never depends on input order. Field order is the
/// comparison order.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Age {
    no_timestamp: bool,
    created: Option<Time>,
    namespace: String,
    name: String,
}

pub(crate) fn age_key(meta: &ObjectMeta) -> Age {
    let (namespace, name) = ns_name(meta);
    Age {
        no_timestamp: meta.creation_timestamp.is_none(),
        created: meta.creation_timestamp.clone(),
        namespace,
        name,
    }
}

/// The consumers step's output.
#[derive(Default)]
pub(crate) struct Consumers<'a> {
    /// Consumers keyed by their Konnect name (username, or custom_id).
    pub consumers: BTreeMap<String, (Built<Consumer>, Referrer<'a>)>,
    /// Consumer groups keyed by their Konnect name.
    pub groups: BTreeMap<String, (Built<ConsumerGroup>, Referrer<'a>)>,
    pub memberships: BTreeSet<ConsumerGroupMembership>,
}

/// The consumer groups, then the consumers with their memberships, of every KongConsumerGroup
/// and KongConsumer we serve.
pub(crate) fn build<'a>(ix: &Index<'a>, results: &mut Results) -> Consumers<'a> {
    let mut step = Step {
        ix,
        results,
        group_names: BTreeMap::new(),
        out: Consumers::default(),
    };
    step.consumer_groups();
    step.consumers();
    step.out
}

/// The step in progress.
struct Step<'s, 'a> {
    ix: &'s Index<'a>,
    results: &'s mut Results,
    /// KongConsumerGroup (namespace, object name) -> Konnect group name.
    group_names: BTreeMap<(String, String), String>,
    out: Consumers<'a>,
}

impl<'a> Step<'_, 'a> {
    fn consumer_groups(&mut self) {
        let mut groups: Vec<&KongConsumerGroup> = self
            .ix
            .consumer_groups
            .values()
            .copied()
            .filter(|g| !g.is_konnect_owned() && self.ix.class_ok(g.metadata.annotations.as_ref()))
            .collect();
        groups.sort_by_key(|g| age_key(&g.metadata));
        for group in groups {
            let key = self.results.track("KongConsumerGroup", &group.metadata);
            let spec = group.spec.as_ref();
            let name = spec
                .and_then(|s| s.name.clone())
                .filter(|n| !n.is_empty())
                .or_else(|| group.metadata.name.clone())
                .unwrap_or_default();
            if let Some((_, other)) = self.out.groups.get(&name) {
                let other = other.key.clone();
                self.results.error(
                    &key,
                    Reason::Conflict,
                    format!("name: consumer group {name:?} is already declared by {other}, which is older and wins"),
                );
                continue;
            }
            let extra = spec.and_then(|s| s.tags.clone()).unwrap_or_default();
            let source = source_meta(
                "KongConsumerGroup",
                KONG_GROUP,
                "v1beta1",
                &group.metadata,
                &extra,
            );
            let (namespace, obj_name) = ns_name(&group.metadata);
            self.group_names
                .insert((namespace.clone(), obj_name), name.clone());
            let entity = ConsumerGroup {
                id: Some(ids::consumer_group_id(&name)),
                name: name.clone(),
                ..Default::default()
            };
            let referrer = Referrer::kong(&key, namespace, &group.metadata);
            self.out.groups.insert(
                name,
                (
                    Built {
                        entity,
                        source,
                        origin: key,
                    },
                    referrer,
                ),
            );
        }
    }

    fn consumers(&mut self) {
        let mut consumers: Vec<&KongConsumer> = self
            .ix
            .consumers
            .values()
            .copied()
            .filter(|c| !c.is_konnect_owned() && self.ix.class_ok(c.metadata.annotations.as_ref()))
            .collect();
        consumers.sort_by_key(|c| age_key(&c.metadata));
        // (field, value) -> the object that claimed it first; a map keeps this O(n log n).
        // Besides Konnect's own unique fields (username, custom_id), the Konnect key (username,
        // else custom_id) is claimed too: it gives the consumer's name in our maps and its id,
        // so a username "x" and another object's lone custom_id "x" would be one entity.
        let mut taken: BTreeMap<(&'static str, String), ObjectRef> = BTreeMap::new();
        for consumer in consumers {
            self.consumer(consumer, &mut taken);
        }
    }

    fn consumer(
        &mut self,
        consumer: &'a KongConsumer,
        taken: &mut BTreeMap<(&'static str, String), ObjectRef>,
    ) {
        let key = self.results.track("KongConsumer", &consumer.metadata);
        let username = consumer.username.clone().filter(|u| !u.is_empty());
        let custom_id = consumer.custom_id.clone().filter(|c| !c.is_empty());
        let Some(konnect_name) = username.clone().or_else(|| custom_id.clone()) else {
            self.results.error(
                &key,
                Reason::InvalidSpec,
                "username: a username or a custom_id is required",
            );
            return;
        };
        if !self.claim(&key, &username, &custom_id, &konnect_name, taken) {
            return;
        }
        if consumer.credentials.as_ref().is_some_and(|c| !c.is_empty()) {
            self.results.warn(
                &key,
                "credentials: not synced by this operator; manage credentials in Konnect",
            );
        }
        let (namespace, _) = ns_name(&consumer.metadata);
        let id = ids::consumer_id(&konnect_name);
        self.memberships(&key, &namespace, id, consumer);
        let extra = consumer
            .spec
            .as_ref()
            .and_then(|s| s.tags.clone())
            .unwrap_or_default();
        let source = source_meta("KongConsumer", KONG_GROUP, "v1", &consumer.metadata, &extra);
        let entity = Consumer {
            id: Some(id),
            username,
            custom_id,
            ..Default::default()
        };
        let referrer = Referrer::kong(&key, namespace, &consumer.metadata);
        self.out.consumers.insert(
            konnect_name,
            (
                Built {
                    entity,
                    source,
                    origin: key,
                },
                referrer,
            ),
        );
    }

    /// Claims a consumer's unique values in `taken`: its username, custom_id and Konnect key
    /// (`konnect_name`). When an older consumer holds one, reports the conflict on `key` and
    /// returns false.
    fn claim(
        &mut self,
        key: &ObjectRef,
        username: &Option<String>,
        custom_id: &Option<String>,
        konnect_name: &str,
        taken: &mut BTreeMap<(&'static str, String), ObjectRef>,
    ) -> bool {
        // The field that gives the Konnect key, for messages.
        let key_field = if username.is_some() {
            "username"
        } else {
            "custom_id"
        };
        let claims = [
            ("username", username.clone()),
            ("custom_id", custom_id.clone()),
            (KONNECT_KEY, Some(konnect_name.to_owned())),
        ];
        for (claim, value) in &claims {
            let Some(value) = value else { continue };
            if let Some(other) = taken.get(&(*claim, value.clone())) {
                let other = other.clone();
                let message = if *claim == KONNECT_KEY {
                    format!(
                        "{key_field}: {value:?} is the Konnect consumer key (name and id) of {other} too, which is older and wins; this consumer is not created"
                    )
                } else {
                    format!(
                        "{claim}: {value:?} is already used by {other}, which is older and wins"
                    )
                };
                self.results.error(key, Reason::Conflict, message);
                return false;
            }
        }
        for (claim, value) in claims {
            if let Some(value) = value {
                taken.insert((claim, value), key.clone());
            }
        }
        true
    }

    /// The memberships the consumer `id` declares in `consumerGroups` (groups of its
    /// `namespace`); a group not found is reported on `key`.
    fn memberships(
        &mut self,
        key: &ObjectRef,
        namespace: &str,
        id: EntityId,
        consumer: &KongConsumer,
    ) {
        for (i, group) in consumer.consumer_groups.iter().flatten().enumerate() {
            match self.group_names.get(&(namespace.to_owned(), group.clone())) {
                Some(group_name) => {
                    self.out.memberships.insert(ConsumerGroupMembership {
                        consumer_group: ForeignKey::new(ids::consumer_group_id(group_name)),
                        consumer: ForeignKey::new(id),
                    });
                }
                None => self.results.error(
                    key,
                    Reason::ReferenceNotFound,
                    format!("consumerGroups[{i}]: KongConsumerGroup {namespace}/{group} not found (or not served by this operator)"),
                ),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use crate::translate::Reason;

    /// A KongConsumer is a Konnect consumer keyed by its username, else its custom_id, both
    /// copied as written (docs/compatibility.md "Consumer: its username (or custom_id)"; Kong
    /// requires one of them: `at_least_one_of = { "custom_id", "username" }` in
    /// kong/db/schema/entities/consumers.lua). Ids: python3 uuid.uuid5 over go-kong's scheme
    /// ("consumers", the key).
    #[test]
    fn consumers_are_keyed_by_username_else_custom_id() {
        let state = Fixture::new()
            .with(consumer("default", "alice").username("alice"))
            .with(consumer("default", "numbered").custom_id("0042"))
            .with(consumer("default", "nobody"))
            .translate();
        let by_key: Vec<(String, Option<&str>, Option<&str>)> = state
            .consumers
            .iter()
            .map(|c| (id(c.id), c.username.as_deref(), c.custom_id.as_deref()))
            .collect();
        assert_eq!(
            by_key,
            [
                (
                    "32925980-4211-5e85-bd18-4cc49d122d43".to_owned(),
                    None,
                    Some("0042")
                ),
                (
                    "b32379d9-3d28-5683-a79c-72139be6e34f".to_owned(),
                    Some("alice"),
                    None
                ),
            ]
        );
        let nobody = result(&state, "KongConsumer", "nobody");
        assert_eq!(nobody.status.reason(), Some(Reason::InvalidSpec));
        assert!(nobody.is_invalid());
    }

    /// `consumerGroups` names KongConsumerGroup objects of the consumer's namespace; the
    /// Konnect group is named by the group's `spec.name` when set; a missing group is reported
    /// on the consumer, which keeps its other memberships (as tests/golden/consumers-and-groups
    /// documents). Group id: python3 uuid.uuid5 over go-kong's scheme ("consumergroups",
    /// "premium-tier").
    #[test]
    fn consumer_groups_are_joined_by_object_name_and_named_by_spec_name() {
        let state = Fixture::new()
            .with(consumer_group("default", "premium").spec_name("premium-tier"))
            .with(
                consumer("default", "alice")
                    .username("alice")
                    .group("premium")
                    .group("absent"),
            )
            .translate();
        let groups: Vec<(String, &str)> = state
            .consumer_groups
            .iter()
            .map(|g| (id(g.id), g.name.as_str()))
            .collect();
        assert_eq!(
            groups,
            [(
                "81fb781d-d89b-5877-bdce-f7209b88b1d5".to_owned(),
                "premium-tier"
            )]
        );
        let memberships: Vec<(String, String)> = state
            .memberships
            .iter()
            .map(|m| (m.consumer_group.id.to_string(), m.consumer.id.to_string()))
            .collect();
        assert_eq!(
            memberships,
            [(
                "81fb781d-d89b-5877-bdce-f7209b88b1d5".to_owned(),
                "b32379d9-3d28-5683-a79c-72139be6e34f".to_owned()
            )]
        );
        let alice = result(&state, "KongConsumer", "alice");
        assert_eq!(alice.status.reason(), Some(Reason::ReferenceNotFound));
        assert!(alice.message.contains("absent"), "{}", alice.message);
    }
}
