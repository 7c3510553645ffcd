//! The Konnect Application Auth Strategies API v2: application auth strategies and DCR
//! providers (`/v2/application-auth-strategies`, `/v2/dcr-providers`), on the shared budgeted
//! client. Paths, bodies and errors follow
//! `tests/reference/konnect/konnect-application-auth-strategies-v2.openapi.yaml`.
//!
//! Request bodies are JSON values built by the caller (the spec's create and update bodies are
//! per-type unions); answers are decoded into the typed views below. Secret fields of DCR
//! providers are write-only: Konnect never returns them, so nothing here can leak one back.

use std::collections::BTreeMap;

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::client::{Call, KonnectClient, decode, encode};
use super::error::Error;

/// The largest page the client asks for.
pub const APPS_PAGE_SIZE: u32 = 100;

/// `AppAuthStrategy` as Konnect returns it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AppAuthStrategy {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub display_name: String,
    pub strategy_type: String,
    #[serde(default)]
    pub configs: Value,
    #[serde(default)]
    pub active: bool,
    #[serde(default)]
    pub dcr_provider: Option<DcrProviderSummary>,
    #[serde(default)]
    pub labels: Option<BTreeMap<String, String>>,
}

/// The `dcr_provider` of a strategy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DcrProviderSummary {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub provider_type: String,
}

/// `DcrProviderResponse` (secret fields are never in it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DcrProvider {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub display_name: Option<String>,
    pub provider_type: String,
    pub issuer: String,
    #[serde(default)]
    pub active: bool,
    #[serde(default)]
    pub dcr_config: Value,
    #[serde(default)]
    pub labels: Option<BTreeMap<String, String>>,
}

/// `VerifyDcrProviderResponse`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VerifyResult {
    pub status: String,
    #[serde(default)]
    pub errors: Vec<String>,
}

impl VerifyResult {
    pub fn succeeded(&self) -> bool {
        self.status == "success"
    }
}

/// One page of a list: the items and the total the server reports.
#[derive(Clone, Debug, Deserialize)]
pub struct AppsPage<T> {
    pub data: Vec<T>,
    #[serde(default)]
    pub meta: Value,
}

const STRATEGIES: &str = "application-auth-strategies";
const PROVIDERS: &str = "dcr-providers";
const E_STRATEGY: &str = "application_auth_strategy";
const E_PROVIDER: &str = "dcr_provider";

impl KonnectClient {
    async fn apps_call<T: serde::de::DeserializeOwned>(
        &self,
        (op, entity, id): (&'static str, &'static str, Option<&str>),
        method: Method,
        path: Vec<String>,
        query: Vec<(String, String)>,
        body: Option<&Value>,
    ) -> Result<T, Error> {
        let body = body.map(encode).transpose()?;
        let call = Call {
            op,
            entity,
            id,
            method,
            path,
            query,
            body,
        };
        decode(&self.execute(call).await?, self.secret())
    }

    async fn apps_delete(
        &self,
        entity: &'static str,
        collection: &str,
        id: &str,
    ) -> Result<(), Error> {
        let call = Call {
            op: "delete",
            entity,
            id: Some(id),
            method: Method::DELETE,
            path: vec![collection.into(), id.into()],
            query: Vec::new(),
            body: None,
        };
        self.execute(call).await.map(drop)
    }

    async fn apps_list_all<T: serde::de::DeserializeOwned>(
        &self,
        entity: &'static str,
        collection: &str,
        filters: &[(String, String)],
    ) -> Result<Vec<T>, Error> {
        let mut out = Vec::new();
        let mut number = 1u32;
        loop {
            let mut query = vec![
                ("page[size]".to_owned(), APPS_PAGE_SIZE.to_string()),
                ("page[number]".to_owned(), number.to_string()),
            ];
            query.extend(filters.iter().cloned());
            let page: AppsPage<T> = self
                .apps_call(
                    ("list", entity, None),
                    Method::GET,
                    vec![collection.into()],
                    query,
                    None,
                )
                .await?;
            let got = page.data.len();
            out.extend(page.data);
            let total = page.meta["page"]["total"].as_u64();
            let done = got == 0
                || total.is_some_and(|t| out.len() as u64 >= t)
                || (total.is_none() && got < APPS_PAGE_SIZE as usize);
            if done {
                return Ok(out);
            }
            number += 1;
            if number > 10_000 {
                return Err(Error::invalid("paging did not end after 10000 pages"));
            }
        }
    }

