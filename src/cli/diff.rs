//! The `diff` command: what the operator would write to Konnect for these manifests (or for
//! what the cluster holds, `--from-cluster`), as a reviewable list of PUTs and DELETEs with
//! each entity's changed fields — for GitOps pull requests and for migrating from KIC. Reads
//! the control plane (by our owner tag), writes nothing. Values that came from Secrets are
//! redacted.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use serde_json::Value;

use crate::controller::config::parse_duration;
use crate::controller::diff::{self, Action, Body, DiffOptions, Op, Plan};
use crate::controller::watch::{self, WatchState};
use crate::controller::{KonnectArgs, cluster_owner, observed, resolve_control_plane, status};
use crate::konnect::client::KonnectClient;
use crate::konnect::config::{ClientConfig, ServerUrl};
use crate::manifest;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::translate::{DesiredState, Snapshot, TranslateOptions, tags, translate};

/// `diff --from-cluster`: the desired state is what the cluster holds, read as `run` reads it.
#[derive(clap::Args, Debug, Clone)]
pub struct FromCluster {
    /// Read the desired state from the cluster the kubeconfig points at (KUBECONFIG,
    /// ~/.kube/config or in-cluster), as the running operator reads it, instead of from files.
    #[arg(long)]
    pub from_cluster: bool,
    /// With --from-cluster: the namespaces to read, comma-separated (default: all), as `run`'s
    /// --namespaces: pass the operator's value to see what it sees.
    #[arg(long, env = "KPO_NAMESPACES", value_delimiter = ',')]
    pub namespaces: Vec<String>,
    /// With --from-cluster: how long every watched kind may take to list (or to be refused)
    /// before the diff gives up (exit 2).
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub settle_timeout: Duration,
}

/// Reads the cluster as the operator does (its reflectors, the Secrets plugins reference,
/// translation with the schemas), lists the control plane, prints the plan. Kinds the cluster
/// refuses to list are named on `notes`, and nothing derived from them shows as a DELETE.
/// Returns true when Konnect would change (the CLI exits 1).
pub async fn diff_cluster_command(
    source: &FromCluster,
    mut opts: TranslateOptions,
    konnect: &KonnectArgs,
    out: &mut dyn Write,
    notes: &mut dyn Write,
) -> anyhow::Result<bool> {
    let client = KonnectClient::new(ClientConfig::new(
        ServerUrl::parse(&konnect.konnect_server)?,
        konnect.token()?,
    ))?;
    let config = kube::Config::infer()
        .await
        .context("no Kubernetes configuration (in-cluster, KUBECONFIG or ~/.kube/config)")?;
    let server = config.cluster_url.to_string();
    let kube = kube::Client::try_from(config)
        .with_context(|| format!("cannot build a client for the Kubernetes API at {server}"))?;
    kube.apiserver_version()
        .await
        .with_context(|| format!("cannot reach the Kubernetes API at {server}"))?;
    if opts.owner_tag.is_empty() {
        opts.owner_tag = cluster_owner(&kube).await?;
    }

    let state = Arc::new(WatchState::default());
    let grants = watch::grant_version(&kube).await;
    let stores = watch::start(&kube, &source.namespaces, grants, &state);
    settle(&state, source.settle_timeout).await?;
    let unavailable = state.unavailable();
    for (kind, why) in &unavailable {
        writeln!(
            notes,
            "! {kind}: cannot be listed ({why}); what it produced is kept, never shown as a DELETE"
        )?;
    }
    let snapshot = stores
        .snapshot_with_secrets(&kube, &mut watch::SecretCache::default())
        .await
        .context("cannot read a Secret a plugin references")?;
    let mut desired = crate::translate::translate_with_schemas(
        &snapshot,
        &opts,
        &crate::schema::Registry::embedded(),
    );
    drop(snapshot);
    if !unavailable.is_empty() {
        // As the pass's status reports: a missing referrer or referenced object may only be
        // unlisted, so do not print what the partial view cannot know.
        desired.results.retain(|r| !status::unknowable(&r.status));
    }

    let cp_id = resolve_control_plane(&client, &konnect.control_plane).await?;
    let cp = client.control_plane(cp_id);
    let observed = observed::load(&cp, &tags::owner_tag(opts.owner())).await?;
    let diff_opts = DiffOptions {
        unavailable_kinds: unavailable.iter().map(|(k, _)| (*k).to_owned()).collect(),
        ..DiffOptions::default()
    };
    let plan = diff::plan(&desired, &observed, &diff_opts);
    write_plan(&plan, &desired, &observed, out)?;
    Ok(!plan.is_empty())
}

