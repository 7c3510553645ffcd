//! The output of translation: what Konnect should hold, in Konnect's request-body shapes, and
//! the outcome for every source object.

use crate::konnect::models::{
    Consumer, ConsumerGroup, ConsumerGroupMembership, Plugin, Route, Service,
};

use super::result::ObjectResult;

/// The desired Konnect state of one control plane. Every entity has its id and tags set;
/// every list is sorted by id (memberships by group then consumer; results by kind,
/// namespace and name).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DesiredState {
    pub services: Vec<Service>,
    pub routes: Vec<Route>,
    pub consumers: Vec<Consumer>,
    pub consumer_groups: Vec<ConsumerGroup>,
    pub memberships: Vec<ConsumerGroupMembership>,
    pub plugins: Vec<Plugin>,
    pub results: Vec<ObjectResult>,
}

impl DesiredState {
    /// True when any source object is Invalid.
    pub fn any_invalid(&self) -> bool {
        self.results.iter().any(ObjectResult::is_invalid)
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

    /// Sorts every list into its canonical order.
    pub(crate) fn sort(&mut self) {
        self.services.sort_by(|a, b| a.id.cmp(&b.id));
        self.routes.sort_by(|a, b| a.id.cmp(&b.id));
        self.consumers.sort_by(|a, b| a.id.cmp(&b.id));
        self.consumer_groups.sort_by(|a, b| a.id.cmp(&b.id));
        self.memberships.sort();
        self.plugins.sort_by(|a, b| a.id.cmp(&b.id));
    }
}
