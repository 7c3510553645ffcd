//! `KonnectApplicationAuthStrategy` and `KonnectDCRProvider` on a real kube-apiserver: what the
//! Konnect Application Auth Strategies spec requires per type is refused by kubectl, with the
//! spec's wording where the spec has one
//! (tests/reference/konnect/konnect-application-auth-strategies-v2.openapi.yaml), and good
//! objects of every type are accepted.

mod support;

use std::process::Output;

use konnect_plugin_operator::crd::{
    MSG_DCR_ONLY_OIDC, MSG_KEY_AUTH_REQUIRED, MSG_LABEL_KEYS, MSG_OIDC_REQUIRED,
    MSG_PROVIDER_TYPE_IMMUTABLE, MSG_STRATEGY_TYPE_IMMUTABLE,
};

fn kubectl(ns: &str, args: &[&str], stdin: &str) -> Output {
    support::kubectl_with_stdin(ns, args, stdin)
}

fn text(output: &Output) -> String {
    support::output_text(output)
}

fn apply(ns: &str, manifest: &str) -> Output {
    kubectl(ns, &["apply", "-f", "-"], manifest)
}

fn accepted(ns: &str, manifest: &str) {
    let o = apply(ns, manifest);
    assert!(o.status.success(), "refused: {}\n{manifest}", text(&o));
}

fn refused(ns: &str, manifest: &str, message: &str) {
    let o = apply(ns, manifest);
    assert!(
        !o.status.success(),
        "accepted, expected {message:?}:\n{manifest}"
    );
    assert!(
        text(&o).contains(message),
        "expected {message:?} in: {}",
        text(&o)
    );
}

const STRATEGY: &str =
    "apiVersion: konnect-plugin-operator.dev/v1alpha1\nkind: KonnectApplicationAuthStrategy\n";
const PROVIDER: &str =
    "apiVersion: konnect-plugin-operator.dev/v1alpha1\nkind: KonnectDCRProvider\n";

fn strategy(name: &str, spec: &str) -> String {
    format!("{STRATEGY}metadata: {{name: {name}}}\nspec:\n{spec}")
}

fn provider(name: &str, spec: &str) -> String {
    format!("{PROVIDER}metadata: {{name: {name}}}\nspec:\n{spec}")
}

const REF: &str = "{name: s, key: k}";

#[tokio::test]
async fn good_objects_of_every_type_are_accepted() {
    let ns = support::cluster().namespace("apps-crd-ok").await;
    accepted(
        &ns,
        &strategy(
            "ka",
            "  displayName: API Key\n  type: key_auth\n  keyAuth: {keyNames: [apikey], ttl: {value: 30, unit: days}}\n  labels: {env: test}\n",
        ),
    );
    accepted(
        &ns,
        &strategy(
            "oidc",
            "  displayName: Enterprise\n  type: openid_connect\n  openidConnect: {issuer: 'https://idp.example.com/', credentialClaim: [sub], scopes: [openid], authMethods: [client_credentials]}\n  dcrProviderRef: {name: p}\n",
        ),
    );
    for (name, spec) in [
        (
            "auth0",
            format!(
                "  providerType: auth0\n  issuer: https://x.auth0.com/api/v2/\n  auth0: {{initialClientId: abc, initialClientSecretRef: {REF}, initialClientAudience: aud}}\n"
            ),
        ),
        (
            "azure",
            format!(
                "  providerType: azureAd\n  issuer: https://sts.windows.net/t\n  azureAd: {{initialClientId: abc, initialClientSecretRef: {REF}}}\n"
            ),
        ),
        (
            "curity",
            format!(
                "  providerType: curity\n  issuer: https://curity.example.com/\n  curity: {{initialClientId: abc, initialClientSecretRef: {REF}}}\n"
            ),
        ),
        (
            "okta",
            format!(
                "  providerType: okta\n  issuer: https://x.okta.com/default\n  okta: {{dcrTokenRef: {REF}}}\n"
            ),
        ),
        (
            "http",
            format!(
                "  providerType: http\n  issuer: https://issuer.example.com\n  http: {{dcrBaseUrl: 'https://dcr.example.com/v1', apiKeyRef: {REF}, disableEventHooks: true}}\n"
            ),
        ),
        (
            "kong-identity",
            "  providerType: kongIdentity\n  issuer: https://sliver.identity.us.konghq.com/\n"
                .to_string(),
        ),
    ] {
        accepted(&ns, &provider(name, &spec));
    }
    // Printer columns: Konnect id, active, Programmed (empty until reconciled).
    let o = kubectl(&ns, &["get", "kdcr"], "");
    let head = text(&o);
    for col in ["PROVIDER", "KONNECT-ID", "ACTIVE", "PROGRAMMED", "VERIFIED"] {
        assert!(head.contains(col), "{col} missing: {head}");
    }
    let o = kubectl(&ns, &["get", "kaas"], "");
    for col in ["TYPE", "KONNECT-ID", "ACTIVE", "PROGRAMMED"] {
        assert!(text(&o).contains(col), "{col} missing: {}", text(&o));
    }
}

