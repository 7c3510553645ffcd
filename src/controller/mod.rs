//! The controller: reconciles the cluster into one Konnect control plane.
//!
//! One sync loop, four steps, one submodule each:
//! resolve ([`watch`]: reflectors, I/O) -> translate (`crate::translate`, PURE) ->
//! sync ([`diff`] PURE, then [`execute`] I/O, against [`observed`]) -> report ([`status`]).
//!
//! Any watch event marks the loop dirty; after the debounce a pass translates the whole
//! snapshot, diffs it against what Konnect holds (listed by owner tag at start and every sync
//! period, kept current by our own writes) and writes only the difference. Nothing is written
//! before every watched kind has listed or failed to list; what a kind we cannot list produced
//! is never deleted; what translation held back (fail closed) keeps what Konnect holds.
//! Only the leader (with `--leader-election`) writes to Konnect or status.

pub mod admin;
pub mod apps;
pub mod config;
pub mod diff;
pub mod execute;
pub mod metrics;
pub mod observed;
pub mod reference;
pub mod status;
pub mod watch;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::Api;
use kube::runtime::reflector::ObjectRef;
use tokio::time::Instant;

use crate::crd::programmed;
use crate::crd::{KongClusterPlugin, KongConsumer, KongConsumerGroup};
use crate::konnect::client::{ControlPlaneClient, KonnectClient};
use crate::konnect::config::{ClientConfig, ServerUrl};
use crate::translate::{TranslateOptions, tags};

pub use config::{KonnectArgs, ParentMode, RunArgs};
use diff::{DiffOptions, KeepReason, Observed};
use metrics::Metrics;
use status::Report;
use watch::{Stores, WatchState};

/// Runs the operator until SIGINT or SIGTERM, with the Kubernetes configuration kubectl would
/// use (KUBECONFIG, ~/.kube/config, or in-cluster).
pub async fn run(args: RunArgs, opts: TranslateOptions) -> anyhow::Result<()> {
    let config = kube::Config::infer()
        .await
        .context("no Kubernetes configuration (in-cluster, KUBECONFIG or ~/.kube/config)")?;
    run_with(config, args, opts).await
}

/// [`run`] with a given Kubernetes configuration (the demo passes its own).
pub async fn run_with(
    config: kube::Config,
    args: RunArgs,
    mut opts: TranslateOptions,
) -> anyhow::Result<()> {
    let server = config.cluster_url.to_string();
    let client = kube::Client::try_from(config)
        .with_context(|| format!("cannot build a client for the Kubernetes API at {server}"))?;
    let version = client
        .apiserver_version()
        .await
        .with_context(|| format!("cannot reach the Kubernetes API at {server}"))?;
    tracing::info!(server = %version.git_version, "connected to the cluster");

    if opts.owner_tag.is_empty() {
        opts.owner_tag = cluster_owner(&client).await?;
    }
    let owner = tags::owner_tag(opts.owner());

    let metrics = Arc::new(Metrics::new());
    let token = args.konnect.token()?;
    let mut client_cfg = ClientConfig::new(ServerUrl::parse(&args.konnect.konnect_server)?, token);
    client_cfg.requests_per_minute = args.konnect_requests_per_minute;
    client_cfg.max_concurrency = args.konnect_concurrency;
    client_cfg.request_timeout = args.konnect_timeout;
    let konnect =
        KonnectClient::with_metrics(client_cfg, Arc::new(metrics::ClientHook(metrics.clone())))?;

    let health = Arc::new(admin::Health::default());
    let bound = admin::serve(args.admin_address, metrics.clone(), health.clone())
        .await
        .with_context(|| format!("cannot listen on {}", args.admin_address))?;
    tracing::info!(address = %bound, "admin server listening (/metrics /livez /readyz)");
    if let Some(addr) = args.webhook_address {
        let bound = crate::webhook::serve(addr, &args.webhook_cert_dir, client.clone()).await?;
        tracing::info!(address = %bound, "admission webhook listening (/validate)");
    }

    health.set_konnect(false, "control plane not resolved yet");
    let mut attempt = 0;
    let cp_id = loop {
        match resolve_control_plane(&konnect, &args.konnect.control_plane).await {
            Ok(id) => break id,
            Err(err) => {
                attempt += 1;
                let wait = backoff(attempt);
                tracing::warn!(
                    error = format!("{err:#}"),
                    retry_in_s = wait.as_secs(),
                    "cannot resolve the Konnect control plane; retrying"
                );
                health.set_konnect(false, format!("{err:#}"));
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = shutdown_signal() => return Ok(()),
                }
            }
        }
    };
    tracing::info!(control_plane = %cp_id, server = %konnect.server(), owner = %owner, "using Konnect control plane");
    let cp = konnect.control_plane(cp_id);

    let state = Arc::new(WatchState::default());
    let grants = watch::grant_version(&client).await;
    let stores = watch::start(&client, &args.namespaces, grants, &state);

    let (leader, lease_check) = if args.leader_election {
        let (rx, check) = leader_lease(&client, &args).await?;
        (Some(rx), Some(check))
    } else {
        (None, None)
    };
    tokio::spawn(apps::run(
        client.clone(),
        konnect.clone(),
        leader.clone(),
        args.namespaces.clone(),
        args.dry_run,
    ));
    let reporter = || {
        status::Reporter::new(
            client.clone(),
            std::env::var("POD_NAME").ok(),
            std::env::var("POD_NAMESPACE").ok(),
        )
    };
    let status_queue = {
        let stores = stores.clone();
        let lease = lease_check.clone();
        status::StatusQueue::spawn(
            reporter(),
            Box::new(move |r: &Report| current_condition(&stores, r)),
            leader.clone(),
            Box::new(move || {
                let lease = lease.clone();
                Box::pin(async move {
                    match &lease {
                        Some(check) => check.held().await,
                        None => true,
                    }
                })
            }),
        )
    };
    let mut sync = SyncLoop {
        args,
        opts,
        owner,
        cp,
        stores,
        state,
        metrics,
        health,
        reporter: reporter(),
        status_queue,
        leader,
        observed: None,
        parents: None,
        schemas: crate::schema::Registry::embedded(),
        client: client.clone(),
        secrets: watch::SecretCache::default(),
        refusals: execute::Refusals::default(),
        delete_guard: false,
        lease_check,
    };
    tokio::select! {
        () = sync.run() => {}
        () = shutdown_signal() => tracing::info!("stopping"),
    }
    Ok(())
}

