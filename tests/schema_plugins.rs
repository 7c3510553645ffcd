//! The embedded plugin schemas: a complete valid example per seed plugin (from the seed's
//! example usage, values made valid) passes with defaults filled, and every constraint kind and
//! cross-field rule has a failing case that names the exact field path.

use konnect_plugin_operator::schema::{Registry, ValidationOutcome};
use pretty_assertions::assert_eq;
use serde_json::{Value, json};

fn registry() -> Registry {
    Registry::embedded()
}

fn ok(plugin: &str, config: Value) -> Value {
    match registry().validate_plugin(plugin, &config) {
        Ok(v) => v,
        Err(e) => panic!("{plugin} config refused: {e}"),
    }
}

fn errs(plugin: &str, config: Value) -> Vec<String> {
    match registry().validate_plugin(plugin, &config) {
        Ok(v) => panic!("{plugin} config accepted: {v}"),
        Err(ValidationOutcome::Invalid(e)) => e.iter().map(ToString::to_string).collect(),
        Err(ValidationOutcome::UnknownPlugin) => panic!("{plugin} unknown"),
    }
}

/// Deep-merges `patch` into a copy of `base`. Unlike a JSON merge patch, `null` sets the field
/// to null (an explicit null is what these tests need; an absent field takes its default).
fn with(base: &Value, patch: Value) -> Value {
    fn merge(into: &mut Value, patch: Value) {
        match (into, patch) {
            (Value::Object(a), Value::Object(b)) => {
                for (k, v) in b {
                    match a.get_mut(&k) {
                        Some(slot) if v.is_object() => merge(slot, v),
                        _ => {
                            a.insert(k, v);
                        }
                    }
                }
            }
            (slot, v) => *slot = v,
        }
    }
    let mut v = base.clone();
    merge(&mut v, patch);
    v
}

// ------------------------------------------------------------------------------ upstream-oauth

/// The seed's example usage with its placeholders made valid: sentinel and cluster nodes are
/// exclusive (the cluster ones are dropped). The seed's proxied Redis on database 10 is kept:
/// neither the seed nor Konnect's spec ties `connection_is_proxied` to a database.
fn upstream_oauth_seed() -> Value {
    json!({
        "behavior": {
            "idp_error_response_body_template": "{ \"code\": \"{{status}}\" }",
            "idp_error_response_content_type": "application/json",
            "idp_error_response_message": "upstream auth failed",
            "idp_error_response_status_code": 576,
            "purge_token_on_upstream_status_codes": [373],
            "upstream_access_token_header_name": "X-Token"
        },
        "cache": {
            "default_ttl": 7.94,
            "eagerly_expire": 9,
            "memory": {"dictionary_name": "my_dict"},
            "redis": {
                "cluster_max_redirections": 10,
                "connect_timeout": 305131733,
                "connection_is_proxied": true,
                "database": 10,
                "host": "redis.example.com",
                "keepalive_backlog": 1047987263,
                "keepalive_pool_size": 459234090,
                "password": "redis-password",
                "port": 35119,
                "read_timeout": 245223357,
                "send_timeout": 1142057358,
                "sentinel_master": "mymaster",
                "sentinel_nodes": [{"host": "sentinel.example.com", "port": 31719}],
                "sentinel_password": "sentinel-password",
                "sentinel_role": "any",
                "sentinel_username": "sentinel-user",
                "server_name": "redis.example.com",
                "ssl": true,
                "ssl_verify": true,
                "username": "redis-user"
            },
            "strategy": "memory"
        },
        "client": {
            "auth_method": "none",
            "client_secret_jwt_alg": "HS256",
            "http_proxy": "http://proxy:3128",
            "http_proxy_authorization": "Basic abc",
            "http_version": 1.1,
            "https_proxy": "http://proxy:3128",
            "https_proxy_authorization": "Basic abc",
            "keep_alive": true,
            "no_proxy": "localhost",
            "ssl_verify": false,
            "timeout": 1421616738
        },
        "oauth": {
            "audience": ["api"],
            "client_id": "my-client",
            "client_secret": "my-secret",
            "grant_type": "password",
            "password": "pw",
            "scopes": ["openid"],
            "token_endpoint": "https://idp.example.com/token",
            "token_headers": {"key": "value"},
            "token_post_args": {"key": "value"},
            "username": "user"
        }
    })
}

#[test]
fn upstream_oauth_seed_example_is_valid() {
    let out = ok("upstream-oauth", upstream_oauth_seed());
    assert_eq!(out["cache"]["redis"]["sentinel_role"], "any");
    assert_eq!(out["cache"]["redis"]["cluster_nodes"], Value::Null);
}