    // ----- application auth strategies ---------------------------------------------------

    /// `GET /application-auth-strategies`, every page, with `filter[...]` pairs.
    pub async fn list_all_app_auth_strategies(
        &self,
        filters: &[(String, String)],
    ) -> Result<Vec<AppAuthStrategy>, Error> {
        self.apps_list_all(E_STRATEGY, STRATEGIES, filters).await
    }

    /// `GET /application-auth-strategies/{id}`.
    pub async fn get_app_auth_strategy(&self, id: &str) -> Result<AppAuthStrategy, Error> {
        self.apps_call(
            ("get", E_STRATEGY, Some(id)),
            Method::GET,
            vec![STRATEGIES.into(), id.into()],
            Vec::new(),
            None,
        )
        .await
    }

    /// `POST /application-auth-strategies` with a `CreateAppAuthStrategyRequest`.
    pub async fn create_app_auth_strategy(&self, body: &Value) -> Result<AppAuthStrategy, Error> {
        self.apps_call(
            ("create", E_STRATEGY, None),
            Method::POST,
            vec![STRATEGIES.into()],
            Vec::new(),
            Some(body),
        )
        .await
    }

    /// `PATCH /application-auth-strategies/{id}` with an `UpdateAppAuthStrategyRequest`.
    pub async fn update_app_auth_strategy(
        &self,
        id: &str,
        body: &Value,
    ) -> Result<AppAuthStrategy, Error> {
        self.apps_call(
            ("update", E_STRATEGY, Some(id)),
            Method::PATCH,
            vec![STRATEGIES.into(), id.into()],
            Vec::new(),
            Some(body),
        )
        .await
    }

    /// `DELETE /application-auth-strategies/{id}`; [`Error::Conflict`] while a product
    /// version uses it.
    pub async fn delete_app_auth_strategy(&self, id: &str) -> Result<(), Error> {
        self.apps_delete(E_STRATEGY, STRATEGIES, id).await
    }

    // ----- DCR providers ------------------------------------------------------------------

    /// `GET /dcr-providers`, every page, with `filter[...]` pairs.
    pub async fn list_all_dcr_providers(
        &self,
        filters: &[(String, String)],
    ) -> Result<Vec<DcrProvider>, Error> {
        self.apps_list_all(E_PROVIDER, PROVIDERS, filters).await
    }

    /// `GET /dcr-providers/{id}`.
    pub async fn get_dcr_provider(&self, id: &str) -> Result<DcrProvider, Error> {
        self.apps_call(
            ("get", E_PROVIDER, Some(id)),
            Method::GET,
            vec![PROVIDERS.into(), id.into()],
            Vec::new(),
            None,
        )
        .await
    }

    /// `POST /dcr-providers` with a `CreateDcrProviderRequest`.
    pub async fn create_dcr_provider(&self, body: &Value) -> Result<DcrProvider, Error> {
        self.apps_call(
            ("create", E_PROVIDER, None),
            Method::POST,
            vec![PROVIDERS.into()],
            Vec::new(),
            Some(body),
        )
        .await
    }

    /// `PATCH /dcr-providers/{id}` with an `UpdateDcrProviderRequest`.
    pub async fn update_dcr_provider(&self, id: &str, body: &Value) -> Result<DcrProvider, Error> {
        self.apps_call(
            ("update", E_PROVIDER, Some(id)),
            Method::PATCH,
            vec![PROVIDERS.into(), id.into()],
            Vec::new(),
            Some(body),
        )
        .await
    }

    /// `DELETE /dcr-providers/{id}`.
    pub async fn delete_dcr_provider(&self, id: &str) -> Result<(), Error> {
        self.apps_delete(E_PROVIDER, PROVIDERS, id).await
    }

    /// `POST /dcr-providers/{id}/verify`.
    pub async fn verify_dcr_provider(&self, id: &str) -> Result<VerifyResult, Error> {
        self.apps_call(
            ("verify", E_PROVIDER, Some(id)),
            Method::POST,
            vec![PROVIDERS.into(), id.into(), "verify".into()],
            Vec::new(),
            None,
        )
        .await
    }
}
