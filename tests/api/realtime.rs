//! `GET /ws` with real WebSocket clients: every change reaches live dashboards.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::dashboard::{dashboard, finished_batch, report, submit_scan, Dashboard};
use crate::helpers::{spawn_app, spawn_app_with, PrivateRedis, TestApp};
use crate::live::{open, try_open, ws_url, Live};

#[actix_web::test]
async fn a_socket_needs_a_valid_token() {
    let app = spawn_app().await;
    let board = dashboard(&app, &[]).await;
    let bare = format!("{}/ws", app.address.replacen("http", "ws", 1));
    assert_eq!(try_open(&bare).await.err(), Some(401));
    assert_eq!(
        try_open(&ws_url(&app, "not-a-token")).await.err(),
        Some(401)
    );
    let live = open(&app, &board.user).await;
    let topics = &live.hello["data"]["topics"];
    assert_eq!(
        topics,
        &json!([
            "brands",
            "catalog",
            "domains",
            format!("user:{}", board.user_id)
        ])
    );

    // As a browser's library may: the token in a header, compression offered.
    let mut request = bare.as_str().into_client_request().unwrap();
    let headers = request.headers_mut();
    let bearer = format!("Bearer {}", board.user);
    headers.insert("authorization", bearer.parse().unwrap());
    headers.insert("accept-encoding", "gzip, deflate, br".parse().unwrap());
    let (ws, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("the upgrade");
    let live = Live::after_handshake(ws).await;
    assert_eq!(live.hello["data"]["topics"], *topics);
}

#[actix_web::test]
async fn a_checker_report_reaches_every_open_dashboard() {
    let app = spawn_app().await;
    let board = dashboard(&app, &["one.com"]).await;
    let mut user = open(&app, &board.user).await;
    let mut admin = open(&app, &board.admin).await;
    let (id, name) = &board.domains[0];
    let (status, _) = report(&app, &board.key, id, "blocked").await;
    assert_eq!(status, 200);
    for live in [&mut user, &mut admin] {
        let event = live.expect("domain:nawala-updated").await;
        assert_eq!(event["topic"], "domains");
        assert_eq!(event["data"]["domainId"], id.as_str());
        assert_eq!(event["data"]["domain"], name.as_str());
        assert_eq!(event["data"]["brandId"], board.brand_id.as_str());
        assert_eq!(event["data"]["nawala"]["status"], "ada");
        assert!(event["id"].as_str().is_some_and(|id| id.contains('-')));
    }
    // The seed sends its event for every report, changed or not.
    report(&app, &board.key, id, "blocked").await;
    let event = user.expect("domain:nawala-updated").await;
    assert_eq!(event["data"]["nawala"]["status"], "ada");
}

#[actix_web::test]
async fn a_batch_applied_by_the_worker_process_is_announced() {
    let mut app = spawn_app().await;
    let board = dashboard(&app, &["one.com", "two.com", "three.com"]).await;
    report(&app, &board.key, &board.domains[2].0, "accessible").await;
    app.start_worker();
    let mut live = open(&app, &board.user).await;
    let body = json!({"scanId": "nightly-1", "results": [
        {"id": board.domains[0].0, "status": "blocked", "detail": {"resolver": "nawala"}},
        {"domain": "TWO.com", "status": "accessible"},
        {"domain": "three.com", "status": "accessible"},
        {"domain": "unknown.com", "status": "blocked"},
        {"domain": "three.com", "status": "error", "checkedAt": "2020-01-01T00:00:00Z"},
    ]});
    let (status, answer) = submit_scan(&app, &board.key, &body).await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["data"]["accepted"], 5);
    let batch_id = answer["data"]["batchId"].as_str().unwrap().to_owned();

    let changed = live.expect("domains:nawala-changed").await;
    assert_eq!(changed["data"]["batchId"], batch_id.as_str());
    let changes = changed["data"]["changes"].as_array().unwrap();
    let mut names: Vec<&str> = changes
        .iter()
        .map(|change| change["domain"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["one.com", "two.com"], "three.com did not change");
    for change in changes {
        assert!(change["updatedAt"].is_string(), "{change}");
        assert_eq!(change["brandId"], board.brand_id.as_str());
    }
    let completed = live.expect("scan:completed").await;
    let data = &completed["data"];
    assert_eq!(data["batchId"], batch_id.as_str());
    assert_eq!(
        (
            &data["total"],
            &data["applied"],
            &data["changed"],
            &data["unknown"],
            &data["errors"]
        ),
        (&json!(5), &json!(4), &json!(2), &json!(1), &json!(1))
    );
    let batch = finished_batch(&app, &board.key, &batch_id).await;
    assert_eq!(batch["state"], "done");
    let (_, history) = app
        .send_as(
            Method::GET,
            &format!("/api/v1/domains/{}/history", board.domains[2].0),
            &board.user,
            None,
        )
        .await;
    let statuses: Vec<&str> = history["data"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        ["accessible", "accessible", "error"],
        "newest first"
    );
}

#[actix_web::test]
async fn two_instances_sharing_redis_both_deliver_every_event() {
    let app = spawn_app().await;
    let other = app.another_instance().await;
    let board = dashboard(&app, &["one.com", "two.com"]).await;
    let mut here = open(&app, &board.user).await;
    let mut there = open(&other, &board.user).await;
    for round in 0..3 {
        let status = if round % 2 == 0 {
            "blocked"
        } else {
            "accessible"
        };
        report(&app, &board.key, &board.domains[0].0, status).await;
        report(&other, &board.key, &board.domains[1].0, status).await;
    }
    let seen_here = here.collect("domain:nawala-updated", 6).await;
    let seen_there = there.collect("domain:nawala-updated", 6).await;
    let ids = |events: &[serde_json::Value]| {
        events
            .iter()
            .map(|e| e["id"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        ids(&seen_here),
        ids(&seen_there),
        "the same events, in the same order"
    );
}

/// Opens a socket, sees one report's event, and disconnects; answers that event's id.
async fn seen_before_disconnecting(app: &TestApp, board: &Dashboard, id: &str) -> String {
    let mut live = open(app, &board.user).await;
    report(app, &board.key, id, "blocked").await;
    let seen = live.expect("domain:nawala-updated").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    live.close().await;
    seen
}

#[actix_web::test]
async fn a_resumed_session_receives_exactly_what_it_missed() {
    let app = spawn_app().await;
    let board = dashboard(&app, &["one.com"]).await;
    let id = &board.domains[0].0;
    let last_seen = seen_before_disconnecting(&app, &board, id).await;

    let mut missed = Vec::new();
    for status in ["accessible", "blocked", "accessible"] {
        let (_, body) = report(&app, &board.key, id, status).await;
        missed.push(body["data"]["nawala"]["status"].clone());
    }
    // Resuming as it connects: no live event can come before the replay.
    let url = format!("{}&since={last_seen}", ws_url(&app, &board.user));
    let mut live = try_open(&url).await.expect("the upgrade");
    let replayed = live.collect("domain:nawala-updated", 3).await;
    let statuses: Vec<_> = replayed
        .iter()
        .map(|event| event["data"]["nawala"]["status"].clone())
        .collect();
    assert_eq!(statuses, missed, "in order");
    let resumed = live.expect("resumed").await;
    assert_eq!(resumed["data"], json!({"replayed": 3, "complete": true}));

    report(&app, &board.key, id, "blocked").await;
    let fresh = live.expect("domain:nawala-updated").await;
    assert!(fresh["id"].as_str() > replayed[2]["id"].as_str());
    live.expect_none("domain:nawala-updated", Duration::from_millis(500))
        .await;
}

#[actix_web::test]
async fn a_session_too_far_behind_is_told_to_reload() {
    let app = spawn_app_with(|settings| settings.realtime.history = 5).await;
    let board = dashboard(&app, &["one.com"]).await;
    let id = &board.domains[0].0;
    let last_seen = seen_before_disconnecting(&app, &board, id).await;
    for _ in 0..8 {
        report(&app, &board.key, id, "accessible").await;
    }
    let mut live = open(&app, &board.user).await;
    live.send(json!({"op": "resume", "since": last_seen})).await;
    let resumed = live.expect("resumed").await;
    assert_eq!(resumed["data"], json!({"replayed": 0, "complete": false}));

    // Ids the hub never issued (the form before epochs, or none at all) prove nothing either.
    for since in ["1700000000000-0", "not an id"] {
        live.send(json!({"op": "resume", "since": since})).await;
        let resumed = live.expect("resumed").await;
        assert_eq!(resumed["data"], json!({"replayed": 0, "complete": false}));
    }
    let url = format!("{}&since=garbage", ws_url(&app, &board.user));
    let mut fresh = try_open(&url).await.expect("the upgrade");
    let resumed = fresh.expect("resumed").await;
    assert_eq!(resumed["data"], json!({"replayed": 0, "complete": false}));
}

#[actix_web::test]
async fn topics_follow_the_permission_rules() {
    let app = spawn_app().await;
    let board = dashboard(&app, &["one.com"]).await;
    let mut user = open(&app, &board.user).await;
    user.send(json!({"op": "subscribe", "topics": ["users", "user:someone-else", "brands"]}))
        .await;
    let refused = user.expect("error").await;
    assert_eq!(
        refused["data"]["topics"],
        json!(["users", "user:someone-else"])
    );
    let topics = user.expect("subscribed").await["data"]["topics"].clone();
    assert!(
        !topics.as_array().unwrap().contains(&json!("users")),
        "{topics}"
    );

    let mut admin = open(&app, &board.admin).await;
    assert!(admin.hello["data"]["topics"]
        .as_array()
        .unwrap()
        .contains(&json!("users")));
    let body = json!({"name": "New", "email": "new@example.com", "password": "long enough pw"});
    let (status, _) = app
        .send_as(Method::POST, "/api/v1/users", &board.admin, Some(&body))
        .await;
    assert_eq!(status, 201);
    assert_eq!(
        admin.expect("user:created").await["data"]["email"],
        "new@example.com"
    );
    user.expect_none("user:created", Duration::from_millis(500))
        .await;

    user.send(json!({"op": "unsubscribe", "topics": ["domains"]}))
        .await;
    user.expect("subscribed").await;
    report(&app, &board.key, &board.domains[0].0, "blocked").await;
    admin.expect("domain:nawala-updated").await;
    user.expect_none("domain:nawala-updated", Duration::from_millis(500))
        .await;
    user.send(json!({"op": "dance"})).await;
    user.expect("error").await;
}

#[actix_web::test]
async fn events_flow_again_after_redis_restarts() {
    let redis = PrivateRedis::start();
    let app = spawn_app_with(|settings| settings.redis.url = redis.url()).await;
    let board = dashboard(&app, &["one.com"]).await;
    let mut live = open(&app, &board.user).await;
    report(&app, &board.key, &board.domains[0].0, "blocked").await;
    let before = live.expect("domain:nawala-updated").await;

    redis.stop().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    redis.restart();

    let (status, _) = report(&app, &board.key, &board.domains[0].0, "accessible").await;
    assert_eq!(status, 200);
    let after = live.expect("domain:nawala-updated").await;
    assert_eq!(after["data"]["nawala"]["status"], "tidak ada");
    assert!(after["id"].as_str() > before["id"].as_str());
}

#[actix_web::test]
async fn a_disabled_or_deleted_users_sockets_close_on_every_instance() {
    let app = spawn_app().await;
    let other = app.another_instance().await;
    let board = dashboard(&app, &[]).await;
    let mut here = open(&app, &board.user).await;
    let mut there = open(&other, &board.user).await;
    let mut admin = open(&app, &board.admin).await;
    let path = format!("/api/v1/users/{}", board.user_id);
    let body = json!({"disabled": true});
    let (status, _) = app
        .send_as(Method::PUT, &path, &board.admin, Some(&body))
        .await;
    assert_eq!(status, 200);
    assert_eq!(here.close_code(Duration::from_secs(10)).await, Some(1008));
    assert_eq!(there.close_code(Duration::from_secs(10)).await, Some(1008));
    assert_eq!(admin.expect("user:updated").await["data"]["disabled"], true);
}

#[actix_web::test]
async fn a_socket_closes_when_its_token_expires() {
    let app = spawn_app_with(|settings| settings.auth.access_ttl = Duration::from_secs(2)).await;
    let board = dashboard(&app, &[]).await;
    let mut live = open(&app, &board.user).await;
    assert_eq!(live.close_code(Duration::from_secs(10)).await, Some(1008));
}
