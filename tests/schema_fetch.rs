//! A plugin the operator does not embed: its schema is fetched from Konnect (here the emulator,
//! over HTTP) with `GET schemas/plugins/{name}`, cached, and used to validate configurations.

use konnect_plugin_operator::emulator::{self, EmulatorConfig, EmulatorHandle};
use konnect_plugin_operator::konnect::{
    ClientConfig, ControlPlaneClient, KonnectClient, ServerUrl, Token,
};
use konnect_plugin_operator::schema::{Registry, SchemaCache};
use serde_json::{Value, json};

async fn setup() -> (EmulatorHandle, ControlPlaneClient) {
    let emu = emulator::spawn(EmulatorConfig::default())
        .await
        .expect("emulator");
    let mut cfg = ClientConfig::new(
        ServerUrl::parse(&emu.base_url()).expect("emulator URL"),
        Token::new(emu.token()).expect("token"),
    );
    // A refused connection is retried; keep the failure test quick.
    cfg.backoff_base = std::time::Duration::from_millis(5);
    cfg.backoff_max = std::time::Duration::from_millis(20);
    let client = KonnectClient::new(cfg).expect("client");
    let cp = client.control_plane(
        emu.control_plane_id("default")
            .expect("default control plane"),
    );
    (emu, cp)
}

/// The fetch the controller passes to the cache: 404 means Konnect does not know the plugin.
async fn fetch(
    cp: &ControlPlaneClient,
    name: &str,
) -> Result<Option<Value>, konnect_plugin_operator::konnect::Error> {
    match cp.get_plugin_schema(name).await {
        Ok(schema) => Ok(Some(schema)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

async fn schema_requests(emu: &EmulatorHandle, status: u16) -> u64 {
    konnect_plugin_operator::konnect::install_crypto_provider();
    let stats: Value = reqwest::get(format!("http://{}/_emulator/stats", emu.addr()))
        .await
        .expect("stats")
        .json()
        .await
        .expect("stats json");
    stats["requests"]
        .as_array()
        .expect("requests")
        .iter()
        .filter(|r| r["method"] == "GET" && r["status"] == status)
        .filter(|r| {
            r["path"]
                .as_str()
                .is_some_and(|p| p.contains("/schemas/plugins/"))
        })
        .map(|r| r["count"].as_u64().unwrap_or(0))
        .sum()
}

#[tokio::test]
async fn a_fetched_schema_validates_and_is_fetched_once() {
    let (emu, cp) = setup().await;
    // An empty registry stands for a plugin we do not embed.
    let cache = SchemaCache::new(Registry::default());
    assert!(cache.get_cached("rate-limiting").await.is_none());

    let schema = cache
        .get_or_fetch("rate-limiting", || fetch(&cp, "rate-limiting"))
        .await
        .expect("fetch")
        .expect("Konnect knows rate-limiting");
    let errors = schema
        .validate(&json!({"minute": "five", "policy": "sideways"}))
        .expect_err("bad config refused");
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    assert!(fields.contains(&"config.minute"), "{errors:?}");
    assert!(fields.contains(&"config.policy"), "{errors:?}");
    let filled = schema.validate(&json!({"minute": 5})).expect("good config");
    assert_eq!(filled["minute"], 5);
    assert_eq!(
        filled["policy"], "local",
        "the default Konnect would store is filled"
    );

    // Cached: a second use does not ask Konnect again.
    let again = cache
        .get_or_fetch("rate-limiting", || fetch(&cp, "rate-limiting"))
        .await
        .expect("cached");
    assert!(again.is_some());
    assert!(cache.get_cached("rate-limiting").await.is_some());
    assert_eq!(schema_requests(&emu, 200).await, 1);
}

#[tokio::test]
async fn an_unknown_plugin_is_remembered_as_absent() {
    let (emu, cp) = setup().await;
    let cache = SchemaCache::new(Registry::default());
    for _ in 0..3 {
        let found = cache
            .get_or_fetch("no-such-plugin", || fetch(&cp, "no-such-plugin"))
            .await
            .expect("a 404 is an answer, not an error");
        assert!(found.is_none());
    }
    assert_eq!(
        schema_requests(&emu, 404).await,
        1,
        "asked once, then remembered"
    );
    // After forget, the next use asks again (e.g. after a Konnect upgrade).
    cache.forget("no-such-plugin").await;
    let _ = cache
        .get_or_fetch("no-such-plugin", || fetch(&cp, "no-such-plugin"))
        .await;
    assert_eq!(schema_requests(&emu, 404).await, 2);
}

#[tokio::test]
async fn a_failed_fetch_is_not_cached() {
    let (emu, cp) = setup().await;
    let cache = SchemaCache::new(Registry::default());
    emu.shutdown().await;
    let result = cache.get_or_fetch("cors", || fetch(&cp, "cors")).await;
    assert!(result.is_err(), "a transport error surfaces");
    assert!(
        cache.get_cached("cors").await.is_none(),
        "and is not remembered"
    );
}
