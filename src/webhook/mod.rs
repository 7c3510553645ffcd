//! I/O. The validating admission webhook: HTTPS (rustls) on `--webhook-address`, `POST
//! /validate` answering AdmissionReview v1 for
//!
//! - KongPlugin and KongClusterPlugin (CREATE, UPDATE): the configuration is built as
//!   translation builds it (`configFrom`/`configPatches` Secrets read with a GET: the operator
//!   keeps only referenced Secrets) and checked against the embedded schemas; refused with
//!   `<field>: <problem>` messages;
//! - Secrets labelled `konghq.com/validate: plugin` (CREATE, UPDATE): every KongPlugin of the
//!   Secret's namespace and every KongClusterPlugin that reads it is checked again with the new
//!   data; the change is refused if one breaks. As KIC's `handleSecret` /
//!   `checkReferrersOfSecret` (Kong/kong-operator `ingress-controller/internal/admission/
//!   handler.go`), except that a Secret without the label is never checked (KIC still checks
//!   those, with a deprecation log, until 4.0).
//!
//! The decisions are in [`review`] (values in, verdict out). The certificate (`tls.crt`,
//! `tls.key` in `--webhook-cert-dir`) is read at start and again when either file changes
//! (cert-manager renews in place), checked on each new connection.

pub mod review;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use anyhow::Context;
use axum::Router;
use axum::extract::State;
use axum::routing::post;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams};
use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview, Operation};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;

use crate::crd::{KongClusterPlugin, KongPlugin};
use crate::schema::Registry;
use crate::translate::{PluginObject, referenced_secrets};
use review::Verdict;

const KONG_GROUP: &str = "configuration.konghq.com";
/// The largest AdmissionReview accepted.
const MAX_REVIEW_BYTES: usize = 16 << 20;

/// Binds `addr` and serves the webhook until the process ends; returns the bound address.
/// Fails when the certificate cannot be read or the address cannot be bound.
pub async fn serve(
    addr: SocketAddr,
    cert_dir: &Path,
    client: kube::Client,
) -> anyhow::Result<SocketAddr> {
    let certs = Arc::new(CertFiles::load(cert_dir)?);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let bound = listener.local_addr()?;
    let state = Arc::new(Webhook {
        client,
        registry: Registry::embedded(),
    });
    // An AdmissionReview carries the object and the old object: a Secret near its 1 MiB cap,
    // base64 in JSON, twice, is over axum's 2 MB default.
    let app = Router::new()
        .route("/validate", post(validate))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_REVIEW_BYTES))
        .with_state(state);
    tokio::spawn(async move {
        loop {
            let (tcp, peer) = match listener.accept().await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "webhook: accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            };
            let acceptor = certs.acceptor();
            let app = app.clone();
            tokio::spawn(async move {
                let tls = match acceptor.accept(tcp).await {
                    Ok(t) => t,
                    Err(e) => {
                        tracing::debug!(%peer, error = %e, "webhook: TLS handshake failed");
                        return;
                    }
                };
                let service = TowerToHyperService::new(app);
                if let Err(e) = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service)
                    .await
                {
                    tracing::debug!(%peer, error = %e, "webhook: connection ended with an error");
                }
            });
        }
    });
    Ok(bound)
}

/// `tls.crt` and `tls.key` of a directory, and the acceptor made of them; read again when
/// either file's modification time changes.
struct CertFiles {
    dir: PathBuf,
    current: Mutex<(Stamp, TlsAcceptor)>,
}

type Stamp = (Option<SystemTime>, Option<SystemTime>);

impl CertFiles {
    fn load(dir: &Path) -> anyhow::Result<Self> {
        let stamp = stamp(dir);
        let acceptor = acceptor(dir)?;
        Ok(Self {
            dir: dir.to_owned(),
            current: Mutex::new((stamp, acceptor)),
        })
    }

    /// The acceptor of the files as they are now (the previous one if they cannot be read).
    fn acceptor(&self) -> TlsAcceptor {
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        let now = stamp(&self.dir);
        if now != current.0 {
            match acceptor(&self.dir) {
                Ok(a) => {
                    tracing::info!(dir = %self.dir.display(), "webhook: certificate reloaded");
                    *current = (now, a);
                }
                Err(e) => {
                    tracing::warn!(
                        error = format!("{e:#}"),
                        "webhook: cannot reload the certificate; keeping the previous one"
                    );
                    current.0 = now;
                }
            }
        }
        current.1.clone()
    }
}

