//! PURE. The sync step's decision: desired state against what Konnect holds, as the writes
//! that make Konnect match, in dependency order. No client, no clock, no logging.
//!
//! Rules (see docs/architecture.md):
//! - An entity is in sync when its payload-hash tag matches and every field we set equals the
//!   observed one (fields Konnect filled with defaults are ignored). Otherwise: `PUT` by id.
//! - An observed entity (it carries our owner tag) that is not desired is deleted, unless it is
//!   *protected*: held back by translation (fail closed), derived from a kind we could not list
//!   (never act on a partial view), or attached to a protected entity. Protected entities keep
//!   exactly what Konnect holds.
//! - A pass whose deletes exceed a share of the managed entities deletes nothing (mass-delete
//!   guard) and says so.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value;

use crate::konnect::models::{
    Consumer, ConsumerGroup, ConsumerGroupMembership, Entity, EntityId, ForeignKey, Plugin, Route,
    Service, Tag,
};
use crate::translate::DesiredState;
use crate::translate::tags::HASH_PREFIX;

/// The Konnect entities carrying our owner tag, by id, plus the memberships of our groups.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Observed {
    pub services: BTreeMap<EntityId, Service>,
    pub routes: BTreeMap<EntityId, Route>,
    pub consumers: BTreeMap<EntityId, Consumer>,
    pub consumer_groups: BTreeMap<EntityId, ConsumerGroup>,
    pub plugins: BTreeMap<EntityId, Plugin>,
    pub memberships: BTreeSet<ConsumerGroupMembership>,
    /// A [`fingerprint`] of the entity Konnect returned for our last PUT of each id (defaults
    /// filled). A relisted entity with another fingerprint was changed out of band, also in
    /// fields we do not set (a key-auth's `anonymous`, a route's `hosts`). A hash, not the body:
    /// 8 bytes an entity. Kept across relists; empty after a restart.
    pub written: BTreeMap<EntityId, u64>,
    /// Entities a pass found in sync, by id: a [`digest`] of the desired entity they matched.
    /// While the desired entity keeps that digest and Konnect's copy was neither relisted nor
    /// written since, the next pass skips the comparison (three JSON conversions an entity,
    /// most of a steady-state pass at 20,000 entities). A relist starts it empty, so drift is
    /// still looked for at every relist; a write forgets the id.
    pub verified: BTreeMap<EntityId, u64>,
}

impl Observed {
    /// Number of entities (memberships included).
    pub fn len(&self) -> usize {
        self.services.len()
            + self.routes.len()
            + self.consumers.len()
            + self.consumer_groups.len()
            + self.plugins.len()
            + self.memberships.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether an entity of `kind` with `id` is held.
    pub fn contains(&self, kind: Kind, id: &EntityId) -> bool {
        match kind {
            Kind::Service => self.services.contains_key(id),
            Kind::Route => self.routes.contains_key(id),
            Kind::Consumer => self.consumers.contains_key(id),
            Kind::ConsumerGroup => self.consumer_groups.contains_key(id),
            Kind::Plugin => self.plugins.contains_key(id),
            Kind::Membership => false,
        }
    }

    /// Takes over what the previous listing knew that a relist cannot show: the fingerprints of
    /// our last PUTs, for the entities still listed. Verifications are not carried over: the
    /// relisted entities are compared afresh, which is how out-of-band edits are found.
    pub fn carry_over(&mut self, old: Observed) {
        let written = old
            .written
            .into_iter()
            .filter(|(id, _)| {
                self.services.contains_key(id)
                    || self.routes.contains_key(id)
                    || self.consumers.contains_key(id)
                    || self.consumer_groups.contains_key(id)
                    || self.plugins.contains_key(id)
            })
            .collect();
        self.written = written;
    }

    /// Records a successful write, so the next pass diffs against it without a relist. `stored`
    /// is the entity Konnect returned for a PUT (defaults filled): it is what Konnect now holds,
    /// so it is what the next pass compares with, exactly as a relist would list it. Without it
    /// the body we sent stands in and no fingerprint is kept.
    pub fn record(&mut self, op: &Op, stored: Option<Body>) {
        if matches!(op.action, Action::Put(_) | Action::Delete) {
            self.verified.remove(&op.id);
        }
        if let (Action::Put(_), Some(stored)) = (&op.action, stored) {
            let fp = match &stored {
                Body::Service(e) => fingerprint(e),
                Body::Route(e) => fingerprint(e),
                Body::Consumer(e) => fingerprint(e),
                Body::ConsumerGroup(e) => fingerprint(e),
                Body::Plugin(e) => fingerprint(e),
            };
            match fp {
                Some(fp) => drop(self.written.insert(op.id, fp)),
                None => drop(self.written.remove(&op.id)),
            }
            match stored {
                Body::Service(e) => drop(self.services.insert(op.id, e)),
                Body::Route(e) => drop(self.routes.insert(op.id, e)),
                Body::Consumer(e) => drop(self.consumers.insert(op.id, e)),
                Body::ConsumerGroup(e) => drop(self.consumer_groups.insert(op.id, e)),
                Body::Plugin(e) => drop(self.plugins.insert(op.id, e)),
            }
            return;
        }
        if matches!(op.action, Action::Put(_)) {
            // Written, but no body came back to fingerprint.
            self.written.remove(&op.id);
        }
        // A membership op carries the consumer's id: the consumer's fingerprint stays.
        self.apply(op);
    }

    /// Records a successful write from the body we sent (no fingerprint is kept for it).
    pub fn apply(&mut self, op: &Op) {
        if matches!(op.action, Action::Put(_) | Action::Delete) {
            self.verified.remove(&op.id);
        }
        if matches!(op.action, Action::Delete) {
            self.written.remove(&op.id);
        }
        match &op.action {
            Action::Put(body) => match body.as_ref() {
                Body::Service(e) => drop(self.services.insert(op.id, e.clone())),
                Body::Route(e) => drop(self.routes.insert(op.id, e.clone())),
                Body::Consumer(e) => drop(self.consumers.insert(op.id, e.clone())),
                Body::ConsumerGroup(e) => drop(self.consumer_groups.insert(op.id, e.clone())),
                Body::Plugin(e) => drop(self.plugins.insert(op.id, e.clone())),
            },
            Action::Delete => match op.kind {
                Kind::Service => drop(self.services.remove(&op.id)),
                Kind::Route => drop(self.routes.remove(&op.id)),
                Kind::Consumer => {
                    self.consumers.remove(&op.id);
                    // Konnect drops a deleted consumer's memberships with it.
                    self.memberships.retain(|m| m.consumer.id != op.id);
                }
                Kind::ConsumerGroup => {
                    self.consumer_groups.remove(&op.id);
                    self.memberships.retain(|m| m.consumer_group.id != op.id);
                }
                Kind::Plugin => drop(self.plugins.remove(&op.id)),
                Kind::Membership => {}
            },
            Action::AddMember(m) => drop(self.memberships.insert(m.clone())),
            Action::RemoveMember(m) => drop(self.memberships.remove(m)),
        }
    }
}

/// The kinds of Konnect entity we write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Service,
    Route,
    Consumer,
    ConsumerGroup,
    Plugin,
    Membership,
}