/// The owner identity when `--owner` is empty: the kube-system namespace's UID (shared by
/// `run` and `diff --from-cluster`).
pub async fn cluster_owner(client: &kube::Client) -> anyhow::Result<String> {
    Api::<Namespace>::all(client.clone())
        .get("kube-system")
        .await
        .ok()
        .and_then(|ns| ns.metadata.uid)
        .context("cannot read the kube-system namespace's UID for the owner identity; set --owner")
}

/// Finds the control plane by id, or by name.
pub async fn resolve_control_plane(konnect: &KonnectClient, which: &str) -> anyhow::Result<String> {
    if uuid::Uuid::parse_str(which).is_ok() {
        let cp = konnect
            .get_control_plane(which)
            .await
            .with_context(|| format!("control plane {which}"))?;
        return Ok(cp.id);
    }
    let cp = konnect
        .find_control_plane_by_name(which)
        .await
        .with_context(|| format!("looking up control plane {which:?}"))?
        .with_context(|| format!("Konnect has no control plane named {which:?}"))?;
    Ok(cp.id)
}

async fn leader_lease(
    client: &kube::Client,
    args: &RunArgs,
) -> anyhow::Result<(tokio::sync::watch::Receiver<bool>, LeaseCheck)> {
    let namespace = args
        .leader_election_namespace
        .clone()
        .or_else(|| std::env::var("POD_NAMESPACE").ok())
        .or_else(|| {
            std::fs::read_to_string("/var/run/secrets/kubernetes.io/serviceaccount/namespace").ok()
        })
        .unwrap_or_else(|| "default".into());
    let identity = std::env::var("POD_NAME")
        .unwrap_or_else(|_| format!("konnect-plugin-operator-{}", uuid::Uuid::new_v4()));
    let manager = kube_lease_manager::LeaseManagerBuilder::new(client.clone(), LEASE_NAME)
        .with_namespace(namespace.trim())
        .with_identity(identity.clone())
        .with_duration(15)
        .with_grace(5)
        .build()
        .await
        .context("cannot set up the leader-election Lease")?;
    let (rx, _task) = manager.watch().await;
    tracing::info!(%identity, "leader election on; writing only while holding the Lease");
    let check = LeaseCheck {
        api: Api::namespaced(client.clone(), namespace.trim()),
        identity,
    };
    Ok((rx, check))
}