/// Waits until every watched kind has listed or been refused (as the sync loop does before
/// its first pass), at most `timeout`.
async fn settle(state: &WatchState, timeout: Duration) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + timeout;
    while !state.settled() {
        // A change after the check is not lost: `Notify` keeps a permit for the next waiter.
        if tokio::time::timeout_at(deadline, state.changed.notified())
            .await
            .is_err()
            && !state.settled()
        {
            let waiting: Vec<&str> = state
                .kinds()
                .into_iter()
                .filter(|(_, k)| !k.synced && k.error.is_none())
                .map(|(kind, _)| kind)
                .collect();
            anyhow::bail!(
                "the cluster did not list {} within {}s (--settle-timeout); nothing was compared",
                waiting.join(", "),
                timeout.as_secs_f64()
            );
        }
    }
    Ok(())
}

/// Reads the manifests, lists the control plane, prints the plan. Returns true when Konnect
/// would change (the CLI exits 1).
pub async fn diff_command(
    paths: &[PathBuf],
    opts: TranslateOptions,
    konnect: &KonnectArgs,
    out: &mut dyn Write,
) -> anyhow::Result<bool> {
    let loaded = manifest::load_paths(paths)?;
    for skipped in &loaded.skipped {
        tracing::warn!("{skipped}");
    }
    let client = KonnectClient::new(ClientConfig::new(
        ServerUrl::parse(&konnect.konnect_server)?,
        konnect.token()?,
    ))?;
    let cp_id = resolve_control_plane(&client, &konnect.control_plane).await?;
    let cp = client.control_plane(cp_id);
    let observed = observed::load(&cp, &tags::owner_tag(opts.owner())).await?;
    let mut snapshot = loaded.snapshot;
    fill_uids(&mut snapshot, &observed);
    let desired = translate(&snapshot, &opts);
    let plan = diff::plan(&desired, &observed, &DiffOptions::default());
    write_plan(&plan, &desired, &observed, out)?;
    Ok(!plan.is_empty())
}