impl Kind {
    /// As metric labels and logs name it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Service => "service",
            Self::Route => "route",
            Self::Consumer => "consumer",
            Self::ConsumerGroup => "consumer_group",
            Self::Plugin => "plugin",
            Self::Membership => "consumer_group_member",
        }
    }
}

/// The body of a PUT.
#[derive(Clone, Debug, PartialEq)]
pub enum Body {
    Service(Service),
    Route(Route),
    Consumer(Consumer),
    ConsumerGroup(ConsumerGroup),
    Plugin(Plugin),
}

impl Body {
    /// The entity's tags.
    pub fn tags(&self) -> &[Tag] {
        let tags = match self {
            Self::Service(e) => &e.tags,
            Self::Route(e) => &e.tags,
            Self::Consumer(e) => &e.tags,
            Self::ConsumerGroup(e) => &e.tags,
            Self::Plugin(e) => &e.tags,
        };
        tags.as_deref().unwrap_or_default()
    }
}

/// What to do to one entity.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Create or replace (`PUT /{id}`). `update` is true when Konnect holds an older version.
    Put(Box<Body>),
    Delete,
    AddMember(ConsumerGroupMembership),
    RemoveMember(ConsumerGroupMembership),
}

/// One write.
#[derive(Clone, Debug, PartialEq)]
pub struct Op {
    pub kind: Kind,
    /// The entity's id; for memberships, the consumer's.
    pub id: EntityId,
    pub action: Action,
    /// True for a PUT of an entity Konnect already holds (an update, a repaired drift).
    pub update: bool,
    /// True for a PUT whose payload hash Konnect already holds: someone changed the entity
    /// out of band (drift), we did not.
    pub drift: bool,
    /// Writes of this pass that must have succeeded first (a route is attached to its service
    /// only once its plugins are in Konnect).
    pub after: Vec<EntityId>,
}

impl Op {
    /// `put`, `delete`, `add` or `remove`, as metrics label it.
    pub fn operation(&self) -> &'static str {
        match self.action {
            Action::Put(_) => "put",
            Action::Delete => "delete",
            Action::AddMember(_) => "add",
            Action::RemoveMember(_) => "remove",
        }
    }

    /// The ids this write needs to exist first (the parents a PUT refers to).
    pub fn parents(&self) -> Vec<EntityId> {
        let fks: Vec<&Option<ForeignKey>> = match &self.action {
            Action::Put(body) => match body.as_ref() {
                Body::Route(r) => vec![&r.service],
                Body::Plugin(p) => vec![&p.service, &p.route, &p.consumer, &p.consumer_group],
                _ => Vec::new(),
            },
            Action::AddMember(m) => {
                let mut ids = vec![m.consumer_group.id, m.consumer.id];
                ids.extend(self.after.iter().copied());
                return ids;
            }
            _ => Vec::new(),
        };
        fks.into_iter()
            .flatten()
            .map(|fk| fk.id)
            .chain(self.after.iter().copied())
            .collect()
    }
}

/// Why an observed entity that is not desired was kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum KeepReason {
    /// Translation held it back: something it references is invalid or missing.
    Held,
    /// It comes from a kind the operator could not list.
    KindUnavailable,
    /// It is attached to a kept entity.
    ParentKept,
    /// The mass-delete guard stopped this pass's deletes.
    DeleteGuard,
}

/// The result of a diff.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    /// Writes in dependency order: each phase needs the previous ones done.
    pub phases: Vec<Vec<Op>>,
    /// Observed entities not desired but kept, and why.
    pub kept: BTreeMap<EntityId, KeepReason>,
    /// Set when the mass-delete guard stopped the deletes: why.
    pub delete_guard: Option<String>,
    /// Entities this plan compared and found in sync, with the [`digest`] of the desired
    /// entity: the caller adds them to [`Observed::verified`].
    pub verified: Vec<(EntityId, u64)>,
}

impl Plan {
    /// Every write, in order.
    pub fn ops(&self) -> impl Iterator<Item = &Op> {
        self.phases.iter().flatten()
    }

