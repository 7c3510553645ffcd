//! [`KonnectClient`]: one method per Konnect operation the operator uses, over a single
//! request path that applies the shared budget, retries, timeouts, metrics and tracing.
//!
//! Retry policy, and why: a 429 means Konnect did not process the request, so any call (POST
//! included) is retried after the (client-wide) pause, for as long as the call's
//! `rate_limit_deadline` allows; 429s do not use up `max_retries`, so a storm of them never
//! surfaces as an error while the deadline holds. 5xx and transport errors leave the outcome
//! unknown, so only idempotent calls (GET, PUT, DELETE) are retried, up to `max_retries` times
//! with exponential backoff and jitter; a POST (group membership) is reported to the caller
//! instead. 4xx other than 429 is never retried: the same body would fail the same way.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use futures::{Stream, TryStreamExt};
use rand::Rng;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::time::Instant;
use tracing::Instrument;

use super::budget::Budget;
use super::config::{ClientConfig, ServerUrl};
use super::error::{self, Error};
use super::metrics::{ClientMetrics, NoopMetrics};
use super::models::{
    Consumer, ConsumerGroup, ControlPlane, Entity, Page, Plugin, Route, Service, Tag,
};

/// The `User-Agent` every request carries.
pub const USER_AGENT: &str = concat!("konnect-plugin-operator/", env!("CARGO_PKG_VERSION"));

/// Largest page Konnect serves; used by the `list_all_*` calls.
pub const MAX_PAGE_SIZE: u32 = 1000;

/// Makes `ring` the process-wide rustls crypto provider. reqwest is built without a provider
/// so that kube's `ring` is the only one in the binary; any `reqwest::Client` built before this
/// call panics. Idempotent: a second install returns Err and changes nothing, which is fine.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A core entity with its own collection under `/control-planes/{cp}/core-entities/`.
pub trait CoreEntity: Entity + Serialize + DeserializeOwned + Send + Sync + 'static {
    /// Path segment of the collection, e.g. `consumer_groups`.
    const COLLECTION: &'static str;
    /// Singular name used in metrics, spans and error text, e.g. `consumer_group`.
    const KIND: &'static str;
    /// Some GETs wrap the entity in an object under this key (`{"consumer_group": {...}}`).
    const WRAPPER: Option<&'static str> = None;
}

impl CoreEntity for Service {
    const COLLECTION: &'static str = "services";
    const KIND: &'static str = "service";
}
impl CoreEntity for Route {
    const COLLECTION: &'static str = "routes";
    const KIND: &'static str = "route";
}
impl CoreEntity for Consumer {
    const COLLECTION: &'static str = "consumers";
    const KIND: &'static str = "consumer";
}
impl CoreEntity for ConsumerGroup {
    const COLLECTION: &'static str = "consumer_groups";
    const KIND: &'static str = "consumer_group";
    const WRAPPER: Option<&'static str> = Some("consumer_group");
}
impl CoreEntity for Plugin {
    const COLLECTION: &'static str = "plugins";
    const KIND: &'static str = "plugin";
}

/// Tag filter of a list call. A [`Tag`] holds no `,` or `/` (the AND / OR separators), so
/// any list of them renders unambiguously.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TagFilter {
    /// Entities carrying every tag (`tags=a,b`).
    All(Vec<Tag>),
    /// Entities carrying at least one tag (`tags=a/b`).
    Any(Vec<Tag>),
}

impl TagFilter {
    fn to_query(&self) -> Result<String, Error> {
        let (tags, sep) = match self {
            Self::All(t) => (t, ","),
            Self::Any(t) => (t, "/"),
        };
        if tags.is_empty() {
            return Err(Error::invalid("a tag filter needs at least one tag"));
        }
        let tags: Vec<&str> = tags.iter().map(Tag::as_str).collect();
        Ok(tags.join(sep))
    }
}

/// Parameters of one list call.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListQuery {
    /// Page size, 1..=1000 (Konnect's default is 100).
    pub size: Option<u32>,
    /// The opaque `offset` of the previous page.
    pub offset: Option<String>,
    pub tags: Option<TagFilter>,
    /// `filter[name][eq]`: only on the top-level lists whose spec takes it (services, routes,
    /// consumers, plugins); refused before sending on any other list. Consumers have no
    /// `name` field; what Konnect matches it against is not documented (the emulator matches
    /// `username`), so prefer `custom_id` for consumers.
    pub name: Option<String>,
    /// `custom_id=`: only on the top-level consumer list (the spec's `CustomId` parameter).
    pub custom_id: Option<String>,
}

/// Which filters a list endpoint takes, per the spec's parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Filters {
    /// `size`, `offset`, `tags` only (nested lists, consumer groups).
    Paging,
    /// Also `filter[name][eq]` (top-level services, routes, plugins).
    Name,
    /// Also `filter[name][eq]` and `custom_id` (top-level consumers).
    Consumer,
}

