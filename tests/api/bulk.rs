//! An import of 10,000 domains and a scan batch that changes them all, announced to 2,000 open
//! sessions: in chunks, not one event per domain, and without closing a healthy session.

use std::time::Duration;

use futures_util::StreamExt;
use reqwest::Method;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

use crate::dashboard::{dashboard, finished_batch, submit_scan};
use crate::helpers::spawn_app_with;
use crate::live::{open, Live};

const DOMAINS: usize = 10_000;
const SESSIONS: usize = 2_000;

/// What one session saw of the batch.
#[derive(Debug, Default, PartialEq, Eq)]
struct Seen {
    imported: usize,
    chunks: usize,
    changes: usize,
    completed: bool,
    closed: bool,
}

/// Reads until `scan:completed`, counting the chunks and the changes they carry; the frames are
/// looked at, not parsed, to keep 2,000 clients cheap.
async fn watch(live: Live) -> Seen {
    let mut ws = live.into_inner();
    let mut seen = Seen::default();
    while let Ok(Some(message)) = tokio::time::timeout(Duration::from_secs(120), ws.next()).await {
        match message {
            Ok(Message::Text(text)) if text.starts_with(r#"{"event":"domains:imported""#) => {
                seen.imported += 1;
            }
            Ok(Message::Text(text)) if text.starts_with(r#"{"event":"domains:nawala-changed""#) => {
                seen.chunks += 1;
                seen.changes += text.matches(r#""domainId""#).count();
            }
            Ok(Message::Text(text)) if text.starts_with(r#"{"event":"scan:completed""#) => {
                seen.completed = true;
                return seen;
            }
            Ok(Message::Close(_)) | Err(_) => break,
            Ok(_) => {}
        }
    }
    seen.closed = true;
    seen
}

#[actix_web::test]
async fn a_10000_domain_batch_reaches_2000_sessions_as_20_chunks_and_a_completion() {
    hub::cli::raise_open_file_limit();
    let mut app = spawn_app_with(|settings| {
        settings.realtime.client_timeout = Duration::from_secs(45);
        // One test client stands for 2,000 dashboards.
        settings.realtime.max_sessions_per_user = SESSIONS;
        settings.rate_limit.socket = "10000/15m".parse().unwrap();
    })
    .await;
    let board = dashboard(&app, &[]).await;
    app.start_worker();
    let mut watchers = Vec::with_capacity(SESSIONS);
    for _ in 0..SESSIONS {
        let live = open(&app, &board.user).await;
        watchers.push(tokio::spawn(watch(live)));
    }

    let names: Vec<String> = (0..DOMAINS)
        .map(|n| format!("d{n:05}.example.com"))
        .collect();
    let body = json!({"brandId": board.brand_id, "domains": names});
    let (status, imported) = app
        .send_as(
            Method::POST,
            "/api/v1/domains/import",
            &board.admin,
            Some(&body),
        )
        .await;
    assert_eq!(
        (status, &imported["data"]["created"]),
        (200, &json!(DOMAINS))
    );
    let results: Vec<_> = names
        .iter()
        .map(|name| json!({"domain": name, "status": "blocked"}))
        .collect();
    let (status, answer) = submit_scan(&app, &board.key, &json!({"results": results})).await;
    assert_eq!(status, 202, "{answer}");
    let batch_id = answer["data"]["batchId"].as_str().unwrap().to_owned();

    let expected = Seen {
        imported: DOMAINS / 500,
        chunks: DOMAINS / 500,
        changes: DOMAINS,
        completed: true,
        closed: false,
    };
    for (n, watcher) in watchers.into_iter().enumerate() {
        assert_eq!(watcher.await.unwrap(), expected, "session {n}");
    }
    assert_eq!(
        finished_batch(&app, &board.key, &batch_id).await["changed"],
        DOMAINS
    );
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("hub_websocket_slow_sessions_closed_total 0"),
        "{metrics}"
    );
}