    /// Number of writes.
    pub fn len(&self) -> usize {
        self.phases.iter().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What the diff needs besides the two states.
#[derive(Clone, Debug)]
pub struct DiffOptions {
    /// Kubernetes kinds (as in the `k8s-kind:` tag) that could not be listed: entities derived
    /// from them are never deleted.
    pub unavailable_kinds: BTreeSet<String>,
    /// The share of managed entities one pass may delete (0..=1).
    pub max_delete_share: f64,
    /// Passes deleting at most this many entities are never stopped by the guard.
    pub delete_guard_min: usize,
}

impl Default for DiffOptions {
    fn default() -> Self {
        Self {
            unavailable_kinds: BTreeSet::new(),
            max_delete_share: 0.5,
            delete_guard_min: 10,
        }
    }
}

/// Computes the writes that make `observed` equal `desired`.
pub fn plan(desired: &DesiredState, observed: &Observed, opts: &DiffOptions) -> Plan {
    let kept = protected(desired, observed, opts);
    let held = |id: &EntityId| desired.held.contains(id) || kept.contains_key(id);

    let mut puts_parents = Vec::new();
    let mut puts_routes = Vec::new();
    let mut puts_plugins = Vec::new();
    let mut verified = Vec::new();
    let known = Known {
        written: &observed.written,
        verified: &observed.verified,
    };
    puts(
        &mut puts_parents,
        Kind::Service,
        &desired.services,
        &observed.services,
        &known,
        &mut verified,
        Body::Service,
    );
    puts(
        &mut puts_parents,
        Kind::ConsumerGroup,
        &desired.consumer_groups,
        &observed.consumer_groups,
        &known,
        &mut verified,
        Body::ConsumerGroup,
    );
    puts(
        &mut puts_parents,
        Kind::Consumer,
        &desired.consumers,
        &observed.consumers,
        &known,
        &mut verified,
        Body::Consumer,
    );
    puts(
        &mut puts_routes,
        Kind::Route,
        &desired.routes,
        &observed.routes,
        &known,
        &mut verified,
        Body::Route,
    );
    puts(
        &mut puts_plugins,
        Kind::Plugin,
        &desired.plugins,
        &observed.plugins,
        &known,
        &mut verified,
        Body::Plugin,
    );
    // Defence in depth: never write anything attached to a held entity.
    puts_routes.retain(|op: &Op| !op.parents().iter().any(&held));
    puts_plugins.retain(|op: &Op| !op.parents().iter().any(&held));
    let attach = detach_unprotected_routes(&mut puts_routes, &puts_plugins, observed);

    let desired_members: BTreeSet<&ConsumerGroupMembership> = desired.memberships.iter().collect();
    let adds: Vec<Op> = desired
        .memberships
        .iter()
        .filter(|m| !observed.memberships.contains(*m))
        .filter(|m| !held(&m.consumer.id) && !held(&m.consumer_group.id))
        .map(|m| Op {
            kind: Kind::Membership,
            id: m.consumer.id,
            action: Action::AddMember(m.clone()),
            update: false,
            drift: false,
            after: Vec::new(),
        })
        .collect();

    let mut del_plugins = deletes(Kind::Plugin, &observed.plugins, &desired.plugins, &kept);
    del_plugins.extend(
        observed
            .memberships
            .iter()
            .filter(|m| !desired_members.contains(m))
            .filter(|m| !held(&m.consumer.id) && !held(&m.consumer_group.id))
            .map(|m| Op {
                kind: Kind::Membership,
                id: m.consumer.id,
                action: Action::RemoveMember(m.clone()),
                update: false,
                drift: false,
                after: Vec::new(),
            }),
    );
    let mut del_routes = deletes(Kind::Route, &observed.routes, &desired.routes, &kept);
    let mut del_parents = deletes(Kind::Service, &observed.services, &desired.services, &kept);
    del_parents.extend(deletes(
        Kind::Consumer,
        &observed.consumers,
        &desired.consumers,
        &kept,
    ));
    del_parents.extend(deletes(
        Kind::ConsumerGroup,
        &observed.consumer_groups,
        &desired.consumer_groups,
        &kept,
    ));

    let mut plan = Plan {
        kept,
        verified,
        ..Plan::default()
    };
    let delete_count = del_plugins.len() + del_routes.len() + del_parents.len();
    let managed = observed.len();
    if delete_count > opts.delete_guard_min
        && delete_count as f64 > opts.max_delete_share * managed as f64
    {
        plan.delete_guard = Some(format!(
            "this pass would delete {delete_count} of the {managed} entities this operator \
             manages, more than the allowed share of {:.0}%; nothing was deleted. If that is \
             intended, raise --max-delete-share",
            opts.max_delete_share * 100.0
        ));
        for op in del_plugins.iter().chain(&del_routes).chain(&del_parents) {
            if !matches!(op.action, Action::RemoveMember(_)) {
                plan.kept.insert(op.id, KeepReason::DeleteGuard);
            }
        }
        del_plugins.clear();
        del_routes.clear();
        del_parents.clear();
    }

    plan.phases = [
        puts_parents,
        puts_routes,
        adds,
        puts_plugins,
        attach,
        del_plugins,
        del_routes,
        del_parents,
    ]
    .into_iter()
    .filter(|phase| !phase.is_empty())
    .collect();
    plan
}

/// A route must never serve traffic before the plugins its manifest asks for are in Konnect.
/// A route that would go live in this pass (new, or held in Konnect without a service) while
/// plugins on it, on its service, or global plugins are still to be written is first written
/// without its service (Kong routes no request through it), and attached in a later phase that
/// runs only if those plugin writes succeeded.
fn detach_unprotected_routes(routes: &mut [Op], plugins: &[Op], observed: &Observed) -> Vec<Op> {
    let plugin_fks = |op: &Op| -> Option<(Option<EntityId>, Option<EntityId>, bool)> {
        let Action::Put(body) = &op.action else {
            return None;
        };
        let Body::Plugin(p) = body.as_ref() else {
            return None;
        };
        let global = p.service.is_none()
            && p.route.is_none()
            && p.consumer.is_none()
            && p.consumer_group.is_none();
        Some((
            p.route.as_ref().map(|f| f.id),
            p.service.as_ref().map(|f| f.id),
            global,
        ))
    };
    let pending: Vec<(EntityId, Option<EntityId>, Option<EntityId>, bool)> = plugins
        .iter()
        .filter_map(|op| plugin_fks(op).map(|(r, s, g)| (op.id, r, s, g)))
        .collect();
    let mut attach = Vec::new();
    for op in routes.iter_mut() {
        let Action::Put(body) = &mut op.action else {
            continue;
        };
        let Body::Route(route) = body.as_mut() else {
            continue;
        };
        let Some(service) = route.service.as_ref().map(|f| f.id) else {
            continue;
        };
        let live_now = observed
            .routes
            .get(&op.id)
            .is_some_and(|r| r.service.is_some());
        if live_now {
            continue;
        }
        let waits: Vec<EntityId> = pending
            .iter()
            .filter(|(_, r, s, g)| *g || *r == Some(op.id) || (r.is_none() && *s == Some(service)))
            .map(|(id, ..)| *id)
            .collect();
        if waits.is_empty() {
            continue;
        }
        let full = route.clone();
        route.service = None;
        attach.push(Op {
            kind: Kind::Route,
            id: op.id,
            action: Action::Put(Box::new(Body::Route(full))),
            update: true,
            drift: false,
            after: waits,
        });
    }
    attach
}

/// What the last writes and passes left about the observed entities.
struct Known<'a> {
    written: &'a BTreeMap<EntityId, u64>,
    verified: &'a BTreeMap<EntityId, u64>,
}

fn puts<T: Serialize + Clone + Entity>(
    out: &mut Vec<Op>,
    kind: Kind,
    desired: &[T],
    observed: &BTreeMap<EntityId, T>,
    known: &Known,
    verified: &mut Vec<(EntityId, u64)>,
    wrap: fn(T) -> Body,
) {
    for entity in desired {
        let Some(id) = entity.id() else {
            continue;
        };
        let current = observed.get(&id);
        let digest = current.and_then(|_| digest(entity));
        if digest.is_some() && known.verified.get(&id) == digest.as_ref() {
            continue;
        }
        let untouched = |o: &T| {
            known
                .written
                .get(&id)
                .is_none_or(|w| fingerprint(o) == Some(*w))
        };
        if current.is_some_and(|o| in_sync(entity, o) && untouched(o)) {
            verified.extend(digest.map(|d| (id, d)));
            continue;
        }
        let drift = current.is_some_and(|o| same_hash(entity, o));
        out.push(Op {
            kind,
            id,
            action: Action::Put(Box::new(wrap(entity.clone()))),
            update: current.is_some(),
            drift,
            after: Vec::new(),
        });
    }
}

fn deletes<T: Entity>(
    kind: Kind,
    observed: &BTreeMap<EntityId, T>,
    desired: &[T],
    kept: &BTreeMap<EntityId, KeepReason>,
) -> Vec<Op> {
    let wanted: BTreeSet<EntityId> = desired.iter().filter_map(Entity::id).collect();
    observed
        .keys()
        .filter(|id| !wanted.contains(id) && !kept.contains_key(id))
        .map(|id| Op {
            kind,
            id: *id,
            action: Action::Delete,
            update: false,
            drift: false,
            after: Vec::new(),
        })
        .collect()
}

/// Observed entities that must not be deleted even though they are not desired.
fn protected(
    desired: &DesiredState,
    observed: &Observed,
    opts: &DiffOptions,
) -> BTreeMap<EntityId, KeepReason> {
    let mut kept = BTreeMap::new();
    let protected_kinds = affected_kinds(&opts.unavailable_kinds);
    let mut mark = |id: EntityId, tags: &Option<Vec<Tag>>| {
        if desired.held.contains(&id) {
            kept.insert(id, KeepReason::Held);
        } else if source_kind(tags).is_some_and(|k| protected_kinds.contains(k)) {
            kept.insert(id, KeepReason::KindUnavailable);
        }
    };
    for (id, e) in &observed.services {
        mark(*id, &e.tags);
    }
    for (id, e) in &observed.consumers {
        mark(*id, &e.tags);
    }
    for (id, e) in &observed.consumer_groups {
        mark(*id, &e.tags);
    }
    for (id, e) in &observed.routes {
        mark(*id, &e.tags);
    }
    for (id, e) in &observed.plugins {
        mark(*id, &e.tags);
    }
    // Closure over parents: a route of a kept service, a plugin on a kept entity.
    let desired_routes: BTreeSet<EntityId> = desired.routes.iter().filter_map(|r| r.id).collect();
    for (id, route) in &observed.routes {
        if kept.contains_key(id) || desired_routes.contains(id) {
            continue;
        }
        if route
            .service
            .as_ref()
            .is_some_and(|s| kept.contains_key(&s.id))
        {
            kept.insert(*id, KeepReason::ParentKept);
        }
    }
    let desired_plugins: BTreeSet<EntityId> = desired.plugins.iter().filter_map(|p| p.id).collect();
    for (id, plugin) in &observed.plugins {
        if kept.contains_key(id) || desired_plugins.contains(id) {
            continue;
        }
        let parents = [
            &plugin.service,
            &plugin.route,
            &plugin.consumer,
            &plugin.consumer_group,
        ];
        if parents
            .into_iter()
            .flatten()
            .any(|fk| kept.contains_key(&fk.id))
        {
            kept.insert(*id, KeepReason::ParentKept);
        }
    }
    // And the parents of kept entities: a kept route still needs its service, a kept plugin
    // its service, route, consumer or group.
    let mut parents: Vec<EntityId> = Vec::new();
    for (id, route) in &observed.routes {
        if kept.contains_key(id) {
            parents.extend(route.service.iter().map(|s| s.id));
        }
    }
    for (id, plugin) in &observed.plugins {
        if kept.contains_key(id) {
            for fk in [
                &plugin.service,
                &plugin.route,
                &plugin.consumer,
                &plugin.consumer_group,
            ]
            .into_iter()
            .flatten()
            {
                parents.push(fk.id);
            }
        }
    }
    for id in parents {
        kept.entry(id).or_insert(KeepReason::ParentKept);
    }
    kept
}

/// The source kinds whose translation an unlistable kind can change: an empty list of
/// Services leaves Ingress and HTTPRoute backends unresolved, no IngressClass makes class-less
/// objects someone else's, no Gateway or GatewayClass orphans HTTPRoutes, no Secrets (or
/// ReferenceGrants) break the plugins that read them. Entities from any of these are kept.
pub fn affected_kinds(unavailable: &BTreeSet<String>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for kind in unavailable {
        out.insert(kind.clone());
        let more: &[&str] = match kind.as_str() {
            "Service" => &["Ingress", "HTTPRoute"],
            "IngressClass" => &[
                "Ingress",
                "KongClusterPlugin",
                "KongConsumer",
                "KongConsumerGroup",
            ],
            "Gateway" | "GatewayClass" => &["HTTPRoute"],
            "Secret" | "ReferenceGrant" => &["KongPlugin", "KongClusterPlugin"],
            "KongConsumerGroup" => &["KongConsumer"],
            _ => &[],
        };
        out.extend(more.iter().map(|k| (*k).to_owned()));
    }
    out
}

/// The `k8s-kind:` tag's value.
pub fn source_kind(tags: &Option<Vec<Tag>>) -> Option<&str> {
    tag_value(tags, "k8s-kind:")
}

/// The value of the first tag starting with `prefix`.
pub fn tag_value<'a>(tags: &'a Option<Vec<Tag>>, prefix: &str) -> Option<&'a str> {
    tags.as_deref()?
        .iter()
        .find_map(|t| t.as_str().strip_prefix(prefix))
}