#[test]
fn upstream_oauth_minimal_gets_konnect_defaults() {
    let out = ok(
        "upstream-oauth",
        json!({"oauth": {"token_endpoint": "https://idp/token", "client_id": "c", "client_secret": "s"}}),
    );
    assert_eq!(out["oauth"]["grant_type"], "client_credentials");
    assert_eq!(out["oauth"]["scopes"], json!(["openid"]));
    assert_eq!(out["oauth"]["username"], Value::Null);
    assert_eq!(out["client"]["auth_method"], "client_secret_post");
    assert_eq!(out["client"]["client_secret_jwt_alg"], "HS512");
    assert_eq!(out["client"]["timeout"], 10000);
    assert_eq!(out["cache"]["strategy"], "memory");
    assert_eq!(out["cache"]["memory"]["dictionary_name"], "kong_db_cache");
    assert_eq!(out["cache"]["default_ttl"], 3600);
    assert_eq!(out["cache"]["redis"]["port"], 6379);
    assert_eq!(out["behavior"]["idp_error_response_status_code"], 502);
    assert_eq!(
        out["behavior"]["upstream_access_token_header_name"],
        "Authorization"
    );
}

#[test]
fn upstream_oauth_field_constraints() {
    let base = upstream_oauth_seed();
    let cases = [
        (
            json!({"oauth": {"grant_type": "implicit"}}),
            "config.oauth.grant_type: expected one of: client_credentials, password",
        ),
        (
            json!({"oauth": {"token_endpoint": null}}),
            "config.oauth.token_endpoint: required field missing",
        ),
        (
            json!({"oauth": {"client_id": ""}}),
            "config.oauth.client_id: length must be at least 1",
        ),
        (
            json!({"oauth": {"scopes": "openid"}}),
            "config.oauth.scopes: expected an array",
        ),
        (
            json!({"oauth": {"token_headers": {"X-A": 1}}}),
            "config.oauth.token_headers.X-A: expected a string",
        ),
        (
            json!({"oauth": {"extra": true}}),
            "config.oauth.extra: unknown field",
        ),
        (
            json!({"client": {"auth_method": "private_key_jwt"}}),
            "config.client.auth_method: expected one of: client_secret_basic, client_secret_jwt, client_secret_post, none",
        ),
        (
            json!({"client": {"client_secret_jwt_alg": "RS256"}}),
            "config.client.client_secret_jwt_alg: expected one of: HS256, HS512",
        ),
        (
            json!({"client": {"timeout": -1}}),
            "config.client.timeout: value should be between 0 and 2147483646",
        ),
        (
            json!({"client": {"keep_alive": "yes"}}),
            "config.client.keep_alive: expected a boolean",
        ),
        (
            json!({"cache": {"strategy": "disk"}}),
            "config.cache.strategy: expected one of: memory, redis",
        ),
        (
            json!({"cache": {"default_ttl": 0}}),
            "config.cache.default_ttl: value must be greater than 0",
        ),
        (
            json!({"cache": {"eagerly_expire": 1.5}}),
            "config.cache.eagerly_expire: expected an integer",
        ),
        (
            json!({"cache": {"memory": {"dictionary_name": null}}}),
            "config.cache.memory.dictionary_name: required field missing",
        ),
        (
            json!({"cache": {"redis": {"port": 70000}}}),
            "config.cache.redis.port: value should be between 0 and 65535",
        ),
        (
            json!({"cache": {"redis": {"sentinel_role": "leader"}}}),
            "config.cache.redis.sentinel_role: expected one of: master, slave, any",
        ),
        (
            json!({"cache": {"redis": {"sentinel_nodes": [{"host": "h", "port": "x"}]}}}),
            "config.cache.redis.sentinel_nodes[0].port: expected an integer",
        ),
        (
            json!({"cache": {"redis": {"keepalive_pool_size": 0}}}),
            "config.cache.redis.keepalive_pool_size: value should be between 1 and 2147483646",
        ),
        (
            json!({"behavior": {"idp_error_response_status_code": 404}}),
            "config.behavior.idp_error_response_status_code: value should be between 500 and 599",
        ),
        (
            json!({"behavior": {"purge_token_on_upstream_status_codes": [401, 99]}}),
            "config.behavior.purge_token_on_upstream_status_codes[1]: value should be between 100 and 599",
        ),
        (
            json!({"unknown_section": {}}),
            "config.unknown_section: unknown field",
        ),
    ];
    for (patch, expected) in cases {
        assert_eq!(
            errs("upstream-oauth", with(&base, patch.clone())),
            [expected],
            "patch {patch}"
        );
    }
    // An empty cluster node list is refused by length (a null list would mean "not set").
    let mut no_sentinel = with(
        &base,
        json!({"cache": {"redis": {"sentinel_master": null, "sentinel_role": null, "sentinel_nodes": null}}}),
    );
    no_sentinel["cache"]["redis"]["cluster_nodes"] = json!([]);
    assert_eq!(
        errs("upstream-oauth", no_sentinel),
        ["config.cache.redis.cluster_nodes: length must be at least 1"]
    );
}

