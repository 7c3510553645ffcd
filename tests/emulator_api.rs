//! HTTP-level tests of the Konnect emulator: constraints, cascades, paging, tags, auth, the
//! request budget, faults, counters and the state file, over real HTTP on loopback.

use std::time::Duration;

use konnect_plugin_operator::emulator::{EmulatorConfig, EmulatorHandle, spawn};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

struct Emu {
    h: EmulatorHandle,
    http: reqwest::Client,
    core: String,
}

impl Emu {
    async fn start(cfg: EmulatorConfig) -> Emu {
        let h = spawn(cfg).await.expect("emulator starts");
        let cp = h
            .control_plane_id("default")
            .expect("default control plane");
        let core = format!("{}/control-planes/{cp}/core-entities", h.base_url());
        Emu {
            h,
            http: http_client(),
            core,
        }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let url = if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{path}", self.core)
        };
        let mut req = self.http.request(method, url).bearer_auth(self.h.token());
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request sent");
        let status = resp.status();
        let text = resp.text().await.expect("body read");
        let v = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).expect("JSON body")
        };
        (status, v)
    }

    async fn ok(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let (s, v) = self.call(method.clone(), path, body).await;
        assert!(s.is_success(), "{method} {path}: {s} {v}");
        v
    }

    fn control(&self, path: &str) -> String {
        format!("http://{}/_emulator/{path}", self.h.addr())
    }
}

/// reqwest is built without a default TLS provider; plain-HTTP tests still need one installed.
fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

fn first_detail(v: &Value) -> (&str, &str) {
    (
        v["details"][0]["field"].as_str().unwrap_or(""),
        v["details"][0]["messages"][0].as_str().unwrap_or(""),
    )
}