/// Manifests in Git carry no `metadata.uid`, but what the operator wrote carries the cluster
/// object's uid in its `k8s-uid:` tag (KIC's identity tags). An object without a uid takes the
/// uid Konnect records for the same kind, namespace and name, so the diff shows real changes
/// instead of a tag difference on every entity.
pub fn fill_uids(snapshot: &mut Snapshot, observed: &diff::Observed) {
    let mut uids: BTreeMap<(String, Option<String>, String), String> = BTreeMap::new();
    let mut add = |t: &Option<Vec<crate::konnect::models::Tag>>| {
        let (Some(kind), Some(name), Some(uid)) = (
            diff::tag_value(t, "k8s-kind:"),
            diff::tag_value(t, "k8s-name:"),
            diff::tag_value(t, "k8s-uid:"),
        ) else {
            return;
        };
        let ns = diff::tag_value(t, "k8s-namespace:").map(str::to_owned);
        uids.entry((kind.to_owned(), ns, name.to_owned()))
            .or_insert_with(|| uid.to_owned());
    };
    observed.services.values().for_each(|e| add(&e.tags));
    observed.routes.values().for_each(|e| add(&e.tags));
    observed.consumers.values().for_each(|e| add(&e.tags));
    observed.consumer_groups.values().for_each(|e| add(&e.tags));
    observed.plugins.values().for_each(|e| add(&e.tags));
    let fill = |kind: &str, meta: &mut ObjectMeta| {
        if meta.uid.is_none() {
            let key = (
                kind.to_owned(),
                Some(meta.namespace.clone().unwrap_or_else(|| "default".into())),
                meta.name.clone().unwrap_or_default(),
            );
            let cluster_key = (kind.to_owned(), None, key.2.clone());
            meta.uid = uids.get(&key).or_else(|| uids.get(&cluster_key)).cloned();
        }
    };
    snapshot
        .services
        .iter_mut()
        .for_each(|o| fill("Service", &mut std::sync::Arc::make_mut(o).metadata));
    snapshot
        .ingresses
        .iter_mut()
        .for_each(|o| fill("Ingress", &mut std::sync::Arc::make_mut(o).metadata));
    snapshot
        .http_routes
        .iter_mut()
        .for_each(|o| fill("HTTPRoute", &mut std::sync::Arc::make_mut(o).metadata));
    snapshot
        .kong_plugins
        .iter_mut()
        .for_each(|o| fill("KongPlugin", &mut std::sync::Arc::make_mut(o).metadata));
    snapshot.kong_cluster_plugins.iter_mut().for_each(|o| {
        fill(
            "KongClusterPlugin",
            &mut std::sync::Arc::make_mut(o).metadata,
        )
    });
    snapshot
        .kong_consumers
        .iter_mut()
        .for_each(|o| fill("KongConsumer", &mut std::sync::Arc::make_mut(o).metadata));
    snapshot.kong_consumer_groups.iter_mut().for_each(|o| {
        fill(
            "KongConsumerGroup",
            &mut std::sync::Arc::make_mut(o).metadata,
        )
    });
}

/// Prints a plan: one block per write, `+` create, `~` update (changed fields), `-` delete.
pub fn write_plan(
    plan: &Plan,
    desired: &DesiredState,
    observed: &diff::Observed,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    for op in plan.ops() {
        write_op(op, desired, observed, out)?;
    }
    for r in desired.results.iter().filter(|r| !r.message.is_empty()) {
        writeln!(out, "! {}: {}", r.status.as_str(), r.message)?;
    }
    if let Some(why) = &plan.delete_guard {
        writeln!(out, "! {why}")?;
    }
    writeln!(
        out,
        "{} change(s): {} put, {} delete, {} kept as Konnect holds them",
        plan.len(),
        plan.ops()
            .filter(|o| matches!(o.action, Action::Put(_) | Action::AddMember(_)))
            .count(),
        plan.ops()
            .filter(|o| matches!(o.action, Action::Delete | Action::RemoveMember(_)))
            .count(),
        plan.kept.len()
    )?;
    out.flush()
}

fn write_op(
    op: &Op,
    desired: &DesiredState,
    observed: &diff::Observed,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let kind = op.kind.as_str();
    match &op.action {
        Action::Put(body) => {
            let new = shown(body, desired);
            let old = current(op, observed).map(|o| shown(&o, desired));
            let name = label(&new);
            match old {
                None => {
                    writeln!(out, "+ PUT {kind} {name} ({})", op.id)?;
                    for (path, v) in flatten(&new) {
                        writeln!(out, "    + {path}: {v}")?;
                    }
                }
                Some(old) => {
                    writeln!(out, "~ PUT {kind} {name} ({})", op.id)?;
                    let (o, n) = (flatten(&old), flatten(&new));
                    for (path, nv) in &n {
                        match o.get(path) {
                            Some(ov) if ov == nv => {}
                            Some(ov) => writeln!(out, "    ~ {path}: {ov} -> {nv}")?,
                            None => writeln!(out, "    + {path}: {nv}")?,
                        }
                    }
                }
            }
        }
        Action::Delete => {
            let old = current(op, observed).map(|o| shown(&o, desired));
            let name = old.as_ref().map(label).unwrap_or_default();
            writeln!(out, "- DELETE {kind} {name} ({})", op.id)?;
        }
        Action::AddMember(m) => writeln!(
            out,
            "+ ADD consumer {} to consumer_group {}",
            m.consumer.id, m.consumer_group.id
        )?,
        Action::RemoveMember(m) => writeln!(
            out,
            "- REMOVE consumer {} from consumer_group {}",
            m.consumer.id, m.consumer_group.id
        )?,
    }
    Ok(())
}