#[test]
fn upstream_oauth_cross_field_rules() {
    let base = upstream_oauth_seed();
    // grant_type password needs username and password.
    assert_eq!(
        errs(
            "upstream-oauth",
            with(
                &base,
                json!({"oauth": {"username": null, "password": null}})
            )
        ),
        [
            "config.oauth.username: required field missing",
            "config.oauth.password: required field missing"
        ]
    );
    // client_credentials does not.
    ok(
        "upstream-oauth",
        with(
            &base,
            json!({"oauth": {"grant_type": "client_credentials", "username": null, "password": null}}),
        ),
    );
    // Client auth methods that send the secret need client_id and client_secret ...
    for method in [
        "client_secret_basic",
        "client_secret_post",
        "client_secret_jwt",
    ] {
        assert_eq!(
            errs(
                "upstream-oauth",
                with(
                    &base,
                    json!({"client": {"auth_method": method}, "oauth": {"client_id": null, "client_secret": null}})
                )
            ),
            [
                "config.oauth.client_id: required field missing",
                "config.oauth.client_secret: required field missing"
            ],
            "{method}"
        );
    }
    // ... `none` does not.
    ok(
        "upstream-oauth",
        with(
            &base,
            json!({"oauth": {"client_id": null, "client_secret": null}}),
        ),
    );
    // The redis strategy needs somewhere to connect to.
    let redis_nowhere = with(
        &base,
        json!({"cache": {"strategy": "redis", "redis": {"host": null, "sentinel_master": null, "sentinel_role": null, "sentinel_nodes": null}}}),
    );
    assert_eq!(
        errs("upstream-oauth", redis_nowhere.clone()),
        [
            "config: at least one of these fields must be non-empty: 'config.cache.redis.host', 'config.cache.redis.sentinel_nodes', 'config.cache.redis.cluster_nodes'"
        ]
    );
    // ... which the memory strategy does not.
    ok(
        "upstream-oauth",
        with(&redis_nowhere, json!({"cache": {"strategy": "memory"}})),
    );
    // Sentinel settings come together.
    assert_eq!(
        errs(
            "upstream-oauth",
            with(&base, json!({"cache": {"redis": {"sentinel_nodes": null}}}))
        ),
        [
            "config.cache.redis: all or none of these fields must be set: 'sentinel_master', 'sentinel_role', 'sentinel_nodes'"
        ]
    );
    // Sentinel and cluster are exclusive.
    let mut both = base.clone();
    both["cache"]["redis"]["cluster_nodes"] = json!([{"ip": "10.0.0.1", "port": 6379}]);
    assert_eq!(
        errs("upstream-oauth", both),
        [
            "config.cache.redis: these sets are mutually exclusive: ('sentinel_master', 'sentinel_role', 'sentinel_nodes'), ('cluster_nodes')"
        ]
    );
    // Timeouts come together.
    assert_eq!(
        errs(
            "upstream-oauth",
            with(&base, json!({"cache": {"redis": {"read_timeout": null}}}))
        ),
        [
            "config.cache.redis: all or none of these fields must be set: 'connect_timeout', 'send_timeout', 'read_timeout'"
        ]
    );
    // No rule ties a proxied Redis to a database (none in the seed or Konnect's spec): the
    // seed's own example, proxied on database 10, is accepted as given.
    let out = ok(
        "upstream-oauth",
        with(
            &base,
            json!({"cache": {"strategy": "redis", "redis": {"connection_is_proxied": true, "database": 10}}}),
        ),
    );
    assert_eq!(out["cache"]["redis"]["connection_is_proxied"], true);
    assert_eq!(out["cache"]["redis"]["database"], 10);
}

// ------------------------------------------------------------------------------ protocols

const HTTP_PROTOCOLS: &str = "expected one of: grpc, grpcs, http, https, ws, wss";

