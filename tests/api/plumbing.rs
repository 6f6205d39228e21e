//! The conventions every response keeps: the envelope for actix's own errors, request ids,
//! security headers, CORS, compression, rate limits; and the event publisher.

use redis::AsyncCommands;
use serde_json::json;

use crate::helpers::{json, spawn_app, spawn_app_with};

const LOGIN: &str = "/api/v1/auth/login";

fn assert_failure_envelope(body: &serde_json::Value) {
    assert_eq!(body["success"], false, "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

#[actix_web::test]
async fn an_unknown_route_is_404_in_the_envelope() {
    let app = spawn_app().await;
    let (status, body) = json(app.get("/api/v1/nothing-here").await).await;
    assert_eq!(status, 404);
    assert_failure_envelope(&body);
}

#[actix_web::test]
async fn a_wrong_method_is_405_in_the_envelope() {
    let app = spawn_app().await;
    let response = app.http.delete(app.url("/health")).send().await.unwrap();
    let (status, body) = json(response).await;
    assert!(status == 404 || status == 405, "{status}");
    assert_failure_envelope(&body);
}

#[actix_web::test]
async fn malformed_json_is_400_in_the_envelope() {
    let app = spawn_app().await;
    let response = app
        .http
        .post(app.url(LOGIN))
        .header("content-type", "application/json")
        .body("{\"email\": ")
        .send()
        .await
        .unwrap();
    let (status, body) = json(response).await;
    assert_eq!(status, 400);
    assert_failure_envelope(&body);
}

#[actix_web::test]
async fn a_body_that_is_not_json_is_415_in_the_envelope() {
    let app = spawn_app().await;
    let response = app
        .http
        .post(app.url(LOGIN))
        .header("content-type", "text/plain")
        .body("email=a@b.c")
        .send()
        .await
        .unwrap();
    let (status, body) = json(response).await;
    assert_eq!(status, 415);
    assert_failure_envelope(&body);
}

#[actix_web::test]
async fn a_3_mib_body_is_413_in_the_envelope() {
    let app = spawn_app().await;
    let big = format!("{{\"email\": \"{}\"}}", "x".repeat(3 * 1024 * 1024));
    let response = app
        .http
        .post(app.url(LOGIN))
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    let (status, body) = json(response).await;
    assert_eq!(status, 413);
    assert_failure_envelope(&body);
}

#[actix_web::test]
async fn every_response_carries_a_request_id_and_security_headers() {
    let app = spawn_app().await;
    for response in [
        app.get("/health").await,
        app.get("/missing").await,
        app.post_json(LOGIN, &json!({})).await,
    ] {
        let headers = response.headers();
        let id = headers
            .get("x-request-id")
            .expect("x-request-id")
            .to_str()
            .unwrap();
        assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert_eq!(headers["x-frame-options"], "DENY");
        assert_eq!(headers["referrer-policy"], "no-referrer");
        assert!(headers.contains_key("content-security-policy"));
    }
}

#[actix_web::test]
async fn a_client_request_id_is_echoed() {
    let app = spawn_app().await;
    let response = app
        .http
        .get(app.url("/health"))
        .header("x-request-id", "trace-me-42")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "trace-me-42");
}

#[actix_web::test]
async fn cors_allows_the_configured_origin_only() {
    let app = spawn_app_with(|settings| {
        settings.server.cors_origins = vec!["http://dashboard.example".into()];
    })
    .await;
    let allowed = app
        .http
        .get(app.url("/health"))
        .header("origin", "http://dashboard.example")
        .send()
        .await
        .unwrap();
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "http://dashboard.example"
    );
    let refused = app
        .http
        .get(app.url("/health"))
        .header("origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert!(!refused
        .headers()
        .contains_key("access-control-allow-origin"));
}

#[actix_web::test]
async fn responses_are_compressed_when_asked() {
    let app = spawn_app().await;
    let response = app
        .http
        .get(app.url("/metrics"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-encoding"], "gzip");
}

#[actix_web::test]
async fn the_auth_budget_answers_429_with_retry_after() {
    let app = spawn_app_with(|settings| {
        settings.rate_limit.auth = "3/1m".parse().unwrap();
    })
    .await;
    for n in 0..3 {
        // Different emails, so the per-email lockout does not answer first.
        let response = app
            .post_json(
                LOGIN,
                &json!({"email": format!("a{n}@example.com"), "password": "whatever1"}),
            )
            .await;
        assert_ne!(response.status(), 429);
    }
    let response = app
        .post_json(
            LOGIN,
            &json!({"email": "b@example.com", "password": "whatever1"}),
        )
        .await;
    assert_eq!(response.status(), 429);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert!(response.headers().contains_key("x-request-id"));
    let (_, body) = json(response).await;
    assert_failure_envelope(&body);
    assert_eq!(body["data"]["retryAfter"], retry_after);
    // Other routes keep their own budget.
    assert_eq!(app.get("/health").await.status(), 200);
}

#[actix_web::test]
async fn recorded_events_reach_the_stream_in_order_and_rolled_back_ones_never() {
    let app = spawn_app().await;
    let mut client = app.db.get().await.unwrap();
    for n in 0..5 {
        let tx = client.transaction().await.unwrap();
        let event = hub_actors::Event::new("domains", "domain:updated", json!({"n": n}));
        hub::events::record(&tx, &event).await.unwrap();
        if n == 2 {
            tx.rollback().await.unwrap();
        } else {
            tx.commit().await.unwrap();
        }
    }
    let stream = format!("{}events", app.settings.redis.namespace);
    let mut redis = hub::redis_client::connect(&app.settings.redis).unwrap();
    let entries = wait_for_entries(&mut redis, &stream, 4).await;
    assert_eq!(entries.ids.len(), 4);
    let field = |n: usize, name: &str| -> String { entries.ids[n].get(name).unwrap() };
    let data: Vec<String> = (0..4).map(|n| field(n, "data")).collect();
    let expected: Vec<String> = [0, 1, 3, 4]
        .iter()
        .map(|n| json!({"n": n}).to_string())
        .collect();
    assert_eq!(data, expected, "committed ones, in commit order");
    let numbers: Vec<String> = (0..4).map(|n| field(n, "n")).collect();
    assert_eq!(numbers, ["1", "2", "3", "4"], "numbered without gaps");
    let epochs: std::collections::HashSet<String> = (0..4).map(|n| field(n, "epoch")).collect();
    assert_eq!(epochs.len(), 1);
    assert_eq!(
        (field(0, "topic"), field(0, "event")),
        ("domains".into(), "domain:updated".into())
    );
    assert_eq!(
        app.outbox_rows_settled().await,
        0,
        "relayed rows are deleted"
    );
}

/// The stream's entries once it holds at least `count`.
pub async fn wait_for_entries(
    redis: &mut redis::aio::ConnectionManager,
    stream: &str,
    count: usize,
) -> redis::streams::StreamRangeReply {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let entries: redis::streams::StreamRangeReply = redis.xrange_all(stream).await.unwrap();
        if entries.ids.len() >= count || tokio::time::Instant::now() > deadline {
            return entries;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