/// Reads the Lease before a pass writes: the lease manager only reports acquiring and losing
/// the Lease, so a replica whose renewals silently fail would otherwise keep writing after its
/// Lease expired and another replica took over.
#[derive(Clone)]
struct LeaseCheck {
    api: Api<k8s_openapi::api::coordination::v1::Lease>,
    identity: String,
}

impl LeaseCheck {
    /// True when the Lease names us and has not expired.
    async fn held(&self) -> bool {
        let Ok(lease) = self.api.get(LEASE_NAME).await else {
            return false;
        };
        let Some(spec) = lease.spec else {
            return false;
        };
        let ours = spec.holder_identity.as_deref() == Some(self.identity.as_str());
        let expires = spec.renew_time.map(|t| {
            t.0 + std::time::Duration::from_secs(
                u64::try_from(spec.lease_duration_seconds.unwrap_or(0)).unwrap_or(0),
            )
        });
        ours && expires.is_some_and(|e| e > jiff::Timestamp::now())
    }
}

const LEASE_NAME: &str = "konnect-plugin-operator";

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

struct SyncLoop {
    args: RunArgs,
    opts: TranslateOptions,
    owner: crate::konnect::models::Tag,
    cp: ControlPlaneClient,
    stores: Stores,
    state: Arc<WatchState>,
    metrics: Arc<Metrics>,
    health: Arc<admin::Health>,
    /// Events about the operator itself (the mass-delete guard).
    reporter: status::Reporter,
    /// Conditions and Events on the objects, written beside the loop.
    status_queue: status::StatusQueue,
    leader: Option<tokio::sync::watch::Receiver<bool>>,
    /// What Konnect holds; `None` until listed (and again after losing the lease).
    observed: Option<Observed>,
    /// Reference mode: the parents Konnect holds (whoever wrote them), listed with `observed`.
    parents: Option<reference::Parents>,
    schemas: crate::schema::Registry,
    client: kube::Client,
    /// The data of the Secrets plugins reference (the watch holds metadata only).
    secrets: watch::SecretCache,
    /// Writes Konnect refused for good: not re-sent while their body is unchanged.
    refusals: execute::Refusals,
    /// The mass-delete guard stops the deletes and its Event went out (once a spell).
    delete_guard: bool,
    /// With leader election: confirms the Lease before each pass.
    lease_check: Option<LeaseCheck>,
}

/// Why the loop woke up.
enum Wake {
    Changed,
    Relist,
    Retry,
    Leader,
}