#[test]
fn upstream_oauth_refuses_stream_protocols() {
    let schema = registry().get("upstream-oauth").cloned().expect("embedded");
    let refused = schema
        .validate_protocols(Some(&json!(["tcp"])))
        .map_err(|e| e.iter().map(ToString::to_string).collect::<Vec<_>>());
    assert_eq!(
        refused,
        Err(vec![format!("protocols[0]: {HTTP_PROTOCOLS}")])
    );
    // Each stream protocol, wherever it sits in the set, is named by its own index.
    let refused = schema
        .validate_protocols(Some(&json!(["http", "tls", "udp", "tls_passthrough"])))
        .map_err(|e| e.iter().map(ToString::to_string).collect::<Vec<_>>());
    assert_eq!(
        refused,
        Err(vec![
            format!("protocols[1]: {HTTP_PROTOCOLS}"),
            format!("protocols[2]: {HTTP_PROTOCOLS}"),
            format!("protocols[3]: {HTTP_PROTOCOLS}"),
        ])
    );
    // The seed's example (`protocols = ["http"]`) and the websocket ones pass as given.
    assert_eq!(
        schema.validate_protocols(Some(&json!(["http"]))),
        Ok(json!(["http"]))
    );
    assert_eq!(
        schema.validate_protocols(Some(&json!(["ws", "wss"]))),
        Ok(json!(["ws", "wss"]))
    );
    // Absent, Konnect fills the plugin entity's default.
    assert_eq!(
        schema.validate_protocols(None),
        Ok(json!(["grpc", "grpcs", "http", "https"]))
    );
    // `protocols` is required: an explicit null is refused.
    assert_eq!(
        schema
            .validate_protocols(Some(&Value::Null))
            .map_err(|e| e.iter().map(ToString::to_string).collect::<Vec<_>>()),
        Err(vec!["protocols: required field missing".to_owned()])
    );
}

#[test]
fn embedded_plugins_declare_kongs_protocols() {
    // Kong declares `typedefs.protocols` (every protocol) for these plugins, in
    // kong/plugins/<name>/schema.lua; the others use `typedefs.protocols_http`.
    const ALL_PROTOCOLS: &[&str] = &["file-log", "http-log", "ip-restriction", "prometheus"];
    let r = registry();
    let names: Vec<&str> = r.names().collect();
    assert_eq!(names.len(), 21, "{names:?}");
    for name in ALL_PROTOCOLS {
        let schema = r.get(name).expect("embedded");
        assert_eq!(
            schema.allowed_protocols().map(|p| p.len()),
            Some(10),
            "{name}"
        );
        schema
            .validate_protocols(Some(&json!(["tcp"])))
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
    }
    for name in names.into_iter().filter(|n| !ALL_PROTOCOLS.contains(n)) {
        let schema = r.get(name).expect("listed");
        assert_eq!(
            schema.allowed_protocols(),
            Some(
                ["grpc", "grpcs", "http", "https", "ws", "wss"]
                    .map(String::from)
                    .to_vec()
            ),
            "{name}"
        );
        assert_eq!(
            schema.default_protocols(),
            Some(
                ["grpc", "grpcs", "http", "https"]
                    .map(String::from)
                    .to_vec()
            ),
            "{name}"
        );
        for stream in ["tcp", "tls", "tls_passthrough", "udp"] {
            assert!(
                schema.validate_protocols(Some(&json!([stream]))).is_err(),
                "{name} accepted {stream}"
            );
        }
    }
}

// ------------------------------------------------------------------------------ session

fn session_seed() -> Value {
    json!({
        "absolute_timeout": 1.93,
        "audience": "my-application",
        "bind": ["user-agent"],
        "cookie_domain": "example.com",
        "cookie_http_only": true,
        "cookie_name": "my_session",
        "cookie_path": "/app",
        "cookie_same_site": "Strict",
        "cookie_secure": true,
        "hash_subject": false,
        "idling_timeout": 6.27,
        "logout_methods": ["GET"],
        "logout_post_arg": "bye",
        "logout_query_arg": "bye",
        "read_body_for_logout": true,
        "remember": false,
        "remember_absolute_timeout": 7.47,
        "remember_cookie_name": "remember_me",
        "remember_rolling_timeout": 6.77,
        "request_headers": ["idling-timeout"],
        "response_headers": ["audience"],
        "rolling_timeout": 9.29,
        "secret": "a-long-secret",
        "stale_ttl": 3.88,
        "storage": "cookie",
        "store_metadata": true
    })
}

