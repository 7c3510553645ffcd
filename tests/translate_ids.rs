//! Entity ids equal go-kong's: UUIDv5 over a per-type namespace derived from go-kong's base
//! namespace. The expected values were computed independently of this crate with Python:
//!
//! ```text
//! python3 -c "
//! import uuid
//! b=uuid.UUID('fd02801f-0957-4a15-a55a-c8d9606f30b5')
//! ns=lambda p: uuid.uuid5(b,p)
//! print(uuid.uuid5(ns('services'),'default.echo.80'))
//! print(uuid.uuid5(ns('routes'),'default.echo.echo.echo.example.com.80'))
//! print(uuid.uuid5(ns('consumers'),'alice'))
//! print(uuid.uuid5(ns('consumergroups'),'gold'))
//! print(uuid.uuid5(ns('plugins'),'datakit'))
//! print(uuid.uuid5(ns('plugins'),'datakit:service/default.echo.80'))
//! print(uuid.uuid5(ns('plugins'),'rate-limiting:route/default.echo.echo.echo.example.com.80:consumer/alice'))
//! "
//! ```

use konnect_plugin_operator::translate::ids::{self, PluginParents};

#[test]
fn ids_match_go_kong_scheme() {
    assert_eq!(
        ids::service_id("default.echo.80").to_string(),
        "8e980ed1-7cfc-5fc0-9756-290ab293e834"
    );
    assert_eq!(
        ids::route_id("default.echo.echo.echo.example.com.80").to_string(),
        "01ef6be3-854b-59a0-ae2b-8b0658e7f136"
    );
    assert_eq!(
        ids::consumer_id("alice").to_string(),
        "b32379d9-3d28-5683-a79c-72139be6e34f"
    );
    assert_eq!(
        ids::consumer_group_id("gold").to_string(),
        "667f7bf9-392c-54b5-abee-63306d00c86e"
    );
    assert_eq!(
        ids::plugin_id("datakit", &PluginParents::default()).to_string(),
        "6af194c9-bc70-5986-b159-121cc14b40a5"
    );
    let on_service = PluginParents {
        service: Some("default.echo.80".into()),
        ..Default::default()
    };
    assert_eq!(
        ids::plugin_id("datakit", &on_service).to_string(),
        "4c22d7c5-1109-5997-803f-f7decfffa4fc"
    );
    let route_consumer = PluginParents {
        route: Some("default.echo.echo.echo.example.com.80".into()),
        consumer: Some("alice".into()),
        ..Default::default()
    };
    assert_eq!(
        ids::plugin_id("rate-limiting", &route_consumer).to_string(),
        "c07bdecf-ca96-5287-9195-7cd69972b8bf"
    );
}