/// In sync: same payload-hash tag, and every field we set equals the observed one.
pub fn in_sync<T: Serialize>(desired: &T, observed: &T) -> bool {
    let (Ok(d), Ok(o)) = (
        serde_json::to_value(desired),
        serde_json::to_value(observed),
    ) else {
        return false;
    };
    hash_tag(&d) == hash_tag(&o) && covers(&d, &o)
}

/// A hash of an entity as Konnect holds it, timestamps aside and object keys in sorted order
/// (Konnect's key order is not part of the entity). Equal for the entity a PUT returned and the
/// same entity relisted; compared within one process only.
pub fn fingerprint<T: Serialize>(entity: &T) -> Option<u64> {
    use std::hash::{Hash, Hasher};
    fn walk(v: &Value, top: bool, h: &mut std::collections::hash_map::DefaultHasher) {
        match v {
            Value::Null => 0u8.hash(h),
            Value::Bool(b) => (1u8, b).hash(h),
            Value::Number(n) => (2u8, n.to_string()).hash(h),
            Value::String(s) => (3u8, s).hash(h),
            Value::Array(a) => {
                (4u8, a.len()).hash(h);
                a.iter().for_each(|v| walk(v, false, h));
            }
            Value::Object(o) => {
                let mut keys: Vec<&String> = o
                    .keys()
                    .filter(|k| !(top && matches!(k.as_str(), "created_at" | "updated_at")))
                    .collect();
                keys.sort();
                (5u8, keys.len()).hash(h);
                for k in keys {
                    k.hash(h);
                    walk(&o[k.as_str()], false, h);
                }
            }
        }
    }
    let value = serde_json::to_value(entity).ok()?;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    walk(&value, true, &mut h);
    Some(h.finish())
}