/// The observed entity an op replaces or deletes.
fn current(op: &Op, observed: &diff::Observed) -> Option<Body> {
    use diff::Kind;
    match op.kind {
        Kind::Service => observed.services.get(&op.id).cloned().map(Body::Service),
        Kind::Route => observed.routes.get(&op.id).cloned().map(Body::Route),
        Kind::Consumer => observed.consumers.get(&op.id).cloned().map(Body::Consumer),
        Kind::ConsumerGroup => observed
            .consumer_groups
            .get(&op.id)
            .cloned()
            .map(Body::ConsumerGroup),
        Kind::Plugin => observed.plugins.get(&op.id).cloned().map(Body::Plugin),
        Kind::Membership => None,
    }
}

/// An entity as a person may see it: Secret-derived plugin values redacted, timestamps and id
/// dropped (the id is printed on the header line).
fn shown(body: &Body, desired: &DesiredState) -> Value {
    let mut v = match body {
        Body::Service(e) => serde_json::to_value(e),
        Body::Route(e) => serde_json::to_value(e),
        Body::Consumer(e) => serde_json::to_value(e),
        Body::ConsumerGroup(e) => serde_json::to_value(e),
        Body::Plugin(e) => serde_json::to_value(desired.redacted_plugin(e)),
    }
    .unwrap_or(Value::Null);
    if let Some(o) = v.as_object_mut() {
        for k in ["id", "created_at", "updated_at"] {
            o.remove(k);
        }
    }
    v
}

fn label(v: &Value) -> String {
    ["name", "username"]
        .iter()
        .find_map(|k| v.get(*k).and_then(Value::as_str))
        .unwrap_or_default()
        .to_owned()
}

/// `a.b[0].c -> value` for every leaf.
fn flatten(v: &Value) -> BTreeMap<String, String> {
    fn walk(prefix: String, v: &Value, out: &mut BTreeMap<String, String>) {
        match v {
            Value::Object(m) if !m.is_empty() => {
                for (k, child) in m {
                    let p = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(p, child, out);
                }
            }
            Value::Array(a) if !a.is_empty() => {
                for (i, child) in a.iter().enumerate() {
                    walk(format!("{prefix}[{i}]"), child, out);
                }
            }
            Value::Null => {}
            other => {
                out.insert(prefix, other.to_string());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(String::new(), v, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::konnect::models::{EntityId, Plugin};
    use serde_json::json;

    #[test]
    fn an_update_shows_only_the_changed_fields() {
        let id = EntityId::from(uuid::Uuid::from_u128(7));
        let new = Plugin {
            id: Some(id),
            name: "rate-limiting".into(),
            config: json!({"minute": 7, "policy": "local"}),
            ..Plugin::default()
        };
        let mut old = new.clone();
        old.config = json!({"minute": 5, "policy": "local", "hour": null});
        let desired = DesiredState {
            plugins: vec![new],
            ..DesiredState::default()
        };
        let observed = diff::Observed {
            plugins: [(id, old)].into(),
            ..diff::Observed::default()
        };
        let plan = diff::plan(&desired, &observed, &DiffOptions::default());
        let mut out = Vec::new();
        write_plan(&plan, &desired, &observed, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "~ PUT plugin rate-limiting (00000000-0000-0000-0000-000000000007)\n    ~ config.minute: 5 -> 7\n1 change(s): 1 put, 0 delete, 0 kept as Konnect holds them\n"
        );
    }
}
