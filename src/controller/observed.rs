//! I/O. Reads what Konnect holds for this operator: every entity carrying our owner tag, and
//! the memberships of our consumer groups. No decisions here; [`super::diff`] makes them.

use std::collections::BTreeMap;

use futures::{StreamExt, TryStreamExt};

use crate::konnect::client::{ControlPlaneClient, TagFilter};
use crate::konnect::error::Error;
use crate::konnect::models::{ConsumerGroupMembership, Entity, EntityId, ForeignKey, Tag};

use super::diff::Observed;

/// Lists every entity tagged `owner` (a paged list per collection, 1000 a page), then the
/// consumers of each of our groups. Fails whole: a partial listing would read as "deleted".
#[tracing::instrument(skip_all, fields(control_plane = cp.id()))]
pub async fn load(cp: &ControlPlaneClient, owner: &Tag) -> Result<Observed, Error> {
    let tags = || Some(TagFilter::All(vec![owner.clone()]));
    let (services, routes, consumers, consumer_groups, plugins) = tokio::try_join!(
        cp.list_all_services(tags()),
        cp.list_all_routes(tags()),
        cp.list_all_consumers(tags()),
        cp.list_all_consumer_groups(tags()),
        cp.list_all_plugins(tags()),
    )?;
    let mut observed = Observed {
        services: by_id(services),
        routes: by_id(routes),
        consumers: by_id(consumers),
        consumer_groups: by_id(consumer_groups),
        plugins: by_id(plugins),
        memberships: Default::default(),
        written: Default::default(),
        verified: Default::default(),
    };
    let groups: Vec<_> = observed.consumer_groups.keys().copied().collect();
    let members: Vec<Vec<ConsumerGroupMembership>> = futures::stream::iter(groups)
        .map(|group| async move {
            let consumers = cp.list_all_group_consumers(&group.to_string()).await?;
            Ok::<_, Error>(
                consumers
                    .into_iter()
                    .filter_map(|c| c.id)
                    .map(|c| ConsumerGroupMembership {
                        consumer_group: ForeignKey::new(group),
                        consumer: ForeignKey::new(c),
                    })
                    .collect(),
            )
        })
        .buffer_unordered(4)
        .try_collect()
        .await?;
    observed.memberships = members.into_iter().flatten().collect();
    tracing::debug!(entities = observed.len(), "listed what Konnect holds");
    Ok(observed)
}

fn by_id<T: Entity>(entities: Vec<T>) -> BTreeMap<EntityId, T> {
    entities
        .into_iter()
        .filter_map(|e| e.id().map(|id| (id, e)))
        .collect()
}

/// Reference mode: every service, route, consumer and consumer group Konnect holds, whoever
/// wrote them (paged lists, 1000 a page).
pub async fn load_parents(cp: &ControlPlaneClient) -> Result<super::reference::Parents, Error> {
    let (services, routes, consumers, groups) = tokio::try_join!(
        cp.list_all_services(None),
        cp.list_all_routes(None),
        cp.list_all_consumers(None),
        cp.list_all_consumer_groups(None),
    )?;
    Ok(super::reference::Parents::new(
        &services, &routes, &consumers, &groups,
    ))
}