#[tokio::test]
async fn strategies_refuse_what_the_spec_refuses() {
    let ns = support::cluster().namespace("apps-crd-bad").await;
    // AppAuthStrategyKeyAuthRequest requires configs.key-auth.
    refused(
        &ns,
        &strategy("a", "  displayName: x\n  type: key_auth\n"),
        MSG_KEY_AUTH_REQUIRED,
    );
    refused(
        &ns,
        &strategy(
            "b",
            "  displayName: x\n  type: key_auth\n  keyAuth: {}\n  openidConnect: {issuer: 'https://i/', credentialClaim: [], scopes: [], authMethods: []}\n",
        ),
        MSG_OIDC_REQUIRED,
    );
    // Only AppAuthStrategyOpenIDConnectRequest has dcr_provider_id.
    refused(
        &ns,
        &strategy(
            "c",
            "  displayName: x\n  type: key_auth\n  keyAuth: {}\n  dcrProviderRef: {name: p}\n",
        ),
        MSG_DCR_ONLY_OIDC,
    );
    // strategy_type: only the two of the discriminator mapping.
    refused(
        &ns,
        &strategy("d", "  displayName: x\n  type: basic_auth\n"),
        "Unsupported value: \"basic_auth\"",
    );
    // key_names: minItems 1, maxItems 10.
    refused(
        &ns,
        &strategy(
            "e",
            "  displayName: x\n  type: key_auth\n  keyAuth: {keyNames: []}\n",
        ),
        "should have at least 1 items",
    );
    let eleven: Vec<String> = (0..11).map(|i| format!("k{i}")).collect();
    refused(
        &ns,
        &strategy(
            "f",
            &format!(
                "  displayName: x\n  type: key_auth\n  keyAuth: {{keyNames: [{}]}}\n",
                eleven.join(", ")
            ),
        ),
        "must have at most 10 items",
    );
    // ttl.value minimum 1; ttl.unit enum.
    refused(
        &ns,
        &strategy(
            "g",
            "  displayName: x\n  type: key_auth\n  keyAuth: {ttl: {value: 0, unit: days}}\n",
        ),
        "should be greater than or equal to 1",
    );
    // AuthStrategyName: 1..256 characters; display name at most 256.
    refused(
        &ns,
        &strategy(
            "h",
            &format!(
                "  displayName: {}\n  type: key_auth\n  keyAuth: {{}}\n",
                "d".repeat(257)
            ),
        ),
        "Too long: may not be more than 256",
    );
    // OIDC: issuer, credential_claim, scopes, auth_methods are required.
    refused(
        &ns,
        &strategy(
            "i",
            "  displayName: x\n  type: openid_connect\n  openidConnect: {issuer: 'https://i/'}\n",
        ),
        "Required value",
    );
    // Labels: the spec's key rules and wording.
    for key in [
        "kong-team",
        "konnect",
        "mesh1",
        "kic",
        "_x",
        &"k".repeat(64),
    ] {
        refused(
            &ns,
            &strategy(
                "j",
                &format!(
                    "  displayName: x\n  type: key_auth\n  keyAuth: {{}}\n  labels: {{{key}: v}}\n"
                ),
            ),
            MSG_LABEL_KEYS,
        );
    }
    // Label values: the spec's pattern.
    refused(
        &ns,
        &strategy(
            "k",
            "  displayName: x\n  type: key_auth\n  keyAuth: {}\n  labels: {env: '-bad'}\n",
        ),
        "should match",
    );
    // strategy_type cannot change.
    accepted(
        &ns,
        &strategy("l", "  displayName: x\n  type: key_auth\n  keyAuth: {}\n"),
    );
    refused(
        &ns,
        &strategy(
            "l",
            "  displayName: x\n  type: openid_connect\n  openidConnect: {issuer: 'https://i/', credentialClaim: [sub], scopes: [], authMethods: []}\n",
        ),
        MSG_STRATEGY_TYPE_IMMUTABLE,
    );
}