#[test]
fn session_seed_example_is_valid_and_defaults_fill() {
    let out = ok("session", session_seed());
    assert_eq!(
        out,
        session_seed(),
        "every field was given, nothing to fill"
    );
    let out = ok("session", json!({}));
    let expected = json!({
        "secret": null, "storage": "cookie", "audience": "default", "store_metadata": false,
        "hash_subject": false, "idling_timeout": 900, "rolling_timeout": 3600,
        "absolute_timeout": 86400, "stale_ttl": 10, "cookie_name": "session", "cookie_path": "/",
        "cookie_domain": null, "cookie_same_site": "Strict", "cookie_http_only": true,
        "cookie_secure": true, "remember": false, "remember_cookie_name": "remember",
        "remember_rolling_timeout": 604800, "remember_absolute_timeout": 2592000,
        "response_headers": null, "request_headers": null, "bind": null,
        "logout_methods": ["DELETE", "POST"], "logout_query_arg": "session_logout",
        "logout_post_arg": "session_logout", "read_body_for_logout": false
    });
    assert_eq!(out, expected);
    // A KongPlugin without `config` is an empty config.
    assert_eq!(ok("session", Value::Null), expected);
}

#[test]
fn session_constraints() {
    let base = session_seed();
    let cases = [
        (
            json!({"cookie_same_site": "Sometimes"}),
            "config.cookie_same_site: expected one of: Strict, Lax, None, Default",
        ),
        (
            json!({"storage": "disk"}),
            "config.storage: expected one of: cookie, kong",
        ),
        (
            json!({"request_headers": ["id", "bogus"]}),
            "config.request_headers[1]: expected one of: id, audience, subject, timeout, idling-timeout, rolling-timeout, absolute-timeout",
        ),
        (
            json!({"response_headers": ["nope"]}),
            "config.response_headers[0]: expected one of: id, audience, subject, timeout, idling-timeout, rolling-timeout, absolute-timeout",
        ),
        (
            json!({"bind": ["cookie"]}),
            "config.bind[0]: expected one of: ip, scheme, user-agent",
        ),
        (
            json!({"logout_methods": ["PUT"]}),
            "config.logout_methods[0]: expected one of: GET, POST, DELETE",
        ),
        (
            json!({"cookie_path": "app"}),
            "config.cookie_path: should start with: /",
        ),
        (
            json!({"cookie_name": ""}),
            "config.cookie_name: length must be at least 1",
        ),
        (
            json!({"idling_timeout": "900"}),
            "config.idling_timeout: expected a number",
        ),
        (
            json!({"cookie_secure": "yes"}),
            "config.cookie_secure: expected a boolean",
        ),
        (json!({"secret": 42}), "config.secret: expected a string"),
        (
            json!({"cookie_lifetime": 3600}),
            "config.cookie_lifetime: unknown field",
        ),
    ];
    for (patch, expected) in cases {
        assert_eq!(
            errs("session", with(&base, patch.clone())),
            [expected],
            "patch {patch}"
        );
    }
    // Several errors at once are all reported.
    assert_eq!(
        errs("session", json!({"storage": "disk", "cookie_path": "x"})),
        [
            "config.storage: expected one of: cookie, kong",
            "config.cookie_path: should start with: /"
        ]
    );
}

// ------------------------------------------------------------------------------ datakit

/// The seed's how-to configuration, as its Konnect request body.
fn datakit_seed() -> Value {
    json!({
        "nodes": [
            {"name": "STATIC_INPUTS", "type": "static", "values": {
                "headers": {"Content-Type": "application/x-www-form-urlencoded"},
                "body": "grant_type=client_credentials"}},
            {"name": "BUILD_HEADERS", "type": "jq",
             "inputs": {"headers": "STATIC_INPUTS.headers", "query": "request.query"},
             "jq": ".headers * {\n \"X-Api-Key\": (.query.api_key // \"none\")\n}\n"},
            {"name": "AUTH_REQUEST", "type": "call",
             "inputs": {"headers": "BUILD_HEADERS", "body": "STATIC_INPUTS.body"},
             "url": "https://my-token-service/auth-token", "method": "POST"},
            {"name": "UPSTREAM_AUTH_HEADER", "type": "jq", "input": "AUTH_REQUEST.body",
             "output": "service_request.headers",
             "jq": "{\n Authorization: (.token_type + \" \" + .access_token)\n}\n"}
        ]
    })
}

fn jq(name: &str, input: &str) -> Value {
    json!({"name": name, "type": "jq", "input": input, "jq": "."})
}

#[test]
fn datakit_seed_example_is_valid() {
    let out = ok("datakit", datakit_seed());
    assert_eq!(out["debug"], false);
    assert_eq!(out["resources"]["cache"]["strategy"], "memory");
    assert_eq!(out["nodes"][2]["method"], "POST");
    assert_eq!(out["nodes"][3]["output"], "service_request.headers");
}