impl Filters {
    fn of<T: CoreEntity>() -> Self {
        match T::COLLECTION {
            "consumers" => Self::Consumer,
            "consumer_groups" => Self::Paging,
            _ => Self::Name,
        }
    }
}

impl ListQuery {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn size(mut self, size: u32) -> Self {
        self.size = Some(size);
        self
    }
    pub fn offset(mut self, offset: impl Into<String>) -> Self {
        self.offset = Some(offset.into());
        self
    }
    pub fn tags(mut self, tags: TagFilter) -> Self {
        self.tags = Some(tags);
        self
    }
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
    pub fn custom_id(mut self, custom_id: impl Into<String>) -> Self {
        self.custom_id = Some(custom_id.into());
        self
    }

    fn to_pairs(&self, filters: Filters) -> Result<Vec<(String, String)>, Error> {
        let mut q = Vec::new();
        if let Some(size) = self.size {
            if !(1..=MAX_PAGE_SIZE).contains(&size) {
                return Err(Error::invalid(format!(
                    "page size {size} is outside 1..={MAX_PAGE_SIZE}"
                )));
            }
            q.push(("size".to_owned(), size.to_string()));
        }
        if let Some(offset) = &self.offset {
            q.push(("offset".to_owned(), offset.clone()));
        }
        if let Some(tags) = &self.tags {
            q.push(("tags".to_owned(), tags.to_query()?));
        }
        if let Some(name) = &self.name {
            if filters == Filters::Paging {
                return Err(Error::invalid(
                    "this list endpoint does not take a name filter",
                ));
            }
            q.push(("filter[name][eq]".to_owned(), name.clone()));
        }
        if let Some(custom_id) = &self.custom_id {
            if filters != Filters::Consumer {
                return Err(Error::invalid(
                    "only the consumer list takes a custom_id filter",
                ));
            }
            q.push(("custom_id".to_owned(), custom_id.clone()));
        }
        Ok(q)
    }
}

/// The parent of a scoped plugin list (`services/{id}/plugins`, ...).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PluginParent {
    Service(String),
    Route(String),
    Consumer(String),
    ConsumerGroup(String),
}

impl PluginParent {
    fn segments(&self) -> [&str; 2] {
        match self {
            Self::Service(id) => ["services", id],
            Self::Route(id) => ["routes", id],
            Self::Consumer(id) => ["consumers", id],
            Self::ConsumerGroup(id) => ["consumer_groups", id],
        }
    }
}

/// One HTTP call as the request path sees it.
pub(super) struct Call<'a> {
    pub(super) op: &'static str,
    pub(super) entity: &'static str,
    pub(super) id: Option<&'a str>,
    pub(super) method: Method,
    pub(super) path: Vec<String>,
    pub(super) query: Vec<(String, String)>,
    pub(super) body: Option<Vec<u8>>,
}

impl Call<'_> {
    fn what(&self) -> String {
        match self.id {
            Some(id) => format!("{} {id}", self.entity),
            None => self.entity.to_owned(),
        }
    }
}

struct Inner {
    http: reqwest::Client,
    server: ServerUrl,
    auth: HeaderValue,
    /// Kept only to scrub it from error text echoed by a server.
    secret: String,
    budget: Budget,
    metrics: Arc<dyn ClientMetrics>,
    max_retries: u32,
    rate_limit_deadline: Duration,
    backoff_base: Duration,
    backoff_max: Duration,
}

/// The Konnect client. Cheap to clone; all clones share one budget.
#[derive(Clone)]
pub struct KonnectClient {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for KonnectClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KonnectClient")
            .field("server", &self.inner.server.to_string())
            .field("budget", &self.inner.budget)
            .finish_non_exhaustive()
    }
}

impl KonnectClient {
    pub fn new(cfg: ClientConfig) -> Result<Self, Error> {
        Self::with_metrics(cfg, Arc::new(NoopMetrics))
    }