impl SyncLoop {
    async fn run(&mut self) {
        let mut next_relist = Instant::now();
        let mut failures: u32 = 0;
        let mut logged_waiting = false;
        loop {
            if !self.state.settled() {
                if !logged_waiting {
                    tracing::info!("waiting for every watched kind to list");
                    logged_waiting = true;
                }
                self.wait(None, None).await;
                continue;
            }
            // Ready once every kind has listed or is known to be unavailable (a cluster without
            // the Gateway API CRDs is normal); the unavailable kinds are in the log and kept.
            self.health.set_caches_synced(self.state.settled());
            if !self.is_leader() {
                // A new leader lists Konnect afresh: another replica may have written meanwhile.
                self.observed = None;
                self.health.set_konnect(true, "");
                self.wait(None, None).await;
                continue;
            }
            if let Some(check) = &self.lease_check
                && !check.held().await
            {
                tracing::warn!(
                    "the Lease is not ours or has expired; not writing until it is renewed"
                );
                self.observed = None;
                self.wait(Some(Instant::now() + Duration::from_secs(2)), None)
                    .await;
                continue;
            }
            if self.observed.is_none() || Instant::now() >= next_relist {
                let listed = async {
                    let o = observed::load(&self.cp, &self.owner).await?;
                    let parents = match self.args.parent_mode {
                        ParentMode::Manage => None,
                        ParentMode::Reference => Some(observed::load_parents(&self.cp).await?),
                    };
                    Ok::<_, crate::konnect::error::Error>((o, parents))
                };
                match listed.await {
                    Ok((mut o, parents)) => {
                        self.parents = parents;
                        // What our last PUTs returned outlives the relist: it is what the
                        // relisted entities are compared with.
                        if let Some(old) = self.observed.take() {
                            o.carry_over(old);
                        }
                        self.metrics.observed(&o);
                        self.observed = Some(o);
                        self.health.set_konnect(true, "");
                        next_relist = Instant::now() + self.args.sync_period;
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "cannot list what Konnect holds; nothing is written until it can");
                        self.health.set_konnect(false, err.reason());
                        self.metrics.sync_pass("failed", Duration::ZERO);
                        failures += 1;
                        let wait = backoff(failures);
                        self.wait(Some(Instant::now() + wait), None).await;
                        continue;
                    }
                }
            }
            let retryable = self.pass().await;
            let retry_at = if retryable {
                failures += 1;
                Some(Instant::now() + backoff(failures))
            } else {
                failures = 0;
                None
            };
            match self.wait(Some(next_relist), retry_at).await {
                Wake::Changed => tokio::time::sleep(self.args.debounce).await,
                Wake::Relist | Wake::Retry | Wake::Leader => {}
            }
        }
    }

    fn is_leader(&self) -> bool {
        self.leader.as_ref().is_none_or(|rx| *rx.borrow())
    }

    /// Sleeps until a change, the relist time, the retry time or a leadership change.
    async fn wait(&mut self, relist: Option<Instant>, retry: Option<Instant>) -> Wake {
        let far = Instant::now() + Duration::from_secs(3600);
        let leader = async {
            match self.leader.as_mut() {
                Some(rx) => {
                    if rx.changed().await.is_err() {
                        std::future::pending::<()>().await;
                    }
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            () = self.state.changed.notified() => Wake::Changed,
            () = tokio::time::sleep_until(relist.unwrap_or(far)) => Wake::Relist,
            () = tokio::time::sleep_until(retry.unwrap_or(far)) => Wake::Retry,
            () = leader => Wake::Leader,
        }
    }

    /// One pass: translate, diff, write, report. Returns true when a write failed in a way
    /// that may succeed unchanged later (Konnect unavailable).
    async fn pass(&mut self) -> bool {
        let started = std::time::Instant::now();
        let snapshot = match self
            .stores
            .snapshot_with_secrets(&self.client, &mut self.secrets)
            .await
        {
            Ok(snapshot) => snapshot,
            Err(err) => {
                // Never translate without a Secret a plugin reads: it would read as missing.
                tracing::warn!(error = %err, "cannot read a Secret a plugin references; retrying");
                self.metrics.sync_pass("failed", Duration::ZERO);
                return true;
            }
        };
        let read_at = started.elapsed();
        let translated =
            crate::translate::translate_with_schemas(&snapshot, &self.opts, &self.schemas);
        drop(snapshot);
        let translated_at = started.elapsed();
        let referenced = self
            .parents
            .as_ref()
            .map(|parents| reference::plugins_only(&translated, parents));
        let (desired, missing_parents) = match referenced {
            Some((desired, missing)) => (std::borrow::Cow::Owned(desired), missing),
            None => (std::borrow::Cow::Borrowed(&translated), Default::default()),
        };
        let desired: &crate::translate::DesiredState = &desired;
        let unavailable = self.state.unavailable();
        let diff_opts = DiffOptions {
            unavailable_kinds: unavailable.iter().map(|(k, _)| (*k).to_owned()).collect(),
            max_delete_share: self.args.max_delete_share,
            ..DiffOptions::default()
        };
        let Some(observed) = self.observed.as_mut() else {
            return false;
        };
        let plan = diff::plan(desired, observed, &diff_opts);
        observed.verified.extend(plan.verified.iter().copied());
        let planned_at = started.elapsed();
        if let Some(why) = &plan.delete_guard {
            tracing::error!("{why}");
            self.metrics.delete_guard(true);
            // Once a spell; a publish that failed is tried again at the next pass.
            if !self.delete_guard && !self.args.dry_run {
                self.delete_guard = self
                    .reporter
                    .operator_event(
                        kube::runtime::events::EventType::Warning,
                        "MassDeleteBlocked",
                        why,
                    )
                    .await;
            }
        } else {
            self.metrics.delete_guard(false);
            self.delete_guard = false;
        }
        let kept = count_kept(&plan);
        self.metrics.kept(&kept);
        self.metrics.queued(plan.len());
        let drift = plan.ops().filter(|o| o.drift).count();
        let outcome = execute::execute(
            &self.cp,
            &plan,
            observed,
            execute::Mode {
                concurrency: self.args.konnect_concurrency,
                dry_run: self.args.dry_run,
            },
            &self.metrics,
            desired,
            &mut self.refusals,
        )
        .await;
        let mut outcome = outcome;
        for (id, message) in missing_parents {
            outcome.failed.insert(
                id,
                execute::Failure {
                    kind: diff::Kind::Plugin,
                    operation: "put",
                    reason: "ParentNotFound".into(),
                    message,
                    retryable: false,
                },
            );
        }
        self.metrics.queued(0);
        self.metrics.observed(observed);
        if !self.args.dry_run {
            self.metrics.drift_repaired(drift.min(outcome.updated));
        }
        let retryable = outcome.failed.values().any(|f| f.retryable);
        // The translated state (before reference mode's rewrite) says which object produced what.
        let reports = status::reports(&translated, &outcome, !unavailable.is_empty());
        let reported = reports.len();
        if !self.args.dry_run {
            self.status_queue.submit(reports);
        }
        let took = started.elapsed();
        self.metrics.sync_pass(
            if outcome.failed.is_empty() {
                "ok"
            } else {
                "failed"
            },
            took,
        );
        tracing::info!(
            desired = desired.entity_count(),
            writes = outcome.done,
            failed = outcome.failed.len(),
            held = desired.held.len(),
            kept = plan.kept.len(),
            reported,
            dry_run = self.args.dry_run,
            unavailable_kinds = ?unavailable.iter().map(|(k, _)| *k).collect::<Vec<_>>(),
            took_ms = took.as_millis() as u64,
            // Where the time went: reading the snapshot (and referenced Secrets), translating,
            // diffing; the rest is writing to Konnect and building the reports.
            read_ms = read_at.as_millis() as u64,
            translate_ms = (translated_at - read_at).as_millis() as u64,
            diff_ms = (planned_at - translated_at).as_millis() as u64,
            "sync pass"
        );
        retryable
    }
}

fn count_kept(plan: &diff::Plan) -> Vec<(&'static str, usize)> {
    let count = |r: KeepReason| plan.kept.values().filter(|k| **k == r).count();
    vec![
        ("held", count(KeepReason::Held)),
        ("kind_unavailable", count(KeepReason::KindUnavailable)),
        ("parent_kept", count(KeepReason::ParentKept)),
        ("delete_guard", count(KeepReason::DeleteGuard)),
    ]
}

/// 1s, 2s, 4s ... up to 60s.
fn backoff(failures: u32) -> Duration {
    Duration::from_secs(1u64 << failures.saturating_sub(1).min(6)).min(Duration::from_secs(60))
}

/// The `Programmed` condition an object holds now, from the reflector stores.
fn current_condition(stores: &Stores, r: &Report) -> Option<Condition> {
    let ns = r.namespace.as_deref();
    match r.kind {
        "KongPlugin" => find(&stores.kong_plugins, &r.name, ns).and_then(|o| {
            o.status
                .as_ref()
                .and_then(|s| programmed(&s.conditions).cloned())
        }),
        "KongClusterPlugin" => {
            find::<KongClusterPlugin>(&stores.kong_cluster_plugins, &r.name, None).and_then(|o| {
                o.status
                    .as_ref()
                    .and_then(|s| programmed(&s.conditions).cloned())
            })
        }
        "KongConsumer" => find::<KongConsumer>(&stores.kong_consumers, &r.name, ns).and_then(|o| {
            o.status
                .as_ref()
                .and_then(|s| programmed(&s.conditions).cloned())
        }),
        "KongConsumerGroup" => find::<KongConsumerGroup>(&stores.kong_consumer_groups, &r.name, ns)
            .and_then(|o| {
                o.status
                    .as_ref()
                    .and_then(|s| programmed(&s.conditions).cloned())
            }),
        _ => None,
    }
}

fn find<K>(
    stores: &[kube::runtime::reflector::Store<K>],
    name: &str,
    ns: Option<&str>,
) -> Option<Arc<K>>
where
    K: kube::Resource<DynamicType = ()> + Clone,
{
    let key = match ns {
        Some(ns) => ObjectRef::<K>::new(name).within(ns),
        None => ObjectRef::<K>::new(name),
    };
    stores.iter().find_map(|s| s.get(&key))
}