#[test]
fn datakit_every_node_type_validates() {
    let config = json!({"nodes": [
        {"name": "req_prop", "type": "property", "property": "kong.request.path", "content_type": "text/plain"},
        {"name": "fetch", "type": "call", "url": "https://api.example.com", "timeout": 1000, "ssl_verify": true,
         "outputs": {"body": "to_xml", "status": "check"}},
        {"name": "check", "type": "branch", "then": ["cached"], "else": ["done"]},
        {"name": "cached", "type": "cache", "inputs": {"key": "req_prop", "data": "fetch.body"}, "ttl": 60},
        {"name": "to_xml", "type": "json_to_xml", "root_element_name": "root"},
        {"name": "from_xml", "type": "xml_to_json", "input": "to_xml", "xpath": "/root"},
        {"name": "done", "type": "exit", "inputs": {"body": "from_xml"}, "status": 201}
    ]});
    let out = ok("datakit", config);
    assert_eq!(
        out["nodes"][1]["method"], "GET",
        "call method defaults to GET"
    );
    assert_eq!(out["nodes"][5]["recognize_type"], true);
}

#[test]
fn datakit_jq_length_counts_characters() {
    // Kong measures with utf8.len: 10,240 characters pass even at two bytes each.
    let node = |program: String| {
        let mut n = jq("J", "request.body");
        n["jq"] = json!(program);
        json!({"nodes": [n]})
    };
    ok("datakit", node("ä".repeat(10_240)));
    assert_eq!(
        errs("datakit", node("ä".repeat(10_241))),
        ["config.nodes[0].jq: length must be at most 10240"]
    );
}

#[test]
fn datakit_graph_errors() {
    let base = datakit_seed();
    // A dangling input.
    let mut dangling = base.clone();
    dangling["nodes"][3]["input"] = json!("AUTH_REQUST.body");
    assert_eq!(
        errs("datakit", dangling),
        ["config.nodes[3].input: unknown node 'AUTH_REQUST'"]
    );
    // A dangling entry of `inputs`.
    let mut dangling = base.clone();
    dangling["nodes"][1]["inputs"]["query"] = json!("requests.query");
    assert_eq!(
        errs("datakit", dangling),
        ["config.nodes[1].inputs.query: unknown node 'requests'"]
    );
    // A duplicated node name.
    let mut dup = base.clone();
    dup["nodes"][1]["name"] = json!("STATIC_INPUTS");
    let e = errs("datakit", dup);
    assert_eq!(
        e[0],
        "config.nodes[1].name: duplicate node name 'STATIC_INPUTS' (also used by config.nodes[0])"
    );
    // A cycle through inputs.
    let cycle = json!({"nodes": [jq("A", "B"), jq("B", "C.out"), jq("C", "A")]});
    assert_eq!(
        errs("datakit", cycle),
        ["config.nodes: cycle detected: A -> C -> B -> A"]
    );
    // A node reading its own output.
    assert_eq!(
        errs("datakit", json!({"nodes": [jq("SELF", "SELF")]})),
        ["config.nodes: cycle detected: SELF -> SELF"]
    );
    // A cycle closed by an output connection.
    let out_cycle = json!({"nodes": [
        jq("A", "request.body"),
        {"name": "B", "type": "jq", "input": "A", "output": "A", "jq": "."}
    ]});
    assert_eq!(
        errs("datakit", out_cycle),
        ["config.nodes: cycle detected: A -> B -> A"]
    );
    // A branch naming a node that does not exist.
    let branch = json!({"nodes": [{"name": "br", "type": "branch", "input": "request.body", "then": ["nope"]}]});
    assert_eq!(
        errs("datakit", branch),
        ["config.nodes[0].then[0]: unknown node 'nope'"]
    );
    // Implicit nodes cannot be redeclared.
    assert_eq!(
        errs(
            "datakit",
            json!({"nodes": [jq("request", "response.body")]})
        ),
        ["config.nodes[0].name: 'request' is a reserved node name"]
    );
}