/// A hash of an entity's JSON, serialized straight into the hasher (no intermediate value).
/// Equal for equal desired entities within one process.
pub fn digest<T: Serialize>(entity: &T) -> Option<u64> {
    use std::hash::Hasher;
    struct Sink(std::collections::hash_map::DefaultHasher);
    impl std::io::Write for Sink {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.write(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut sink = Sink(std::collections::hash_map::DefaultHasher::new());
    serde_json::to_writer(&mut sink, entity).ok()?;
    Some(sink.0.finish())
}

fn same_hash<T: Serialize>(desired: &T, observed: &T) -> bool {
    match (
        serde_json::to_value(desired),
        serde_json::to_value(observed),
    ) {
        (Ok(d), Ok(o)) => hash_tag(&d).is_some() && hash_tag(&d) == hash_tag(&o),
        _ => false,
    }
}

fn hash_tag(v: &Value) -> Option<&str> {
    v.get("tags")?
        .as_array()?
        .iter()
        .filter_map(Value::as_str)
        .find(|t| t.starts_with(HASH_PREFIX))
}

/// True when `observed` has every value `desired` sets. Objects: each key of `desired` (null
/// values and timestamps skipped) must match; arrays: same length, element by element;
/// numbers by value (Konnect may print `1` as `1.0`).
fn covers(desired: &Value, observed: &Value) -> bool {
    match (desired, observed) {
        (Value::Object(d), Value::Object(o)) => d.iter().all(|(k, dv)| {
            dv.is_null()
                || k == "created_at"
                || k == "updated_at"
                || o.get(k).is_some_and(|ov| covers(dv, ov))
        }),
        (Value::Array(d), Value::Array(o)) => {
            d.len() == o.len() && d.iter().zip(o).all(|(dv, ov)| covers(dv, ov))
        }
        (Value::Number(d), Value::Number(o)) => d == o || d.as_f64() == o.as_f64(),
        (d, o) => d == o,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn id(n: u128) -> EntityId {
        EntityId::from(uuid::Uuid::from_u128(n))
    }

    fn tags(list: &[&str]) -> Option<Vec<Tag>> {
        Some(list.iter().map(|t| Tag::new(*t).expect("tag")).collect())
    }

    fn service(n: u128, hash: &str) -> Service {
        Service {
            id: Some(id(n)),
            name: Some(format!("s{n}")),
            host: "echo.default.svc".into(),
            port: Some(80),
            tags: tags(&["k8s-kind:Service", &format!("kpo-hash:{hash}")]),
            ..Service::default()
        }
    }

    fn route(n: u128, svc: u128) -> Route {
        Route {
            id: Some(id(n)),
            name: Some(format!("r{n}")),
            service: Some(ForeignKey::new(id(svc))),
            paths: Some(vec!["/".into()]),
            tags: tags(&["k8s-kind:Ingress", "kpo-hash:aa"]),
            ..Route::default()
        }
    }

    fn plugin_on_route(n: u128, route: u128, config: Value) -> Plugin {
        Plugin {
            id: Some(id(n)),
            name: "key-auth".into(),
            config,
            route: Some(ForeignKey::new(id(route))),
            tags: tags(&["k8s-kind:KongPlugin", "kpo-hash:bb"]),
            ..Plugin::default()
        }
    }

    fn observed_of(d: &DesiredState) -> Observed {
        Observed {
            services: d
                .services
                .iter()
                .map(|e| (e.id.unwrap(), e.clone()))
                .collect(),
            routes: d
                .routes
                .iter()
                .map(|e| (e.id.unwrap(), e.clone()))
                .collect(),
            consumers: d
                .consumers
                .iter()
                .map(|e| (e.id.unwrap(), e.clone()))
                .collect(),
            consumer_groups: d
                .consumer_groups
                .iter()
                .map(|e| (e.id.unwrap(), e.clone()))
                .collect(),
            plugins: d
                .plugins
                .iter()
                .map(|e| (e.id.unwrap(), e.clone()))
                .collect(),
            memberships: d.memberships.iter().cloned().collect(),
            written: BTreeMap::new(),
            verified: BTreeMap::new(),
        }
    }

    fn kinds_and_ops(plan: &Plan) -> Vec<Vec<(Kind, &'static str, EntityId)>> {
        plan.phases
            .iter()
            .map(|p| p.iter().map(|o| (o.kind, o.operation(), o.id)).collect())
            .collect()
    }

    #[test]
    fn steady_state_makes_no_write() {
        let desired = DesiredState {
            services: vec![service(1, "aa")],
            routes: vec![route(2, 1)],
            plugins: vec![plugin_on_route(3, 2, json!({"key_names": ["apikey"]}))],
            ..DesiredState::default()
        };
        let mut observed = observed_of(&desired);
        // Konnect fills defaults and timestamps: still in sync.
        let p = observed.plugins.get_mut(&id(3)).unwrap();
        p.config["hide_credentials"] = json!(false);
        p.created_at = Some(1);
        p.enabled = Some(true);
        observed.services.get_mut(&id(1)).unwrap().retries = Some(5);
        let plan = plan(&desired, &observed, &DiffOptions::default());
        assert!(plan.is_empty(), "{plan:#?}");
    }

    #[test]
    fn creates_go_parents_first_and_deletes_children_first() {
        let desired = DesiredState {
            services: vec![service(1, "aa")],
            routes: vec![route(2, 1)],
            plugins: vec![plugin_on_route(3, 2, json!({}))],
            ..DesiredState::default()
        };
        let create = plan(&desired, &Observed::default(), &DiffOptions::default());
        assert_eq!(
            kinds_and_ops(&create),
            vec![
                vec![(Kind::Service, "put", id(1))],
                vec![(Kind::Route, "put", id(2))],
                vec![(Kind::Plugin, "put", id(3))],
                // The route is attached to its service once its plugin is in.
                vec![(Kind::Route, "put", id(2))],
            ]
        );
        let delete = plan(
            &DesiredState::default(),
            &observed_of(&desired),
            &DiffOptions::default(),
        );
        assert_eq!(
            kinds_and_ops(&delete),
            vec![
                vec![(Kind::Plugin, "delete", id(3))],
                vec![(Kind::Route, "delete", id(2))],
                vec![(Kind::Service, "delete", id(1))],
            ]
        );
    }

    #[test]
    fn a_new_route_is_attached_only_after_its_plugins_are_written() {
        let desired = DesiredState {
            services: vec![service(1, "aa")],
            routes: vec![route(2, 1)],
            plugins: vec![plugin_on_route(3, 2, json!({}))],
            ..DesiredState::default()
        };
        let p = plan(&desired, &Observed::default(), &DiffOptions::default());
        assert_eq!(
            kinds_and_ops(&p),
            vec![
                vec![(Kind::Service, "put", id(1))],
                vec![(Kind::Route, "put", id(2))],
                vec![(Kind::Plugin, "put", id(3))],
                vec![(Kind::Route, "put", id(2))],
            ]
        );
        let Action::Put(first) = &p.phases[1][0].action else {
            panic!()
        };
        let Body::Route(detached) = first.as_ref() else {
            panic!()
        };
        assert_eq!(detached.service, None, "written without its service first");
        let attach = &p.phases[3][0];
        assert_eq!(attach.after, vec![id(3)]);
        assert!(attach.parents().contains(&id(3)));
        // Once Konnect holds all of it, the plan is empty.
        assert!(plan(&desired, &observed_of(&desired), &DiffOptions::default()).is_empty());
        // A route without plugins goes in directly.
        let bare = DesiredState {
            services: vec![service(1, "aa")],
            routes: vec![route(2, 1)],
            ..DesiredState::default()
        };
        assert_eq!(
            plan(&bare, &Observed::default(), &DiffOptions::default())
                .phases
                .len(),
            2
        );
    }

    #[test]
    fn out_of_band_edits_and_our_own_changes_are_repaired() {
        let desired = DesiredState {
            plugins: vec![plugin_on_route(3, 2, json!({"key_names": ["apikey"]}))],
            ..DesiredState::default()
        };
        // Someone edited the config in Konnect; the hash tag still matches.
        let mut edited = observed_of(&desired);
        edited.plugins.get_mut(&id(3)).unwrap().config = json!({"key_names": ["other"]});
        let p = plan(&desired, &edited, &DiffOptions::default());
        assert_eq!(kinds_and_ops(&p), vec![vec![(Kind::Plugin, "put", id(3))]]);
        assert!(p.phases[0][0].update);
        // We removed a field (falls back to its default): only the hash tag tells.
        let mut ours = observed_of(&desired);
        ours.plugins.get_mut(&id(3)).unwrap().tags = tags(&["k8s-kind:KongPlugin", "kpo-hash:old"]);
        assert_eq!(plan(&desired, &ours, &DiffOptions::default()).len(), 1);
    }

    #[test]
    fn a_field_we_do_not_set_changed_out_of_band_is_drift() {
        let desired = DesiredState {
            plugins: vec![plugin_on_route(3, 2, json!({"key_names": ["apikey"]}))],
            ..DesiredState::default()
        };
        let mut observed = observed_of(&desired);
        // What Konnect returned for our PUT: defaults filled, `anonymous` null.
        let mut returned = desired.plugins[0].clone();
        returned.config =
            json!({"key_names": ["apikey"], "anonymous": null, "hide_credentials": false});
        returned.created_at = Some(1);
        observed.plugins.insert(id(3), returned.clone());
        observed
            .written
            .insert(id(3), fingerprint(&returned).unwrap());
        assert!(plan(&desired, &observed, &DiffOptions::default()).is_empty());
        // Someone sets `anonymous` in Konnect: every field we set still matches, yet it is drift.
        let mut bypassed = returned.clone();
        bypassed.config["anonymous"] = json!("guest");
        bypassed.updated_at = Some(2);
        observed.plugins.insert(id(3), bypassed);
        let p = plan(&desired, &observed, &DiffOptions::default());
        assert_eq!(kinds_and_ops(&p), vec![vec![(Kind::Plugin, "put", id(3))]]);
        assert!(p.phases[0][0].drift);
    }

    #[test]
    fn a_put_konnect_filled_with_defaults_is_not_repeated_before_the_relist() {
        // Found in the N=1000 benchmark: after a PUT, the next pass compared the body we sent
        // with the one Konnect returned (defaults filled), saw "drift" and PUT again, every pass
        // until the next relist.
        let desired = DesiredState {
            plugins: vec![plugin_on_route(3, 2, json!({"key_names": ["apikey"]}))],
            ..DesiredState::default()
        };
        let mut observed = Observed::default();
        let p = plan(&desired, &observed, &DiffOptions::default());
        assert_eq!(kinds_and_ops(&p), vec![vec![(Kind::Plugin, "put", id(3))]]);
        // What Konnect answers to that PUT: the schema's defaults filled, timestamps set.
        let mut returned = desired.plugins[0].clone();
        returned.config =
            json!({"key_names": ["apikey"], "anonymous": null, "hide_credentials": false});
        returned.created_at = Some(1);
        returned.updated_at = Some(1);
        observed.record(&p.phases[0][0], Some(Body::Plugin(returned.clone())));
        assert!(
            plan(&desired, &observed, &DiffOptions::default()).is_empty(),
            "the entity Konnect returned is in sync: no second PUT"
        );
        // The relist lists the same entity, its keys in another order: still nothing to write.
        let mut relisted = returned.clone();
        relisted.config =
            json!({"hide_credentials": false, "anonymous": null, "key_names": ["apikey"]});
        observed.plugins.insert(id(3), relisted);
        assert!(plan(&desired, &observed, &DiffOptions::default()).is_empty());
        // Someone sets `anonymous` out of band: drift, repaired.
        let mut bypassed = returned;
        bypassed.config["anonymous"] = json!("guest");
        bypassed.updated_at = Some(2);
        observed.plugins.insert(id(3), bypassed);
        let p = plan(&desired, &observed, &DiffOptions::default());
        assert_eq!(kinds_and_ops(&p), vec![vec![(Kind::Plugin, "put", id(3))]]);
        assert!(p.phases[0][0].drift);
    }

    #[test]
    fn a_membership_write_keeps_the_consumer_s_fingerprint() {
        // Found in review: the membership op carries the consumer's id, and recording it
        // dropped the fingerprint the consumer's PUT had just stored.
        let consumer = Consumer {
            id: Some(id(5)),
            username: Some("alice".into()),
            ..Consumer::default()
        };
        let put = Op {
            kind: Kind::Consumer,
            id: id(5),
            action: Action::Put(Box::new(Body::Consumer(consumer.clone()))),
            update: false,
            drift: false,
            after: Vec::new(),
        };
        let mut observed = Observed::default();
        observed.record(&put, Some(Body::Consumer(consumer)));
        let add = Op {
            kind: Kind::Membership,
            id: id(5),
            action: Action::AddMember(ConsumerGroupMembership {
                consumer_group: ForeignKey::new(id(6)),
                consumer: ForeignKey::new(id(5)),
            }),
            update: false,
            drift: false,
            after: Vec::new(),
        };
        observed.record(&add, None);
        assert!(observed.written.contains_key(&id(5)));
        assert_eq!(observed.memberships.len(), 1);
    }

    #[test]
    fn a_verified_entity_is_skipped_only_while_neither_side_changed() {
        let desired = DesiredState {
            services: vec![service(1, "aa")],
            plugins: vec![plugin_on_route(3, 2, json!({"key_names": ["apikey"]}))],
            ..DesiredState::default()
        };
        let mut observed = observed_of(&desired);
        let first = plan(&desired, &observed, &DiffOptions::default());
        assert!(first.is_empty(), "{first:#?}");
        let ids: BTreeSet<EntityId> = first.verified.iter().map(|(i, _)| *i).collect();
        assert_eq!(ids, BTreeSet::from([id(1), id(3)]));
        observed.verified.extend(first.verified.iter().copied());
        // A new desired config (the KongPlugin was edited) is written although the entity was
        // verified: the digest is of the desired entity, not just its id.
        let mut edited = desired.clone();
        edited.plugins[0].config = json!({"key_names": ["token"]});
        let p = plan(&edited, &observed, &DiffOptions::default());
        assert_eq!(kinds_and_ops(&p), vec![vec![(Kind::Plugin, "put", id(3))]]);
        // Our write forgets the verification: the next pass compares with what Konnect returned.
        let mut returned = edited.plugins[0].clone();
        returned.config = json!({"key_names": ["token"], "hide_credentials": false});
        observed.record(&p.phases[0][0], Some(Body::Plugin(returned)));
        assert!(!observed.verified.contains_key(&id(3)));
        assert!(observed.verified.contains_key(&id(1)));
        let again = plan(&edited, &observed, &DiffOptions::default());
        assert!(again.is_empty(), "{again:#?}");
        assert_eq!(again.verified.len(), 1, "the plugin is verified anew");
        // A relist starts without verifications, so an out-of-band edit is seen there; our
        // PUT's fingerprint is carried over for the entities still listed.
        let mut relisted = observed_of(&edited);
        relisted.services.clear();
        relisted.plugins.get_mut(&id(3)).unwrap().config = json!({"key_names": ["other"]});
        assert!(observed.verified.contains_key(&id(1)) && observed.written.contains_key(&id(3)));
        relisted.carry_over(observed);
        assert!(relisted.verified.is_empty());
        assert_eq!(relisted.written.keys().collect::<Vec<_>>(), [&id(3)]);
        let p = plan(&edited, &relisted, &DiffOptions::default());
        assert_eq!(
            kinds_and_ops(&p),
            vec![
                vec![(Kind::Service, "put", id(1))],
                vec![(Kind::Plugin, "put", id(3))]
            ]
        );
    }

    #[test]
    fn a_delete_forgets_the_fingerprint() {
        let desired = DesiredState {
            plugins: vec![plugin_on_route(3, 2, json!({}))],
            ..DesiredState::default()
        };
        let mut observed = Observed::default();
        let p = plan(&desired, &observed, &DiffOptions::default());
        observed.record(
            &p.phases[0][0],
            Some(Body::Plugin(desired.plugins[0].clone())),
        );
        assert_eq!(observed.written.len(), 1);
        let p = plan(&DesiredState::default(), &observed, &DiffOptions::default());
        assert_eq!(
            kinds_and_ops(&p),
            vec![vec![(Kind::Plugin, "delete", id(3))]]
        );
        observed.record(&p.phases[0][0], None);
        assert!(observed.written.is_empty() && observed.plugins.is_empty());
    }

    #[test]
    fn held_entities_keep_what_konnect_holds_and_are_never_created() {
        // The route is held (its key-auth is invalid): translation leaves route and plugin out
        // of the desired lists and lists their ids in `held`.
        let full = DesiredState {
            services: vec![service(1, "aa")],
            routes: vec![route(2, 1)],
            plugins: vec![plugin_on_route(3, 2, json!({}))],
            ..DesiredState::default()
        };
        let mut desired = full.clone();
        desired.routes.clear();
        desired.plugins.clear();
        desired.held = [id(2), id(3)].into();
        let p = plan(&desired, &observed_of(&full), &DiffOptions::default());
        assert!(p.is_empty(), "nothing may be deleted: {p:#?}");
        assert_eq!(p.kept.get(&id(2)), Some(&KeepReason::Held));
        // A plugin someone else's translation left on the held route is kept too.
        let mut obs = observed_of(&full);
        obs.plugins.insert(id(4), plugin_on_route(4, 2, json!({})));
        let p = plan(&desired, &obs, &DiffOptions::default());
        assert!(p.is_empty(), "{p:#?}");
        assert_eq!(p.kept.get(&id(4)), Some(&KeepReason::ParentKept));
        // Nothing held is created when Konnect does not have it.
        let only_service = observed_of(&DesiredState {
            services: vec![service(1, "aa")],
            ..DesiredState::default()
        });
        assert!(plan(&desired, &only_service, &DiffOptions::default()).is_empty());
        // A desired plugin on a held route is not written either (defence in depth).
        let mut leaky = desired.clone();
        leaky.plugins = vec![plugin_on_route(3, 2, json!({}))];
        leaky.held = [id(2)].into();
        assert!(plan(&leaky, &only_service, &DiffOptions::default()).is_empty());
    }

    #[test]
    fn entities_of_an_unlistable_kind_are_not_deleted() {
        let full = DesiredState {
            services: vec![service(1, "aa")],
            routes: vec![route(2, 1)],
            plugins: vec![plugin_on_route(3, 2, json!({}))],
            ..DesiredState::default()
        };
        let desired = DesiredState {
            services: vec![service(1, "aa")],
            ..DesiredState::default()
        };
        let opts = DiffOptions {
            unavailable_kinds: ["Ingress".to_owned()].into(),
            ..DiffOptions::default()
        };
        let p = plan(&desired, &observed_of(&full), &opts);
        assert!(p.is_empty(), "{p:#?}");
        assert_eq!(p.kept.get(&id(2)), Some(&KeepReason::KindUnavailable));
        assert_eq!(p.kept.get(&id(3)), Some(&KeepReason::ParentKept));
    }

    #[test]
    fn an_unlistable_dependency_protects_what_it_feeds_and_their_parents() {
        // Services cannot be listed: Ingress routes would read "backend not found". The route,
        // its plugin, and the service the route needs all stay.
        let mut svc = service(1, "aa");
        svc.tags = tags(&["k8s-kind:Service", "kpo-hash:aa"]);
        let full = DesiredState {
            services: vec![svc],
            routes: vec![route(2, 1)],
            plugins: vec![plugin_on_route(3, 2, json!({}))],
            ..DesiredState::default()
        };
        let opts = DiffOptions {
            unavailable_kinds: ["Service".to_owned()].into(),
            ..DiffOptions::default()
        };
        let p = plan(&DesiredState::default(), &observed_of(&full), &opts);
        assert!(p.is_empty(), "{p:#?}");
        // Ingress alone unavailable: the service (from a Service, listed fine, but no longer
        // desired) is kept because the kept route uses it.
        let opts = DiffOptions {
            unavailable_kinds: ["Ingress".to_owned()].into(),
            ..DiffOptions::default()
        };
        let p = plan(&DesiredState::default(), &observed_of(&full), &opts);
        assert!(p.is_empty(), "{p:#?}");
        assert_eq!(p.kept.get(&id(1)), Some(&KeepReason::ParentKept));
    }

    #[test]
    fn mass_delete_guard_stops_every_delete() {
        let full = DesiredState {
            services: (1..=30).map(|n| service(n, "aa")).collect(),
            ..DesiredState::default()
        };
        let desired = DesiredState {
            services: (1..=10).map(|n| service(n, "aa")).collect(),
            ..DesiredState::default()
        };
        let p = plan(&desired, &observed_of(&full), &DiffOptions::default());
        assert!(p.is_empty(), "20 of 30 is over 50%");
        assert!(
            p.delete_guard
                .as_deref()
                .unwrap()
                .contains("delete 20 of the 30")
        );
        assert_eq!(p.kept.len(), 20);
        // Under the share, deletes go ahead.
        let desired = DesiredState {
            services: (1..=18).map(|n| service(n, "aa")).collect(),
            ..DesiredState::default()
        };
        assert_eq!(
            plan(&desired, &observed_of(&full), &DiffOptions::default()).len(),
            12
        );
        // Small passes are never stopped (deleting the only plugin of a cluster is normal).
        let one = DesiredState {
            services: vec![service(1, "aa")],
            ..DesiredState::default()
        };
        assert_eq!(
            plan(
                &DesiredState::default(),
                &observed_of(&one),
                &DiffOptions::default()
            )
            .len(),
            1
        );
    }

    #[test]
    fn memberships_are_added_and_removed() {
        let m = |g: u128, c: u128| ConsumerGroupMembership {
            consumer_group: ForeignKey::new(id(g)),
            consumer: ForeignKey::new(id(c)),
        };
        let desired = DesiredState {
            memberships: vec![m(1, 2)],
            ..DesiredState::default()
        };
        let observed = Observed {
            memberships: [m(1, 3)].into(),
            ..Observed::default()
        };
        let p = plan(&desired, &observed, &DiffOptions::default());
        let ops: Vec<&Action> = p.ops().map(|o| &o.action).collect();
        assert_eq!(
            ops,
            vec![&Action::AddMember(m(1, 2)), &Action::RemoveMember(m(1, 3))]
        );
        // A held consumer keeps its memberships.
        let held = DesiredState {
            held: [id(3)].into(),
            ..DesiredState::default()
        };
        assert!(plan(&held, &observed, &DiffOptions::default()).is_empty());
    }

    #[test]
    fn covers_compares_what_we_set() {
        assert!(covers(&json!({"a": 1}), &json!({"a": 1.0, "b": 2})));
        assert!(!covers(&json!({"a": [1, 2]}), &json!({"a": [1]})));
        assert!(!covers(&json!({"a": {"b": 1}}), &json!({"a": {}})));
        assert!(covers(&json!({"a": null}), &json!({})));
        assert!(!covers(&json!({"a": "x"}), &json!({"a": "y"})));
    }
}