    pub fn with_metrics(cfg: ClientConfig, metrics: Arc<dyn ClientMetrics>) -> Result<Self, Error> {
        let mut auth = HeaderValue::from_str(&format!("Bearer {}", cfg.token.expose()))
            .map_err(|_| Error::invalid("the Konnect token is not a valid header value"))?;
        // reqwest and hyper redact sensitive headers in their Debug output.
        auth.set_sensitive(true);
        install_crypto_provider();
        let http = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .timeout(cfg.request_timeout)
            .connect_timeout(cfg.request_timeout.min(Duration::from_secs(10)))
            .pool_max_idle_per_host(cfg.max_concurrency.max(1))
            .build()
            .map_err(|e| Error::invalid(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                server: cfg.server,
                auth,
                secret: cfg.token.expose().to_owned(),
                budget: Budget::new(cfg.requests_per_minute, cfg.max_concurrency),
                metrics,
                max_retries: cfg.max_retries,
                rate_limit_deadline: cfg.rate_limit_deadline,
                backoff_base: cfg.backoff_base,
                backoff_max: cfg.backoff_max,
            }),
        })
    }

    pub fn server(&self) -> &ServerUrl {
        &self.inner.server
    }

    pub(super) fn secret(&self) -> &str {
        &self.inner.secret
    }

    /// The shared budget (e.g. to expose the current 429 pause in readiness).
    pub fn budget(&self) -> &Budget {
        &self.inner.budget
    }

    /// A handle on one control plane's core entities.
    pub fn control_plane(&self, id: impl Into<String>) -> ControlPlaneClient {
        ControlPlaneClient {
            client: self.clone(),
            cp: id.into(),
        }
    }

    /// `GET /control-planes/{id}`.
    pub async fn get_control_plane(&self, id: &str) -> Result<ControlPlane, Error> {
        let call = Call {
            op: "get",
            entity: "control_plane",
            id: Some(id),
            method: Method::GET,
            path: vec!["control-planes".into(), id.into()],
            query: Vec::new(),
            body: None,
        };
        decode(&self.execute(call).await?, self.secret())
    }

    /// `PATCH /control-planes/{id}` (`update-control-plane`) with an `UpdateControlPlaneRequest`
    /// body (`name`, `description`, `auth_type`, `proxy_urls`, `labels`); returns the control
    /// plane as updated.
    pub async fn update_control_plane(
        &self,
        id: &str,
        patch: &serde_json::Value,
    ) -> Result<ControlPlane, Error> {
        let call = Call {
            op: "update",
            entity: "control_plane",
            id: Some(id),
            method: Method::PATCH,
            path: vec!["control-planes".into(), id.into()],
            query: Vec::new(),
            body: Some(encode(patch)?),
        };
        decode(&self.execute(call).await?, self.secret())
    }

    /// `GET /control-planes?filter[name][eq]={name}`; `None` when no control plane has it.
    pub async fn find_control_plane_by_name(
        &self,
        name: &str,
    ) -> Result<Option<ControlPlane>, Error> {
        #[derive(serde::Deserialize)]
        struct List {
            data: Vec<ControlPlane>,
        }
        let call = Call {
            op: "list",
            entity: "control_plane",
            id: None,
            method: Method::GET,
            path: vec!["control-planes".into()],
            query: vec![("filter[name][eq]".into(), name.into())],
            body: None,
        };
        let list: List = decode(&self.execute(call).await?, self.secret())?;
        // The filter is server-side; check again so a lenient server cannot hand us another
        // control plane.
        Ok(list.data.into_iter().find(|cp| cp.name == name))
    }

    /// Sends `call`, applying budget, retries and metrics; returns the 2xx body.
    pub(super) async fn execute(&self, call: Call<'_>) -> Result<Vec<u8>, Error> {
        let span = tracing::debug_span!(
            "konnect_request",
            op = call.op,
            entity = call.entity,
            id = call.id.unwrap_or(""),
            method = %call.method,
            status = tracing::field::Empty,
            attempts = tracing::field::Empty,
        );
        self.execute_inner(&call, &span)
            .instrument(span.clone())
            .await
    }

    async fn execute_inner(&self, call: &Call<'_>, span: &tracing::Span) -> Result<Vec<u8>, Error> {
        let inner = &self.inner;
        let idempotent = call.method != Method::POST;
        let mut url = inner.server.join(&call.path);
        if !call.query.is_empty() {
            url.query_pairs_mut().extend_pairs(call.query.iter());
        }
        let call_started = Instant::now();
        let mut attempt: u32 = 0;
        // Retries spent on 5xx / transport errors; 429s are bounded by the deadline instead.
        let mut failures: u32 = 0;
        loop {
            attempt += 1;
            span.record("attempts", attempt);
            let permit = inner.budget.acquire().await?;
            inner.metrics.budget_wait(permit.waited);
            let started = Instant::now();
            let outcome = self.send_once(call, url.clone()).await;
            drop(permit);
            let latency = started.elapsed();
            let err = match outcome {
                Ok((status, retry_after, body)) => {
                    inner
                        .metrics
                        .request(call.op, call.entity, Some(status.as_u16()), latency);
                    span.record("status", status.as_u16());
                    if status.is_success() {
                        tracing::debug!(status = status.as_u16(), ?latency, "konnect request done");
                        return Ok(body);
                    }
                    let err = error::from_response(
                        status.as_u16(),
                        &body,
                        retry_after.as_deref(),
                        &call.what(),
                        &inner.secret,
                    );
                    if let Some(wait) = err.retry_after() {
                        inner.metrics.rate_limited();
                        inner.budget.pause_for(wait);
                    }
                    err
                }
                Err(e) => {
                    inner.metrics.request(call.op, call.entity, None, latency);
                    Error::transport(&e, &inner.secret)
                }
            };
            let may_retry = match &err {
                Error::RateLimited { retry_after } => {
                    call_started.elapsed() + *retry_after <= inner.rate_limit_deadline
                }
                Error::Server { .. } | Error::Transport { .. } => {
                    failures += 1;
                    idempotent && failures <= inner.max_retries
                }
                _ => false,
            };
            if !may_retry {
                tracing::debug!(error = %err, attempt, "konnect request failed");
                return Err(err);
            }
            match err.retry_after() {
                // The budget holds every caller until the pause ends.
                Some(wait) => {
                    tracing::info!(attempt, retry_after = ?wait, "konnect rate limit hit, pausing the client")
                }
                None => {
                    let delay = self.backoff(failures);
                    tracing::debug!(error = %err, attempt, ?delay, "retrying konnect request");
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    /// One attempt: status, `Retry-After`, body. Reading the body is part of the attempt (and
    /// of its timeout).
    async fn send_once(
        &self,
        call: &Call<'_>,
        url: url::Url,
    ) -> Result<(StatusCode, Option<String>, Vec<u8>), reqwest::Error> {
        let mut req = self
            .inner
            .http
            .request(call.method.clone(), url)
            .header(AUTHORIZATION, self.inner.auth.clone())
            .header(ACCEPT, "application/json");
        if let Some(body) = &call.body {
            req = req
                .header(CONTENT_TYPE, "application/json")
                .body(body.clone());
        }
        let resp = req.send().await?;
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = resp.bytes().await?.to_vec();
        Ok((status, retry_after, body))
    }

    /// Exponential backoff with "equal jitter": half the delay fixed, half random, so that
    /// callers failing together spread out but still back off.
    fn backoff(&self, attempt: u32) -> Duration {
        let base = self.inner.backoff_base;
        let exp = base
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(20))
            .min(self.inner.backoff_max);
        let half = exp / 2;
        let jitter_ms = u64::try_from(half.as_millis()).unwrap_or(u64::MAX);
        half + Duration::from_millis(rand::rng().random_range(0..=jitter_ms))
    }
}

/// Decodes a 2xx body. serde's messages quote the offending value, so they are redacted
/// like any server-provided text.
pub(super) fn decode<T: DeserializeOwned>(body: &[u8], secret: &str) -> Result<T, Error> {
    serde_json::from_slice(body).map_err(|e| decode_error("", &e, secret))
}

fn decode_error(prefix: &str, e: &serde_json::Error, secret: &str) -> Error {
    Error::Decode {
        message: error::clean_message(&error::redact_text(&format!("{prefix}{e}"), secret)),
    }
}

fn decode_entity<T: CoreEntity>(body: &[u8], secret: &str) -> Result<T, Error> {
    let mut value: serde_json::Value = decode(body, secret)?;
    if let Some(key) = T::WRAPPER
        && let Some(inner) = value.get_mut(key)
    {
        value = inner.take();
    }
    serde_json::from_value(value).map_err(|e| decode_error(&format!("{}: ", T::KIND), &e, secret))
}

pub(super) fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(value).map_err(|e| Error::invalid(format!("cannot encode body: {e}")))
}

/// The core entities of one control plane.
#[derive(Clone, Debug)]
pub struct ControlPlaneClient {
    client: KonnectClient,
    cp: String,
}

impl ControlPlaneClient {
    pub fn id(&self) -> &str {
        &self.cp
    }

    fn path<S: AsRef<str>>(&self, rest: &[S]) -> Vec<String> {
        let mut p = vec![
            "control-planes".to_owned(),
            self.cp.clone(),
            "core-entities".to_owned(),
        ];
        p.extend(rest.iter().map(|s| s.as_ref().to_owned()));
        p
    }

    /// `GET {collection}/{id}`. Takes a string, not an [`EntityId`](super::models::EntityId):
    /// Kong also resolves a name here (`services/{name}`), so a non-UUID key is legitimate.
    pub async fn get<T: CoreEntity>(&self, id: &str) -> Result<T, Error> {
        let call = Call {
            op: "get",
            entity: T::KIND,
            id: Some(id),
            method: Method::GET,
            path: self.path(&[T::COLLECTION, id]),
            query: Vec::new(),
            body: None,
        };
        decode_entity(&self.client.execute(call).await?, self.client.secret())
    }

    /// `PUT {collection}/{id}`: creates or replaces. The entity must carry its id.
    pub async fn upsert<T: CoreEntity>(&self, entity: &T) -> Result<T, Error> {
        let id = entity
            .id()
            .ok_or_else(|| Error::invalid(format!("cannot upsert a {} without id", T::KIND)))?
            .to_string();
        let call = Call {
            op: "upsert",
            entity: T::KIND,
            id: Some(&id),
            method: Method::PUT,
            path: self.path(&[T::COLLECTION, &id]),
            query: Vec::new(),
            body: Some(encode(entity)?),
        };
        decode_entity(&self.client.execute(call).await?, self.client.secret())
    }

    /// `DELETE {collection}/{id}`. Konnect answers 204 also when the entity did not exist.
    /// Takes an id or a name, like [`Self::get`].
    pub async fn delete<T: CoreEntity>(&self, id: &str) -> Result<(), Error> {
        let call = Call {
            op: "delete",
            entity: T::KIND,
            id: Some(id),
            method: Method::DELETE,
            path: self.path(&[T::COLLECTION, id]),
            query: Vec::new(),
            body: None,
        };
        self.client.execute(call).await.map(drop)
    }

    /// One page of `GET {collection}`.
    pub async fn list<T: CoreEntity>(&self, query: &ListQuery) -> Result<Page<T>, Error> {
        self.list_at(
            self.path(&[T::COLLECTION]),
            T::KIND,
            query,
            Filters::of::<T>(),
        )
        .await
    }

    async fn list_at<T: DeserializeOwned>(
        &self,
        path: Vec<String>,
        entity: &'static str,
        query: &ListQuery,
        filters: Filters,
    ) -> Result<Page<T>, Error> {
        let call = Call {
            op: "list",
            entity,
            id: None,
            method: Method::GET,
            path,
            query: query.to_pairs(filters)?,
            body: None,
        };
        decode(&self.client.execute(call).await?, self.client.secret())
    }

    /// Every entity of a collection matching `query` (its size defaults to 1000, its offset is
    /// where to start), page after page.
    pub fn stream<T: CoreEntity>(
        &self,
        query: ListQuery,
    ) -> impl Stream<Item = Result<T, Error>> + Send + 'static {
        self.pages(
            self.path(&[T::COLLECTION]),
            T::KIND,
            query,
            Filters::of::<T>(),
        )
    }

    /// Pages through `path`: a stream of entities, failing once if a page fails. Stops when a
    /// page has no offset, or (with a warning) when an empty page still carries one; fails on
    /// an offset seen before. Konnect never does either, but a server bug would otherwise
    /// loop forever.
    fn pages<T: DeserializeOwned + Send + 'static>(
        &self,
        path: Vec<String>,
        entity: &'static str,
        mut query: ListQuery,
        filters: Filters,
    ) -> impl Stream<Item = Result<T, Error>> + Send + 'static {
        query.size = Some(query.size.unwrap_or(MAX_PAGE_SIZE));
        let this = self.clone();
        let seen: HashSet<String> = query.offset.iter().cloned().collect();
        let state = Some((this, path, query, seen));
        futures::stream::try_unfold(state, move |state| async move {
            let Some((this, path, mut query, mut seen)) = state else {
                return Ok(None);
            };
            let page: Page<T> = this.list_at(path.clone(), entity, &query, filters).await?;
            let next = match page.offset.filter(|o| !o.is_empty()) {
                None => None,
                Some(_) if page.data.is_empty() => {
                    tracing::warn!(
                        entity,
                        "konnect returned an empty page with an offset; stopping the listing"
                    );
                    None
                }
                Some(o) if !seen.insert(o.clone()) => {
                    return Err(Error::Decode {
                        message: format!("{entity} list returned an offset it returned before"),
                    });
                }
                Some(o) => {
                    query.offset = Some(o);
                    Some((this, path, query, seen))
                }
            };
            Ok(Some((page.data, next)))
        })
        .map_ok(|data| futures::stream::iter(data.into_iter().map(Ok)))
        .try_flatten()
    }

    /// Collects [`Self::stream`].
    pub async fn list_all<T: CoreEntity>(&self, tags: Option<TagFilter>) -> Result<Vec<T>, Error> {
        self.stream(ListQuery {
            tags,
            ..ListQuery::default()
        })
        .try_collect()
        .await
    }

    // --- services

    pub async fn get_service(&self, id: &str) -> Result<Service, Error> {
        self.get(id).await
    }
    pub async fn upsert_service(&self, service: &Service) -> Result<Service, Error> {
        self.upsert(service).await
    }
    pub async fn delete_service(&self, id: &str) -> Result<(), Error> {
        self.delete::<Service>(id).await
    }
    pub async fn list_services(&self, query: &ListQuery) -> Result<Page<Service>, Error> {
        self.list(query).await
    }
    pub async fn list_all_services(&self, tags: Option<TagFilter>) -> Result<Vec<Service>, Error> {
        self.list_all(tags).await
    }

    // --- routes

    pub async fn get_route(&self, id: &str) -> Result<Route, Error> {
        self.get(id).await
    }
    pub async fn upsert_route(&self, route: &Route) -> Result<Route, Error> {
        self.upsert(route).await
    }
    pub async fn delete_route(&self, id: &str) -> Result<(), Error> {
        self.delete::<Route>(id).await
    }
    pub async fn list_routes(&self, query: &ListQuery) -> Result<Page<Route>, Error> {
        self.list(query).await
    }
    pub async fn list_all_routes(&self, tags: Option<TagFilter>) -> Result<Vec<Route>, Error> {
        self.list_all(tags).await
    }

    // --- consumers

    pub async fn get_consumer(&self, id: &str) -> Result<Consumer, Error> {
        self.get(id).await
    }
    pub async fn upsert_consumer(&self, consumer: &Consumer) -> Result<Consumer, Error> {
        self.upsert(consumer).await
    }
    pub async fn delete_consumer(&self, id: &str) -> Result<(), Error> {
        self.delete::<Consumer>(id).await
    }
    pub async fn list_consumers(&self, query: &ListQuery) -> Result<Page<Consumer>, Error> {
        self.list(query).await
    }
    pub async fn list_all_consumers(
        &self,
        tags: Option<TagFilter>,
    ) -> Result<Vec<Consumer>, Error> {
        self.list_all(tags).await
    }

    // --- consumer groups and membership

    pub async fn get_consumer_group(&self, id: &str) -> Result<ConsumerGroup, Error> {
        self.get(id).await
    }
    pub async fn upsert_consumer_group(
        &self,
        group: &ConsumerGroup,
    ) -> Result<ConsumerGroup, Error> {
        self.upsert(group).await
    }
    pub async fn delete_consumer_group(&self, id: &str) -> Result<(), Error> {
        self.delete::<ConsumerGroup>(id).await
    }
    pub async fn list_consumer_groups(
        &self,
        query: &ListQuery,
    ) -> Result<Page<ConsumerGroup>, Error> {
        self.list(query).await
    }
    pub async fn list_all_consumer_groups(
        &self,
        tags: Option<TagFilter>,
    ) -> Result<Vec<ConsumerGroup>, Error> {
        self.list_all(tags).await
    }

    /// `POST consumer_groups/{group}/consumers` with `{"consumer": id}`. Not idempotent on
    /// Konnect's side (a second add is refused), so it is not retried after a 5xx.
    pub async fn add_consumer_to_group(
        &self,
        group_id: &str,
        consumer_id: &str,
    ) -> Result<(), Error> {
        let call = Call {
            op: "add",
            entity: "consumer_group_member",
            id: Some(consumer_id),
            method: Method::POST,
            path: self.path(&["consumer_groups", group_id, "consumers"]),
            query: Vec::new(),
            body: Some(encode(&serde_json::json!({ "consumer": consumer_id }))?),
        };
        self.client.execute(call).await.map(drop)
    }

    /// `DELETE consumer_groups/{group}/consumers/{consumer}`.
    pub async fn remove_consumer_from_group(
        &self,
        group_id: &str,
        consumer_id: &str,
    ) -> Result<(), Error> {
        let call = Call {
            op: "remove",
            entity: "consumer_group_member",
            id: Some(consumer_id),
            method: Method::DELETE,
            path: self.path(&["consumer_groups", group_id, "consumers", consumer_id]),
            query: Vec::new(),
            body: None,
        };
        self.client.execute(call).await.map(drop)
    }

    /// `DELETE consumer_groups/{group}/consumers` (`remove-all-consumers-from-consumer-group`):
    /// the group keeps existing, without members.
    pub async fn remove_all_consumers_from_group(&self, group_id: &str) -> Result<(), Error> {
        let call = Call {
            op: "remove_all",
            entity: "consumer_group_member",
            id: Some(group_id),
            method: Method::DELETE,
            path: self.path(&["consumer_groups", group_id, "consumers"]),
            query: Vec::new(),
            body: None,
        };
        self.client.execute(call).await.map(drop)
    }

    /// `DELETE consumers/{consumer}/consumer_groups` (`remove-consumer-from-all-consumer-groups`).
    pub async fn remove_consumer_from_all_groups(&self, consumer_id: &str) -> Result<(), Error> {
        let call = Call {
            op: "remove_all",
            entity: "consumer_group_member",
            id: Some(consumer_id),
            method: Method::DELETE,
            path: self.path(&["consumers", consumer_id, "consumer_groups"]),
            query: Vec::new(),
            body: None,
        };
        self.client.execute(call).await.map(drop)
    }

    /// One page of `GET consumer_groups/{group}/consumers`.
    pub async fn list_group_consumers(
        &self,
        group_id: &str,
        query: &ListQuery,
    ) -> Result<Page<Consumer>, Error> {
        self.list_at(
            self.path(&["consumer_groups", group_id, "consumers"]),
            "consumer_group_member",
            query,
            Filters::Paging,
        )
        .await
    }

    /// Every consumer of a group.
    pub async fn list_all_group_consumers(&self, group_id: &str) -> Result<Vec<Consumer>, Error> {
        self.pages(
            self.path(&["consumer_groups", group_id, "consumers"]),
            "consumer_group_member",
            ListQuery::default(),
            Filters::Paging,
        )
        .try_collect()
        .await
    }

    /// One page of `GET consumers/{consumer}/consumer_groups`.
    pub async fn list_consumer_groups_of(
        &self,
        consumer_id: &str,
        query: &ListQuery,
    ) -> Result<Page<ConsumerGroup>, Error> {
        self.list_at(
            self.path(&["consumers", consumer_id, "consumer_groups"]),
            "consumer_group",
            query,
            Filters::Paging,
        )
        .await
    }

    // --- plugins

    pub async fn get_plugin(&self, id: &str) -> Result<Plugin, Error> {
        self.get(id).await
    }
    /// `PUT plugins/{id}`; the scope is in the body (`service`, `route`, `consumer`,
    /// `consumer_group`), none for a global plugin.
    pub async fn upsert_plugin(&self, plugin: &Plugin) -> Result<Plugin, Error> {
        self.upsert(plugin).await
    }
    pub async fn delete_plugin(&self, id: &str) -> Result<(), Error> {
        self.delete::<Plugin>(id).await
    }
    /// Top-level list; `query.name` becomes `filter[name][eq]`.
    pub async fn list_plugins(&self, query: &ListQuery) -> Result<Page<Plugin>, Error> {
        self.list(query).await
    }
    pub async fn list_all_plugins(&self, tags: Option<TagFilter>) -> Result<Vec<Plugin>, Error> {
        self.list_all(tags).await
    }
    /// One page of the plugins scoped to `parent`.
    pub async fn list_plugins_for(
        &self,
        parent: &PluginParent,
        query: &ListQuery,
    ) -> Result<Page<Plugin>, Error> {
        let [kind, id] = parent.segments();
        self.list_at(
            self.path(&[kind, id, "plugins"]),
            Plugin::KIND,
            query,
            Filters::Paging,
        )
        .await
    }
    /// Every plugin scoped to `parent`.
    pub async fn list_all_plugins_for(
        &self,
        parent: &PluginParent,
        tags: Option<TagFilter>,
    ) -> Result<Vec<Plugin>, Error> {
        let [kind, id] = parent.segments();
        self.pages(
            self.path(&[kind, id, "plugins"]),
            Plugin::KIND,
            ListQuery {
                tags,
                ..ListQuery::default()
            },
            Filters::Paging,
        )
        .try_collect()
        .await
    }

    /// `GET schemas/plugins/{name}`: the `{"fields": [...]}` schema in Kong's format.
    pub async fn get_plugin_schema(&self, name: &str) -> Result<serde_json::Value, Error> {
        let call = Call {
            op: "get",
            entity: "plugin_schema",
            id: Some(name),
            method: Method::GET,
            path: self.path(&["schemas", "plugins", name]),
            query: Vec::new(),
            body: None,
        };
        decode(&self.client.execute(call).await?, self.client.secret())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::konnect::config::Token;

    fn tag(s: &str) -> Tag {
        Tag::new(s).unwrap()
    }

    fn client() -> KonnectClient {
        let mut cfg = ClientConfig::new(
            ServerUrl::parse("http://127.0.0.1:9/v2").unwrap(),
            Token::new("kpat_unit").unwrap(),
        );
        cfg.backoff_base = Duration::from_millis(100);
        cfg.backoff_max = Duration::from_millis(1000);
        KonnectClient::new(cfg).unwrap()
    }

    #[test]
    fn tag_filters_render_and_reject_an_empty_list() {
        let all = ListQuery::new()
            .size(10)
            .tags(TagFilter::All(vec![tag("a"), tag("k8s-uid:1")]));
        assert_eq!(
            all.to_pairs(Filters::Name).unwrap(),
            vec![
                ("size".to_owned(), "10".to_owned()),
                ("tags".to_owned(), "a,k8s-uid:1".to_owned())
            ]
        );
        let any = ListQuery::new().tags(TagFilter::Any(vec![tag("a"), tag("b")]));
        assert_eq!(any.to_pairs(Filters::Name).unwrap()[0].1, "a/b");
        assert!(
            ListQuery::new()
                .tags(TagFilter::All(vec![]))
                .to_pairs(Filters::Name)
                .is_err()
        );
        assert!(ListQuery::new().size(0).to_pairs(Filters::Name).is_err());
        assert!(ListQuery::new().size(1001).to_pairs(Filters::Name).is_err());
        assert!(
            ListQuery::new()
                .name("x")
                .to_pairs(Filters::Paging)
                .is_err()
        );
        assert!(
            ListQuery::new()
                .custom_id("c")
                .to_pairs(Filters::Name)
                .is_err()
        );
        assert_eq!(
            ListQuery::new()
                .custom_id("c-1")
                .to_pairs(Filters::Consumer)
                .unwrap()[0],
            ("custom_id".to_owned(), "c-1".to_owned())
        );
        assert_eq!(Filters::of::<Consumer>(), Filters::Consumer);
        assert_eq!(Filters::of::<ConsumerGroup>(), Filters::Paging);
        assert_eq!(Filters::of::<Plugin>(), Filters::Name);
        assert_eq!(
            ListQuery::new()
                .name("cors")
                .to_pairs(Filters::Name)
                .unwrap()[0],
            ("filter[name][eq]".to_owned(), "cors".to_owned())
        );
    }

    #[test]
    fn backoff_grows_with_jitter_and_is_capped() {
        let c = client();
        for _ in 0..50 {
            let d1 = c.backoff(1);
            assert!(d1 >= Duration::from_millis(50) && d1 <= Duration::from_millis(100));
            let d3 = c.backoff(3);
            assert!(d3 >= Duration::from_millis(200) && d3 <= Duration::from_millis(400));
            let d30 = c.backoff(30);
            assert!(d30 >= Duration::from_millis(500) && d30 <= Duration::from_millis(1000));
        }
    }

    #[test]
    fn consumer_group_get_is_unwrapped() {
        let wrapped = br#"{"consumer_group":{"id":"667f7bf9-392c-54b5-abee-63306d00c86e","name":"gold"},"consumers":[]}"#;
        let g: ConsumerGroup = decode_entity(wrapped, "").unwrap();
        assert_eq!(g.name, "gold");
        let bare = br#"{"id":"667f7bf9-392c-54b5-abee-63306d00c86e","name":"gold"}"#;
        let g: ConsumerGroup = decode_entity(bare, "").unwrap();
        assert_eq!(
            g.id.map(|id| id.to_string()).as_deref(),
            Some("667f7bf9-392c-54b5-abee-63306d00c86e")
        );
    }

    #[test]
    fn paths_are_scoped_to_the_control_plane() {
        let cp = client().control_plane("cp1");
        assert_eq!(
            cp.path(&["plugins", "p"]),
            vec!["control-planes", "cp1", "core-entities", "plugins", "p"]
        );
        assert_eq!(PluginParent::Route("r".into()).segments(), ["routes", "r"]);
    }

    #[tokio::test]
    async fn upsert_without_id_is_refused_before_any_request() {
        let cp = client().control_plane("cp1");
        let err = cp
            .upsert_plugin(&Plugin {
                name: "cors".into(),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Invalid { .. }), "{err:?}");
    }

    #[test]
    fn debug_of_the_client_hides_the_token() {
        let c = client();
        assert!(!format!("{c:?}").contains("kpat_unit"));
        assert!(USER_AGENT.starts_with("konnect-plugin-operator/"));
    }

    #[test]
    fn decode_errors_are_redacted() {
        let err = decode::<u32>(br#""kpat_secret_value""#, "kpat_secret_value").unwrap_err();
        assert!(matches!(err, Error::Decode { .. }));
        assert!(
            !format!("{err} {err:?}").contains("kpat_secret_value"),
            "{err}"
        );
        let err = decode_entity::<Consumer>(br#"{"username": 7, "x": "kpat_s"}"#, "kpat_s");
        assert!(!format!("{err:?}").contains("kpat_s"));
    }

    /// A deliberately broken server (the emulator never behaves like this): pages keyed by
    /// offset, each naming the next offset.
    async fn stub(pages: &'static [(&'static str, usize, Option<&'static str>)]) -> String {
        use axum::extract::Query;
        let app = axum::Router::new().route(
            "/v2/control-planes/cp/core-entities/consumers",
            axum::routing::get(
                move |Query(q): Query<std::collections::HashMap<String, String>>| async move {
                    let at = q.get("offset").map(String::as_str).unwrap_or("");
                    let (_, n, next) = pages
                        .iter()
                        .find(|(o, _, _)| *o == at)
                        .copied()
                        .unwrap_or(("", 0, None));
                    let data: Vec<_> = (0..n)
                        .map(|i| {
                            let key = format!("{at}-{i}");
                            let id = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, key.as_bytes());
                            serde_json::json!({"id": id, "username": "u"})
                        })
                        .collect();
                    axum::Json(serde_json::json!({"data": data, "next": null, "offset": next}))
                },
            ),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}/v2")
    }

    fn stub_client(base: &str) -> ControlPlaneClient {
        let cfg = ClientConfig::new(
            ServerUrl::parse(base).unwrap(),
            Token::new("kpat_unit").unwrap(),
        );
        KonnectClient::new(cfg).unwrap().control_plane("cp")
    }

    #[tokio::test]
    async fn paging_refuses_an_offset_cycle() {
        // "" -> a -> b -> a -> ...: the old guard only caught an offset repeated at once.
        static PAGES: &[(&str, usize, Option<&str>)] =
            &[("", 2, Some("a")), ("a", 2, Some("b")), ("b", 2, Some("a"))];
        let cp = stub_client(&stub(PAGES).await);
        let listing = tokio::time::timeout(Duration::from_secs(10), cp.list_all_consumers(None))
            .await
            .expect("the listing ends");
        let err = listing.unwrap_err();
        // The cycle, not a body the client could not decode.
        assert!(
            matches!(&err, Error::Decode { message } if message.contains("returned before")),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn paging_stops_on_an_empty_page_with_an_offset() {
        // An empty page that still names a fresh offset every time would never end.
        static PAGES: &[(&str, usize, Option<&str>)] = &[
            ("", 2, Some("a")),
            ("a", 0, Some("b")),
            ("b", 0, Some("c")),
            ("c", 0, Some("d")),
        ];
        let cp = stub_client(&stub(PAGES).await);
        let all = tokio::time::timeout(Duration::from_secs(10), cp.list_all_consumers(None))
            .await
            .expect("the listing ends")
            .unwrap();
        assert_eq!(all.len(), 2);
    }
}