#[test]
fn datakit_node_constraints() {
    let cases = [
        (
            json!({"nodes": []}),
            "config.nodes: length must be at least 1",
        ),
        (json!({}), "config.nodes: required field missing"),
        (
            json!({"nodes": [jq("9lives", "request.body")]}),
            "config.nodes[0].name: invalid value: 9lives",
        ),
        (
            json!({"nodes": [{"name": "x", "type": "lambda"}]}),
            "config.nodes[0].type: expected one of: branch, cache, call, exit, jq, json_to_xml, property, static, xml_to_json",
        ),
        (
            json!({"nodes": [{"name": "x"}]}),
            "config.nodes[0].type: required field missing",
        ),
        (
            json!({"nodes": [{"name": "x", "type": "jq", "input": "request.body"}]}),
            "config.nodes[0].jq: required field missing",
        ),
        (
            json!({"nodes": [{"name": "x", "type": "jq", "jq": ".", "url": "https://a"}]}),
            "config.nodes[0].url: unknown field",
        ),
        (
            json!({"nodes": [{"name": "x", "type": "jq", "jq": ".", "input": "request.body", "inputs": {"a": "request.query"}}]}),
            "config.nodes[0]: only one or none of these fields must be set: 'input', 'inputs'",
        ),
        (
            json!({"nodes": [{"name": "x", "type": "call"}]}),
            "config.nodes[0]: at least one of these fields must be non-empty: 'url', 'inputs.url'",
        ),
        (
            json!({"nodes": [{"name": "x", "type": "call", "url": "https://a", "method": "post"}]}),
            "config.nodes[0].method: invalid value: post",
        ),
        (
            json!({"nodes": [{"name": "x", "type": "exit", "status": 100}]}),
            "config.nodes[0].status: value should be between 200 and 599",
        ),
        (
            json!({"nodes": [{"name": "x", "type": "property", "property": "p", "content_type": "text/html"}]}),
            "config.nodes[0].content_type: expected one of: application/json, application/octet-stream, text/plain",
        ),
        (
            json!({"nodes": [{"name": "x", "type": "static"}]}),
            "config.nodes[0].values: required field missing",
        ),
        (
            json!({"nodes": [{"name": "x", "type": "cache", "ttl": 0}]}),
            "config.nodes[0].ttl: value must be greater than 0",
        ),
        (
            json!({"nodes": [jq("x", "request.body")], "resources": {"cache": {"strategy": "disk"}}}),
            "config.resources.cache.strategy: expected one of: memory, redis",
        ),
        (
            json!({"nodes": [jq("x", "request.body")], "debug": "yes"}),
            "config.debug: expected a boolean",
        ),
    ];
    for (config, expected) in cases {
        assert_eq!(
            errs("datakit", config.clone()),
            [expected],
            "config {config}"
        );
    }
}

// ------------------------------------------------------------------------------ KIC-common plugins

#[test]
fn kic_common_plugins_accept_typical_configs() {
    let out = ok(
        "key-auth",
        json!({"key_names": ["apikey", "x-api-key"], "hide_credentials": true}),
    );
    assert_eq!(out["key_in_header"], true);
    let out = ok("rate-limiting", json!({"minute": 5, "policy": "local"}));
    assert_eq!(out["limit_by"], "consumer");
    assert_eq!(out["redis"]["port"], 6379);
    // Deprecated flat redis fields move into `redis`, as Kong's shorthand fields do.
    let out = ok(
        "rate-limiting",
        json!({"minute": 5, "policy": "redis", "redis_host": "redis", "redis_port": 6380}),
    );
    assert_eq!(out["redis"]["host"], "redis");
    assert_eq!(out["redis"]["port"], 6380);
    assert!(out.get("redis_host").is_none());
    let out = ok(
        "cors",
        json!({"origins": ["https://example.com"], "credentials": true, "max_age": 3600}),
    );
    assert_eq!(out["methods"].as_array().map(Vec::len), Some(9));
    let out = ok(
        "request-transformer",
        json!({"add": {"headers": ["x-added:yes"]}, "remove": {"querystring": ["debug"]}}),
    );
    assert_eq!(out["append"]["body"], json!([]));
    ok(
        "response-transformer",
        json!({"add": {"json": ["a:1"], "json_types": ["number"]}}),
    );
    ok(
        "acl",
        json!({"allow": ["admins"], "hide_groups_header": true}),
    );
    let out = ok(
        "correlation-id",
        json!({"header_name": "X-Request-ID", "generator": "uuid"}),
    );
    assert_eq!(out["echo_downstream"], false);
    let out = ok("basic-auth", json!({"hide_credentials": true}));
    assert_eq!(out["realm"], "service");
    let out = ok(
        "jwt",
        json!({"claims_to_verify": ["exp"], "maximum_expiration": 3600}),
    );
    assert_eq!(out["header_names"], json!(["authorization"]));
    // openid-connect is embedded for its required fields; the rest pass through.
    let out = ok(
        "openid-connect",
        json!({"issuer": "https://idp/.well-known/openid-configuration", "cache_ttl": 300}),
    );
    assert_eq!(out["cache_ttl"], 300);
    assert_eq!(out["scopes"], json!(["openid"]));
}