fn stamp(dir: &Path) -> Stamp {
    let m = |f: &str| {
        std::fs::metadata(dir.join(f))
            .and_then(|m| m.modified())
            .ok()
    };
    (m("tls.crt"), m("tls.key"))
}

fn acceptor(dir: &Path) -> anyhow::Result<TlsAcceptor> {
    let crt = dir.join("tls.crt");
    let key = dir.join("tls.key");
    let chain = CertificateDer::pem_file_iter(&crt)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("cannot read the webhook certificate {}", crt.display()))?;
    anyhow::ensure!(!chain.is_empty(), "no certificate in {}", crt.display());
    let key = PrivateKeyDer::from_pem_file(&key)
        .with_context(|| format!("cannot read the webhook key {}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS versions")?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .context("the webhook certificate and key do not match")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

struct Webhook {
    client: kube::Client,
    registry: Registry,
}

async fn validate(
    State(hook): State<Arc<Webhook>>,
    axum::Json(review): axum::Json<AdmissionReview<DynamicObject>>,
) -> axum::Json<AdmissionReview<DynamicObject>> {
    let request: AdmissionRequest<DynamicObject> = match review.try_into() {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "webhook: an AdmissionReview without a request");
            return axum::Json(AdmissionResponse::invalid(e.to_string()).into_review());
        }
    };
    let response = AdmissionResponse::from(&request);
    let verdict = hook.review(&request).await;
    let response = match verdict {
        Verdict::Allow(warnings) => {
            let mut r = response;
            if !warnings.is_empty() {
                r.warnings = Some(warnings);
            }
            r
        }
        Verdict::Deny(message) => {
            tracing::info!(
                kind = %request.kind.kind,
                namespace = request.namespace.as_deref().unwrap_or(""),
                name = %request.name,
                message = %message,
                "webhook: admission refused"
            );
            response.deny(message)
        }
    };
    axum::Json(response.into_review())
}

impl Webhook {
    async fn review(&self, req: &AdmissionRequest<DynamicObject>) -> Verdict {
        if !matches!(req.operation, Operation::Create | Operation::Update) {
            return Verdict::Allow(Vec::new());
        }
        let Some(object) = &req.object else {
            return Verdict::Allow(Vec::new());
        };
        let res = &req.resource;
        let value = match serde_json::to_value(object) {
            Ok(v) => v,
            Err(e) => return Verdict::Deny(format!("cannot read the object: {e}")),
        };
        match (res.group.as_str(), res.resource.as_str()) {
            (KONG_GROUP, "kongplugins") => {
                let mut p: KongPlugin = match serde_json::from_value(value) {
                    Ok(p) => p,
                    Err(e) => return Verdict::Deny(format!("cannot read the KongPlugin: {e}")),
                };
                if p.metadata.namespace.is_none() {
                    p.metadata.namespace = req.namespace.clone();
                }
                self.check(PluginObject::Kong(&p), &p.plugin, None).await
            }
            (KONG_GROUP, "kongclusterplugins") => {
                let p: KongClusterPlugin = match serde_json::from_value(value) {
                    Ok(p) => p,
                    Err(e) => {
                        return Verdict::Deny(format!("cannot read the KongClusterPlugin: {e}"));
                    }
                };
                self.check(PluginObject::Cluster(&p), &p.plugin, None).await
            }
            ("", "secrets") => {
                let mut s: Secret = match serde_json::from_value(value) {
                    Ok(s) => s,
                    // Not ours to judge: the apiserver validates Secrets.
                    Err(_) => return Verdict::Allow(Vec::new()),
                };
                if s.metadata.namespace.is_none() {
                    s.metadata.namespace = req.namespace.clone();
                }
                if !review::is_plugin_secret(&s) {
                    return Verdict::Allow(Vec::new());
                }
                self.check_secret_referrers(&s).await
            }
            _ => Verdict::Allow(Vec::new()),
        }
    }