#[tokio::test]
async fn crud_with_server_defaults_and_put_creates() {
    let e = Emu::start(EmulatorConfig::default()).await;
    let (s, svc) = e
        .call(
            Method::POST,
            "/services",
            Some(json!({"name": "a", "host": "up.example"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(svc["port"], 80);
    assert_eq!(svc["protocol"], "http");
    let id = svc["id"].as_str().unwrap().to_string();
    assert!(uuid::Uuid::parse_str(&id).is_ok());

    let got = e.ok(Method::GET, &format!("/services/{id}"), None).await;
    assert_eq!(got, svc);
    let by_name = e.ok(Method::GET, "/services/a", None).await;
    assert_eq!(by_name["id"], svc["id"]);

    let new_id = uuid::Uuid::new_v4().to_string();
    let (s, put) = e
        .call(
            Method::PUT,
            &format!("/routes/{new_id}"),
            Some(json!({"name": "r", "paths": ["/x"], "service": {"id": id}})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{put}");
    assert_eq!(put["id"], new_id.as_str());
    assert_eq!(put["strip_path"], true);
    assert_eq!(put["https_redirect_status_code"], 426);

    let (s, _) = e
        .call(
            Method::GET,
            &format!("/routes/{}", uuid::Uuid::new_v4()),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = e
        .call(
            Method::DELETE,
            &format!("/routes/{}", uuid::Uuid::new_v4()),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    e.h.shutdown().await;
}

#[tokio::test]
async fn constraints_answer_konnect_bodies() {
    let e = Emu::start(EmulatorConfig::default()).await;
    e.ok(
        Method::POST,
        "/services",
        Some(json!({"name": "a", "host": "h"})),
    )
    .await;
    let (s, v) = e
        .call(
            Method::POST,
            "/services",
            Some(json!({"name": "a", "host": "h"})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(v["message"], "data constraint error");
    assert_eq!(v["details"][0]["type"], "ERROR_TYPE_REFERENCE");
    assert_eq!(
        first_detail(&v),
        ("name", "name (type: unique) constraint failed")
    );

    let missing = uuid::Uuid::new_v4();
    let (s, v) = e
        .call(
            Method::POST,
            "/routes",
            Some(json!({"paths": ["/"], "service": {"id": missing}})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(
        first_detail(&v),
        ("service.id", "service.id (type: foreign) constraint failed")
    );

    let (s, v) = e
        .call(Method::POST, "/plugins", Some(json!({"name": "foo"})))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(v["message"], "validation error");
    assert_eq!(first_detail(&v).0, "name");
    assert!(first_detail(&v).1.contains("plugin 'foo' not enabled"));

    let (s, v) = e
        .call(
            Method::POST,
            "/plugins",
            Some(json!({"name": "cors", "config": {"bogus": 1}})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(first_detail(&v).0.starts_with("config"), "{v}");

    e.ok(Method::POST, "/plugins", Some(json!({"name": "cors"})))
        .await;
    let (s, v) = e
        .call(Method::POST, "/plugins", Some(json!({"name": "cors"})))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(
        first_detail(&v).1.contains("unique-plugin-per-entity"),
        "{v}"
    );

    let (s, v) = e
        .call(
            Method::POST,
            "/services",
            Some(json!({"host": "h", "surprise": true})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(first_detail(&v).0, "surprise");
    e.h.shutdown().await;
}

#[tokio::test]
async fn nested_plugins_cascades_and_membership() {
    let e = Emu::start(EmulatorConfig::default()).await;
    let svc = e
        .ok(
            Method::POST,
            "/services",
            Some(json!({"name": "s", "host": "h"})),
        )
        .await;
    let sid = svc["id"].as_str().unwrap().to_string();
    let route = e
        .ok(
            Method::POST,
            &format!("/services/{sid}/routes"),
            Some(json!({"paths": ["/"]})),
        )
        .await;
    assert_eq!(route["service"]["id"], sid.as_str());
    let rid = route["id"].as_str().unwrap().to_string();
    let p = e
        .ok(
            Method::POST,
            &format!("/routes/{rid}/plugins"),
            Some(json!({"name": "cors"})),
        )
        .await;
    assert_eq!(p["route"]["id"], rid.as_str());
    assert_eq!(p["enabled"], true);
    let pid = p["id"].as_str().unwrap().to_string();
    // The plugin is visible under its route, not under the service.
    e.ok(Method::GET, &format!("/routes/{rid}/plugins/{pid}"), None)
        .await;
    let (s, _) = e
        .call(Method::GET, &format!("/services/{sid}/plugins/{pid}"), None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // A service with routes cannot go; a route takes its plugins with it.
    let (s, v) = e
        .call(Method::DELETE, &format!("/services/{sid}"), None)
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(first_detail(&v).1.contains("(type: foreign)"));
    e.ok(Method::DELETE, &format!("/routes/{rid}"), None).await;
    let (s, _) = e.call(Method::GET, &format!("/plugins/{pid}"), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    e.ok(Method::DELETE, &format!("/services/{sid}"), None)
        .await;

    // Consumer groups: wrapped GET, membership, cascade on consumer delete.
    let g = e
        .ok(
            Method::POST,
            "/consumer_groups",
            Some(json!({"name": "gold"})),
        )
        .await;
    let gid = g["id"].as_str().unwrap().to_string();
    let c = e
        .ok(
            Method::POST,
            "/consumers",
            Some(json!({"username": "alice"})),
        )
        .await;
    let cid = c["id"].as_str().unwrap().to_string();
    let (s, added) = e
        .call(
            Method::POST,
            &format!("/consumer_groups/{gid}/consumers"),
            Some(json!({"consumer": cid})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(added["consumers"][0]["id"], cid.as_str());
    let wrapped = e
        .ok(Method::GET, &format!("/consumer_groups/{gid}"), None)
        .await;
    assert_eq!(wrapped["consumer_group"]["name"], "gold");
    let members = e
        .ok(
            Method::GET,
            &format!("/consumer_groups/{gid}/consumers"),
            None,
        )
        .await;
    assert_eq!(members["data"].as_array().unwrap().len(), 1);
    e.ok(
        Method::POST,
        &format!("/consumer_groups/{gid}/plugins"),
        Some(json!({"name": "cors"})),
    )
    .await;
    e.ok(Method::DELETE, &format!("/consumers/{cid}"), None)
        .await;
    let members = e
        .ok(
            Method::GET,
            &format!("/consumer_groups/{gid}/consumers"),
            None,
        )
        .await;
    assert_eq!(members["data"].as_array().unwrap().len(), 0);
    e.ok(Method::DELETE, &format!("/consumer_groups/{gid}"), None)
        .await;
    let all = e.ok(Method::GET, "/plugins", None).await;
    assert_eq!(all["data"].as_array().unwrap().len(), 0, "{all}");
    e.h.shutdown().await;
}

#[tokio::test]
async fn paging_2500_entities_yields_each_once_and_tag_filters() {
    let e = Emu::start(EmulatorConfig::default()).await;
    // Concurrent writes, bounded, to keep the test quick.
    let bodies: Vec<Value> = (0..2500)
        .map(|i| {
            let mut tags = vec!["all".to_string()];
            if i % 2 == 0 {
                tags.push("even".into());
            }
            if i % 3 == 0 {
                tags.push("three".into());
            }
            json!({"username": format!("user-{i}"), "tags": tags})
        })
        .collect();
    for chunk in bodies.chunks(100) {
        let futs = chunk
            .iter()
            .map(|b| e.call(Method::POST, "/consumers", Some(b.clone())));
        for (s, v) in futures::future::join_all(futs).await {
            assert_eq!(s, StatusCode::CREATED, "{v}");
        }
    }
    let mut seen = std::collections::HashSet::new();
    let mut url = format!("{}/consumers?size=1000", e.core);
    let mut pages = 0;
    loop {
        let page = e.ok(Method::GET, &url, None).await;
        pages += 1;
        for c in page["data"].as_array().unwrap() {
            assert!(
                seen.insert(c["id"].as_str().unwrap().to_string()),
                "seen twice"
            );
        }
        match page["offset"].as_str() {
            Some(off) => {
                assert!(page["next"].is_string());
                url = format!("{}/consumers?size=1000&offset={off}", e.core);
            }
            None => {
                assert!(page["next"].is_null());
                break;
            }
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 2500);

    let count = |q: &'static str| {
        let e = &e;
        async move {
            let mut n = 0;
            let mut url = format!("{}/consumers?size=1000&tags={q}", e.core);
            loop {
                let page = e.ok(Method::GET, &url, None).await;
                n += page["data"].as_array().unwrap().len();
                match page["offset"].as_str() {
                    Some(off) => {
                        url = format!("{}/consumers?size=1000&tags={q}&offset={off}", e.core)
                    }
                    None => return n,
                }
            }
        }
    };
    assert_eq!(count("even,three").await, 417); // multiples of 6 in 0..2500
    assert_eq!(count("even/three").await, 1250 + 834 - 417);
    assert_eq!(count("all").await, 2500);
    let (s, _) = e.call(Method::GET, "/consumers?size=1001", None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    e.h.shutdown().await;
}

#[tokio::test]
async fn auth_is_required_and_tokens_never_echoed() {
    let e = Emu::start(EmulatorConfig::default()).await;
    let resp = e
        .http
        .get(format!("{}/services", e.core))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v, json!({"message": "Unauthorized", "status": 401}));
    let resp = e
        .http
        .get(format!("{}/services", e.core))
        .bearer_auth("kpat_wrong_canary")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(!resp.text().await.unwrap().contains("canary"));
    let resp = e
        .http
        .get(format!("{}/control-planes", e.h.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        resp.headers()["content-type"].to_str().unwrap(),
        "application/problem+json"
    );
    e.h.shutdown().await;
}

#[tokio::test]
async fn budget_answers_429_with_retry_after() {
    let e = Emu::start(EmulatorConfig {
        rate_limit_per_minute: Some(5),
        ..EmulatorConfig::default()
    })
    .await;
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for _ in 0..8 {
        let resp = e
            .http
            .get(format!("{}/services", e.core))
            .bearer_auth(e.h.token())
            .send()
            .await
            .unwrap();
        statuses.push(resp.status());
        if resp.status() == StatusCode::TOO_MANY_REQUESTS {
            retry_after = resp
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_string());
            assert_eq!(resp.headers()["ratelimit-limit"], "5");
            let v: Value = resp.json().await.unwrap();
            assert_eq!(v["message"], "API rate limit exceeded");
        }
    }
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::OK).count(), 5);
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
            .count(),
        3
    );
    let secs: u64 = retry_after.expect("Retry-After").parse().unwrap();
    assert!((1..=12).contains(&secs), "{secs}");

    // Lifting the limit at runtime works, and the counters saw the 429s.
    let f: Value = e
        .http
        .put(e.control("faults"))
        .json(&json!({"rate_limit_per_minute": null}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(f["rate_limit_per_minute"].is_null());
    e.ok(Method::GET, "/services", None).await;
    let stats: Value = e
        .http
        .get(e.control("stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let row = stats["requests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["status"] == 429)
        .expect("429 counted");
    assert_eq!(
        row["path"],
        "/v2/control-planes/{controlPlaneId}/core-entities/services"
    );
    assert_eq!(row["method"], "GET");
    assert_eq!(row["count"], 3);
    e.h.shutdown().await;
}

#[tokio::test]
async fn faults_are_seeded_and_drops_reset_the_connection() {
    async fn run(seed: u64) -> Vec<u16> {
        let e = Emu::start(EmulatorConfig {
            error_rate: 0.3,
            seed,
            ..EmulatorConfig::default()
        })
        .await;
        let mut out = Vec::new();
        for _ in 0..40 {
            let (s, _) = e.call(Method::GET, "/services", None).await;
            out.push(s.as_u16());
        }
        e.h.shutdown().await;
        out
    }
    let a = run(42).await;
    assert_eq!(a, run(42).await, "same seed, same faults");
    assert!(a.contains(&500) && a.contains(&200), "{a:?}");

    let e = Emu::start(EmulatorConfig::default()).await;
    let set: Value = e
        .http
        .put(e.control("faults"))
        .json(&json!({"drop_rate": 1.0, "latency_ms": 20}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(set["drop_rate"], 1.0);
    let started = std::time::Instant::now();
    let err = e
        .http
        .post(format!("{}/consumers", e.core))
        .bearer_auth(e.h.token())
        .json(&json!({"username": "dropped"}))
        .send()
        .await;
    assert!(err.is_err(), "a dropped connection yields no response");
    assert!(started.elapsed() >= Duration::from_millis(20));
    e.http
        .put(e.control("faults"))
        .json(&json!({"drop_rate": 0.0, "latency_ms": 0}))
        .send()
        .await
        .unwrap();
    // The write happened even though its answer was lost.
    let got = e.ok(Method::GET, "/consumers/dropped", None).await;
    assert_eq!(got["username"], "dropped");
    let stats: Value = e
        .http
        .get(e.control("stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["dropped"], 1);

    // Reset empties the store and keeps the control plane id.
    let cp = e.h.control_plane_id("default");
    let r = e.http.post(e.control("reset")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(e.h.control_plane_id("default"), cp);
    let (s, _) = e.call(Method::GET, "/consumers/dropped", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    e.h.shutdown().await;
}

#[tokio::test]
async fn state_file_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let cfg = EmulatorConfig {
        state_file: Some(path.clone()),
        control_planes: vec!["default".into(), "other".into()],
        ..EmulatorConfig::default()
    };
    let e = Emu::start(cfg.clone()).await;
    let svc = e
        .ok(
            Method::POST,
            "/services",
            Some(json!({"name": "kept", "host": "h"})),
        )
        .await;
    let other = e.h.control_plane_id("other").unwrap();
    e.h.shutdown().await;
    assert!(path.exists());

    let e = Emu::start(cfg).await;
    assert_eq!(
        e.h.control_plane_id("other").as_deref(),
        Some(other.as_str())
    );
    let got = e.ok(Method::GET, "/services/kept", None).await;
    assert_eq!(got, svc);
    e.h.shutdown().await;
}

#[tokio::test]
async fn control_planes_are_created_listed_and_filtered() {
    let e = Emu::start(EmulatorConfig::default()).await;
    let base = e.h.base_url();
    let (s, cp) = e
        .call(
            Method::POST,
            &format!("{base}/control-planes"),
            Some(json!({"name": "team-a"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, _) = e
        .call(
            Method::POST,
            &format!("{base}/control-planes"),
            Some(json!({"name": "team-a"})),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    let list = e
        .ok(
            Method::GET,
            &format!("{base}/control-planes?filter[name][eq]=team-a"),
            None,
        )
        .await;
    assert_eq!(list["data"][0]["id"], cp["id"]);
    assert_eq!(list["meta"]["page"]["total"], 1);
    // The new control plane has its own, empty, core entities.
    let id = cp["id"].as_str().unwrap();
    let svcs = e
        .ok(
            Method::GET,
            &format!("{base}/control-planes/{id}/core-entities/services"),
            None,
        )
        .await;
    assert_eq!(svcs["data"], json!([]));
    let (s, _) = e
        .call(Method::DELETE, &format!("{base}/control-planes/{id}"), None)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = e
        .call(
            Method::GET,
            &format!("{base}/control-planes/{id}/core-entities/services"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    e.h.shutdown().await;
}

#[tokio::test]
async fn binary_prints_its_url_and_serves_it() {
    use tokio::io::AsyncBufReadExt;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_konnect-emulator"))
        .args(["--listen", "127.0.0.1:0", "--token", "kpat_bin"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("binary starts");
    let stdout = child.stdout.take().expect("stdout piped");
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let url = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
        .await
        .expect("prints its URL")
        .expect("stdout readable")
        .expect("a line");
    assert!(
        url.starts_with("http://127.0.0.1:") && url.ends_with("/v2"),
        "{url}"
    );
    let list: Value = http_client()
        .get(format!("{url}/control-planes?filter[name][eq]=default"))
        .bearer_auth("kpat_bin")
        .send()
        .await
        .expect("served")
        .json()
        .await
        .expect("JSON");
    assert_eq!(list["data"][0]["name"], "default");
    child.kill().await.expect("stopped");
}

/// The 403 Konnect answers at an account limit, with the one detail the emulator gives.
fn limit_body(n: u32) -> Value {
    json!({
        "code": 7,
        "message": "usage constraint error",
        "details": [{
            "@type": "type.googleapis.com/kong.admin.model.v1.ErrorDetail",
            "type": "ERROR_TYPE_ENTITY",
            "messages": [format!("control plane entity limit of {n} reached")],
        }],
    })
}

#[tokio::test]
async fn entity_limit_answers_403_per_control_plane() {
    let e = Emu::start(EmulatorConfig {
        control_planes: vec!["default".into(), "other".into()],
        max_entities_per_control_plane: Some(2),
        ..EmulatorConfig::default()
    })
    .await;
    let svc = e
        .ok(
            Method::POST,
            "/services",
            Some(json!({"name": "s", "host": "h"})),
        )
        .await;
    let sid = svc["id"].as_str().unwrap().to_string();
    e.ok(Method::POST, "/consumers", Some(json!({"username": "u"})))
        .await;

    // Full: a POST of any kind, and a PUT of a new id, are refused with the Konnect body.
    let (s, body) = e
        .call(Method::POST, "/plugins", Some(json!({"name": "cors"})))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(body, limit_body(2));
    let new_id = uuid::Uuid::new_v4().to_string();
    let (s, body) = e
        .call(
            Method::PUT,
            &format!("/consumer_groups/{new_id}"),
            Some(json!({"name": "g"})),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(body, limit_body(2));
    let (s, _) = e
        .call(
            Method::POST,
            &format!("/services/{sid}/plugins"),
            Some(json!({"name": "cors"})),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "nested creates count too");
    // An invalid body is still a validation error: the limit only meets writes that would
    // otherwise succeed.
    let (s, body) = e
        .call(Method::POST, "/services", Some(json!({"nope": 1})))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    // Replacing an existing entity adds none, so it passes.
    let (s, put) = e
        .call(
            Method::PUT,
            &format!("/services/{sid}"),
            Some(json!({"name": "s", "host": "h2"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{put}");
    assert_eq!(put["host"], "h2");
    let listed = e.ok(Method::GET, "/plugins", None).await;
    assert_eq!(listed["data"], json!([]), "a refused create stores nothing");

    // The limit counts per control plane: "other" is empty and takes two of its own.
    let other = e.h.control_plane_id("other").unwrap();
    let other_core = format!("{}/control-planes/{other}/core-entities", e.h.base_url());
    for name in ["a", "b"] {
        let (s, v) = e
            .call(
                Method::POST,
                &format!("{other_core}/consumers"),
                Some(json!({"username": name})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
    }
    let (s, body) = e
        .call(
            Method::POST,
            &format!("{other_core}/consumers"),
            Some(json!({"username": "c"})),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(body, limit_body(2));

    // Deleting frees room.
    e.ok(Method::DELETE, "/consumers/u", None).await;
    let (s, _) = e
        .call(Method::POST, "/plugins", Some(json!({"name": "cors"})))
        .await;
    assert_eq!(s, StatusCode::CREATED);

    // The limit is visible and settable at /_emulator/faults; null lifts it.
    let faults: Value = e
        .http
        .get(e.control("faults"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(faults["max_entities_per_control_plane"], 2);
    let set: Value = e
        .http
        .put(e.control("faults"))
        .json(&json!({"max_entities_per_control_plane": null}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(set["max_entities_per_control_plane"], Value::Null);
    let (s, _) = e
        .call(
            Method::POST,
            &format!("{other_core}/consumers"),
            Some(json!({"username": "c"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let set: Value = e
        .http
        .put(e.control("faults"))
        .json(&json!({"max_entities_per_control_plane": 1}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(set["max_entities_per_control_plane"], 1);
    let (s, body) = e
        .call(Method::POST, "/consumers", Some(json!({"username": "v"})))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(body, limit_body(1));
    let r = e
        .http
        .put(e.control("faults"))
        .json(&json!({"max_entities_per_control_plane": "lots"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    // The 403s are counted like any answer.
    let stats: Value = e
        .http
        .get(e.control("stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["by_status"]["403"], 5, "{stats}");
    e.h.shutdown().await;
}

#[tokio::test]
async fn read_only_tokens_read_but_never_write() {
    let e = Emu::start(EmulatorConfig {
        read_only_tokens: vec!["kpat_readonly".into()],
        ..EmulatorConfig::default()
    })
    .await;
    e.ok(
        Method::POST,
        "/services",
        Some(json!({"name": "s", "host": "h"})),
    )
    .await;
    let ro = |method: Method, url: String, body: Option<Value>| {
        let mut req = e.http.request(method, url).bearer_auth("kpat_readonly");
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send()
    };
    let resp = ro(Method::GET, format!("{}/services/s", e.core), None)
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let forbidden = json!({
        "code": 7,
        "message": "usage constraint error",
        "details": [{
            "@type": "type.googleapis.com/kong.admin.model.v1.ErrorDetail",
            "type": "ERROR_TYPE_ENTITY",
            "messages": ["token is not permitted to write"],
        }],
    });
    for (method, path, body) in [
        (Method::POST, "/consumers", Some(json!({"username": "u"}))),
        (Method::PUT, "/services/s", Some(json!({"host": "h2"}))),
        (Method::DELETE, "/services/s", None),
    ] {
        let resp = ro(method.clone(), format!("{}{path}", e.core), body)
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::FORBIDDEN, "{method} {path}");
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v, forbidden, "{method} {path}");
    }
    // Validation stores nothing, so a read-only token may use it.
    let resp = ro(
        Method::POST,
        format!("{}/schemas/plugins/validate", e.core),
        Some(json!({"name": "cors"})),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    // The Konnect-native API refuses in its own dialect.
    let resp = ro(
        Method::POST,
        format!("{}/control-planes", e.h.base_url()),
        Some(json!({"name": "nope"})),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        resp.headers()["content-type"].to_str().unwrap(),
        "application/problem+json"
    );
    let text = resp.text().await.unwrap();
    assert!(!text.contains("kpat_readonly"), "{text}");
    // Nothing changed.
    let got = e.ok(Method::GET, "/services/s", None).await;
    assert_eq!(got["host"], "h");
    let consumers = e.ok(Method::GET, "/consumers", None).await;
    assert_eq!(consumers["data"], json!([]));
    let cps = e
        .ok(
            Method::GET,
            &format!("{}/control-planes?filter[name][eq]=nope", e.h.base_url()),
            None,
        )
        .await;
    assert_eq!(cps["data"], json!([]));
    e.h.shutdown().await;
}

#[tokio::test]
async fn binary_help_documents_the_limits() {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_konnect-emulator"))
        .arg("--help")
        .output()
        .await
        .expect("binary runs");
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "--max-entities-per-control-plane <MAX_ENTITIES_PER_CONTROL_PLANE>",
        "KONNECT_EMULATOR_MAX_ENTITIES_PER_CONTROL_PLANE",
        "--read-only-token <READ_ONLY_TOKENS>",
        "KONNECT_EMULATOR_READ_ONLY_TOKENS",
    ] {
        assert!(help.contains(needle), "--help lacks {needle}:\n{help}");
    }
}

#[tokio::test]
async fn wrong_verbs_and_unknown_paths_pass_the_gate_and_answer_with_a_body() {
    let e = Emu::start(EmulatorConfig::default()).await;
    // PATCH is not offered on core entities: 405 with koko's body.
    let (s, v) = e.call(Method::PATCH, "/services/x", Some(json!({}))).await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(v["message"], "method not allowed", "{v}");
    // On a control plane: 405 in problem+json.
    let cp = format!("{}/control-planes", e.h.base_url());
    let (s, v) = e.call(Method::PATCH, &cp, Some(json!({}))).await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(v["status"], 405, "{v}");
    // Unknown paths under /v2: 404 with a body when authenticated...
    let (s, v) = e.call(Method::GET, "/no-such-entities", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(v.is_object(), "{v}");
    // ...and 401 without a token, like every /v2 path.
    let resp = e
        .http
        .get(format!("{}/no-such-api", e.h.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    // Every one of them is counted, under the spec's parameter names.
    e.ok(Method::GET, "/consumers", None).await;
    let c = e
        .ok(Method::POST, "/consumers", Some(json!({"username": "u"})))
        .await;
    let cid = c["id"].as_str().unwrap();
    e.ok(Method::GET, &format!("/consumers/{cid}/plugins"), None)
        .await;
    let stats: Value = e
        .http
        .get(e.control("stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let count = |method: &str, path: &str, status: u16| -> u64 {
        stats["requests"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["method"] == method && r["path"] == path && r["status"] == status)
            .map(|r| r["count"].as_u64().unwrap())
            .sum()
    };
    let core = "/v2/control-planes/{controlPlaneId}/core-entities";
    assert_eq!(
        count("PATCH", &format!("{core}/services/{{ServiceId}}"), 405),
        1,
        "{stats}"
    );
    assert_eq!(count("PATCH", "/v2/control-planes", 405), 1, "{stats}");
    assert_eq!(count("GET", "unmatched", 404), 1, "{stats}");
    assert_eq!(count("GET", "unmatched", 401), 1, "{stats}");
    assert_eq!(
        count(
            "GET",
            &format!("{core}/consumers/{{ConsumerIdForNestedEntities}}/plugins"),
            200
        ),
        1,
        "{stats}"
    );
}