#[test]
fn kic_common_plugin_constraints() {
    let cases: &[(&str, Value, &[&str])] = &[
        ("key-auth", json!({"key_names": []}), &[]),
        (
            "key-auth",
            json!({"key_names": ["bad name"]}),
            &["config.key_names[0]: invalid value: bad name"],
        ),
        (
            "key-auth",
            json!({"key_names": null}),
            &["config.key_names: required field missing"],
        ),
        (
            "rate-limiting",
            json!({}),
            &[
                "config: at least one of these fields must be non-empty: 'config.second', 'config.minute', 'config.hour', 'config.day', 'config.month', 'config.year'",
            ],
        ),
        (
            "rate-limiting",
            json!({"minute": 0}),
            &["config.minute: value must be greater than 0"],
        ),
        (
            "rate-limiting",
            json!({"minute": 5, "policy": "global"}),
            &["config.policy: expected one of: local, cluster, redis"],
        ),
        (
            "rate-limiting",
            json!({"minute": 5, "policy": "redis"}),
            &["config.redis.host: required field missing"],
        ),
        (
            "rate-limiting",
            json!({"minute": 5, "limit_by": "header"}),
            &["config.header_name: required field missing"],
        ),
        (
            "rate-limiting",
            json!({"minute": 5, "limit_by": "path", "path": "x"}),
            &["config.path: should start with: /"],
        ),
        (
            "rate-limiting",
            json!({"minute": 100, "hour": 50}),
            &["config: The limit for hour(50.0) cannot be lower than the limit for minute(100.0)"],
        ),
        (
            "rate-limiting",
            json!({"minute": 5, "redis_port": 99999}),
            &["config.redis_port: value should be between 0 and 65535"],
        ),
        (
            "cors",
            json!({"methods": ["FETCH"]}),
            &[
                "config.methods[0]: expected one of: GET, HEAD, PUT, PATCH, POST, DELETE, OPTIONS, TRACE, CONNECT",
            ],
        ),
        (
            "cors",
            json!({"credentials": 1}),
            &["config.credentials: expected a boolean"],
        ),
        (
            "request-transformer",
            json!({"http_method": "get"}),
            &["config.http_method: invalid value: get"],
        ),
        (
            "request-transformer",
            json!({"add": {"headers": ["no-colon"]}}),
            &["config.add.headers[0]: invalid value: no-colon"],
        ),
        (
            "request-transformer",
            json!({"add": {"cookies": []}}),
            &["config.add.cookies: unknown field"],
        ),
        (
            "response-transformer",
            json!({"add": {"json_types": ["object"]}}),
            &["config.add.json_types[0]: expected one of: boolean, number, string"],
        ),
        (
            "acl",
            json!({}),
            &["config: only one of these fields must be non-empty: 'config.allow', 'config.deny'"],
        ),
        (
            "acl",
            json!({"allow": ["a"], "deny": ["b"]}),
            &["config: only one of these fields must be non-empty: 'config.allow', 'config.deny'"],
        ),
        (
            "correlation-id",
            json!({"generator": "random"}),
            &["config.generator: expected one of: uuid, uuid#counter, tracker"],
        ),
        (
            "basic-auth",
            json!({"hide_credentials": "true"}),
            &["config.hide_credentials: expected a boolean"],
        ),
        (
            "jwt",
            json!({"claims_to_verify": ["iat"]}),
            &["config.claims_to_verify[0]: expected one of: exp, nbf"],
        ),
        (
            "jwt",
            json!({"maximum_expiration": 31536001}),
            &["config.maximum_expiration: value should be between 0 and 31536000"],
        ),
        (
            "jwt",
            json!({"maximum_expiration": 60, "claims_to_verify": ["nbf"]}),
            &["config.claims_to_verify: expected to contain: exp"],
        ),
        (
            "openid-connect",
            json!({"client_id": ["c"]}),
            &["config.issuer: required field missing"],
        ),
        (
            "openid-connect",
            json!({"issuer": "https://idp", "auth_methods": ["magic"]}),
            &[
                "config.auth_methods[0]: expected one of: password, client_credentials, authorization_code, bearer, introspection, userinfo, kong_oauth2, refresh_token, session",
            ],
        ),
    ];
    for (plugin, config, expected) in cases {
        let got = registry().validate_plugin(plugin, config);
        let got: Vec<String> = match got {
            Ok(_) => Vec::new(),
            Err(ValidationOutcome::Invalid(e)) => e.iter().map(ToString::to_string).collect(),
            Err(other) => vec![other.to_string()],
        };
        assert_eq!(got, *expected, "{plugin} {config}");
    }
}