    /// Checks a plugin object, its Secrets fetched with a GET (`replacing`: a Secret taken
    /// as given instead of fetched).
    async fn check(
        &self,
        plugin: PluginObject<'_>,
        plugin_name: &str,
        replacing: Option<&Secret>,
    ) -> Verdict {
        let wanted = match plugin {
            PluginObject::Kong(p) => referenced_secrets([p], []),
            PluginObject::Cluster(p) => referenced_secrets([], [p]),
        };
        let mut fetched: BTreeMap<(String, String), Secret> = BTreeMap::new();
        for (ns, name) in wanted {
            if let Some(s) = replacing
                && s.metadata.namespace.as_deref() == Some(ns.as_str())
                && s.metadata.name.as_deref() == Some(name.as_str())
            {
                fetched.insert((ns, name), s.clone());
                continue;
            }
            let api: Api<Secret> = Api::namespaced(self.client.clone(), &ns);
            match api.get_opt(&name).await {
                Ok(Some(s)) => {
                    fetched.insert((ns, name), s);
                }
                // Reported by the check as a missing Secret, naming the field.
                Ok(None) => {}
                Err(e) => {
                    return Verdict::Deny(format!(
                        "Could not load secret plugin configuration: Secret {ns}/{name}: {}",
                        kube_error(&e)
                    ));
                }
            }
        }
        let lookup = |ns: &str, name: &str| fetched.get(&(ns.to_owned(), name.to_owned()));
        review::check_plugin(&self.registry, plugin, plugin_name, &lookup)
    }

    /// Every KongPlugin of the Secret's namespace and every KongClusterPlugin that reads the
    /// Secret, checked with its new data.
    async fn check_secret_referrers(&self, secret: &Secret) -> Verdict {
        let ns = secret.metadata.namespace.clone().unwrap_or_default();
        let name = secret.metadata.name.clone().unwrap_or_default();
        let key = (ns.clone(), name);
        let plugins = match Api::<KongPlugin>::namespaced(self.client.clone(), &ns)
            .list(&ListParams::default())
            .await
        {
            Ok(l) => l.items,
            Err(e) => {
                return Verdict::Deny(format!(
                    "failed to validate other objects referencing the secret: cannot list KongPlugins in {ns}: {}",
                    kube_error(&e)
                ));
            }
        };
        let cluster_plugins = match Api::<KongClusterPlugin>::all(self.client.clone())
            .list(&ListParams::default())
            .await
        {
            Ok(l) => l.items,
            Err(e) => {
                return Verdict::Deny(format!(
                    "failed to validate other objects referencing the secret: cannot list KongClusterPlugins: {}",
                    kube_error(&e)
                ));
            }
        };
        let mut warnings = Vec::new();
        for p in &plugins {
            if !referenced_secrets([p], []).contains(&key) {
                continue;
            }
            let object = format!(
                "KongPlugin {}/{}",
                p.metadata.namespace.as_deref().unwrap_or(&ns),
                p.metadata.name.as_deref().unwrap_or_default()
            );
            match self
                .check(PluginObject::Kong(p), &p.plugin, Some(secret))
                .await
            {
                Verdict::Deny(m) => return Verdict::Deny(review::secret_breaks(&object, &m)),
                Verdict::Allow(w) => {
                    warnings.extend(w.into_iter().map(|w| format!("{object}: {w}")))
                }
            }
        }
        for p in &cluster_plugins {
            if !referenced_secrets([], [p]).contains(&key) {
                continue;
            }
            let object = format!(
                "KongClusterPlugin {}",
                p.metadata.name.as_deref().unwrap_or_default()
            );
            match self
                .check(PluginObject::Cluster(p), &p.plugin, Some(secret))
                .await
            {
                Verdict::Deny(m) => return Verdict::Deny(review::secret_breaks(&object, &m)),
                Verdict::Allow(w) => {
                    warnings.extend(w.into_iter().map(|w| format!("{object}: {w}")))
                }
            }
        }
        Verdict::Allow(warnings)
    }
}

/// A Kubernetes API error in a few words (its status message; never a Secret's data).
fn kube_error(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => format!("{} ({})", s.message, s.code),
        other => other.to_string(),
    }
}