#[tokio::test]
async fn dcr_providers_refuse_what_the_spec_refuses_and_take_no_inline_secret() {
    let ns = support::cluster().namespace("apps-crd-dcr").await;
    // Each type requires its own dcr_config, and no other.
    refused(
        &ns,
        &provider("a", "  providerType: auth0\n  issuer: https://i/\n"),
        "auth0 (dcr_config) is required when providerType is auth0",
    );
    refused(
        &ns,
        &provider(
            "b",
            &format!(
                "  providerType: okta\n  issuer: https://i/\n  okta: {{dcrTokenRef: {REF}}}\n  http: {{dcrBaseUrl: 'https://d/', apiKeyRef: {REF}}}\n"
            ),
        ),
        "http (dcr_config) is required when providerType is http",
    );
    // initial_client_id and the secret are required (CreateDcrConfigAuth0InRequest).
    refused(
        &ns,
        &provider(
            "c",
            &format!(
                "  providerType: curity\n  issuer: https://i/\n  curity: {{initialClientSecretRef: {REF}}}\n"
            ),
        ),
        "Required value",
    );
    // A secret can only be referenced: an inline value is not a field of the kind.
    let o = kubectl(
        &ns,
        &["apply", "--validate=strict", "-f", "-"],
        &provider(
            "d",
            "  providerType: okta\n  issuer: https://i/\n  okta: {dcrToken: abc123xyz098}\n",
        ),
    );
    assert!(!o.status.success(), "inline secret accepted");
    assert!(text(&o).contains("dcrToken"), "{}", text(&o));
    // issuer: a URL of at most 256 characters.
    refused(
        &ns,
        &provider("e", "  providerType: kongIdentity\n  issuer: not a url\n"),
        "must be a URL",
    );
    refused(
        &ns,
        &provider(
            "f",
            &format!(
                "  providerType: kongIdentity\n  issuer: https://{}.com/\n",
                "i".repeat(260)
            ),
        ),
        "Too long: may not be more than 256",
    );
    // provider_type: the six of the spec.
    refused(
        &ns,
        &provider("g", "  providerType: keycloak\n  issuer: https://i/\n"),
        "Unsupported value: \"keycloak\"",
    );
    // Label keys.
    refused(
        &ns,
        &provider(
            "h",
            "  providerType: kongIdentity\n  issuer: https://i/\n  labels: {kong: x}\n",
        ),
        MSG_LABEL_KEYS,
    );
    // The provider_type cannot be updated after creation (the spec's words).
    accepted(
        &ns,
        &provider("i", "  providerType: kongIdentity\n  issuer: https://i/\n"),
    );
    refused(
        &ns,
        &provider(
            "i",
            &format!(
                "  providerType: okta\n  issuer: https://i/\n  okta: {{dcrTokenRef: {REF}}}\n"
            ),
        ),
        MSG_PROVIDER_TYPE_IMMUTABLE,
    );
}
