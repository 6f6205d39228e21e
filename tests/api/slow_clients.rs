//! Clients that read slowly or not at all: one that stops is cut off and its TCP connection
//! ended, without the server buffering for it; one that reads slowly but steadily is kept.

use std::time::Duration;

use serde_json::json;
use tokio::io::AsyncReadExt;

use crate::dashboard::dashboard;
use crate::helpers::{spawn_app_with, TestApp};
use crate::live::{open, ws_url, Live};

/// Records `count` events of `size` bytes straight into the outbox, from a task of its own.
fn record_bulk(app: &TestApp, count: usize, size: usize) -> tokio::task::JoinHandle<()> {
    let db = app.db.clone();
    tokio::spawn(async move {
        let client = db.get().await.unwrap();
        let padding = "x".repeat(size);
        for n in 0..count {
            let data = json!({"n": n, "padding": padding});
            let event = hub_actors::Event::new("domains", "test:bulk", data);
            hub::events::record(&client, &event).await.unwrap();
        }
    })
}

/// A client with a tiny receive buffer; answers it and its local port.
async fn small_window_client(url: &str) -> (Live, u16) {
    let address = url
        .trim_start_matches("ws://")
        .split('/')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(address).await.unwrap();
    let port = stream.local_addr().unwrap().port();
    let (ws, _) =
        tokio_tungstenite::client_async(url, tokio_tungstenite::MaybeTlsStream::Plain(stream))
            .await
            .unwrap();
    (Live::after_handshake(ws).await, port)
}

/// The TCP state (1: established) of the kernel's socket from `server` port to `client` port.
fn server_side_state(server: u16, client: u16) -> Option<u8> {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    let hex_of = |field: &str| {
        field
            .rsplit(':')
            .next()
            .and_then(|hex| u16::from_str_radix(hex, 16).ok())
    };
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let ours = fields.len() > 3
            && hex_of(fields[1]) == Some(server)
            && hex_of(fields[2]) == Some(client);
        ours.then(|| u8::from_str_radix(fields[3], 16).ok())
            .flatten()
    })
}

/// Whether the kernel still has that socket, in any state.
fn server_side_open(server: u16, client: u16) -> bool {
    server_side_state(server, client).is_some()
}

fn port_of(app: &TestApp) -> u16 {
    app.address.rsplit(':').next().unwrap().parse().unwrap()
}

async fn metric(app: &TestApp, name: &str) -> f64 {
    let text = app.get("/metrics").await.text().await.unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix(&format!("{name} ")))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(-1.0)
}

#[actix_web::test]
async fn a_client_that_stops_reading_is_cut_off_without_buffering_and_its_connection_ended() {
    let app = spawn_app_with(|settings| settings.realtime.max_pending = 64).await;
    let timeout = app.settings.realtime.client_timeout;
    let board = dashboard(&app, &[]).await;
    let mut reader = open(&app, &board.user).await;
    let (_stalled, stalled_port) = small_window_client(&ws_url(&app, &board.user)).await;
    let server_port = port_of(&app);
    assert!(server_side_open(server_port, stalled_port));

    const EVENTS: usize = 600;
    let recording = record_bulk(&app, EVENTS, 64 * 1024);
    let mut most_queued = metric(&app, "hub_websocket_frames_queued").await;
    assert!(most_queued >= 0.0, "the gauge is exported");
    for n in 0..EVENTS {
        // Events of the setup (a brand, a key) may still be on their way: skip them.
        let frame = reader.expect("test:bulk").await;
        assert_eq!(
            frame["data"]["n"], n,
            "the reader gets every event, in order"
        );
        if n % 50 == 0 {
            most_queued = most_queued.max(metric(&app, "hub_websocket_frames_queued").await);
        }
    }
    recording.await.unwrap();
    let received_all = tokio::time::Instant::now();
    while server_side_open(server_port, stalled_port) {
        assert!(
            received_all.elapsed() < timeout,
            "the stalled client's connection is still open"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        metric(&app, "hub_websocket_slow_sessions_closed_total").await,
        1.0
    );
    // The server never held more for it than its bound allows (8 × max_pending frames).
    assert!(
        most_queued <= 8.0 * 64.0 + 8.0,
        "{most_queued} frames queued"
    );
    assert_eq!(metric(&app, "hub_websocket_sessions_open").await, 1.0);
}

#[actix_web::test]
async fn a_client_that_reads_slowly_but_steadily_through_a_burst_is_kept() {
    let app = spawn_app_with(|settings| settings.realtime.max_pending = 32).await;
    let board = dashboard(&app, &[]).await;
    let (mut slow, _) = small_window_client(&ws_url(&app, &board.user)).await;

    const EVENTS: usize = 200;
    let recording = record_bulk(&app, EVENTS, 32 * 1024);
    let mut received = 0;
    while received < EVENTS {
        let frame = slow.expect("test:bulk").await;
        assert_eq!(frame["data"]["n"], received, "in order: {frame}");
        received += 1;
        // About 3 MB/s: far slower than the burst comes.
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    recording.await.unwrap();
    assert_eq!(
        metric(&app, "hub_websocket_slow_sessions_closed_total").await,
        0.0
    );
    assert_eq!(metric(&app, "hub_websocket_sessions_open").await, 1.0);
}

/// A client that answers nothing, not even pings, is closed once `client_timeout` has passed.
#[actix_web::test]
async fn a_silent_client_is_closed_after_the_client_timeout() {
    let app = spawn_app_with(|_| {}).await;
    let board = dashboard(&app, &[]).await;
    let (live, client_port) = small_window_client(&ws_url(&app, &board.user)).await;
    let timeout = app.settings.realtime.client_timeout;
    // Reading nothing (so answering no ping): still open just before the timeout…
    tokio::time::sleep(timeout - Duration::from_millis(500)).await;
    assert_eq!(server_side_state(port_of(&app), client_port), Some(1));
    // …and closed after it.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // Read raw: a WebSocket library would answer the pings it finds, into a closed connection.
    let mut ws = live.into_inner();
    let stream = ws.get_mut();
    let mut bytes = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut bytes));
    assert!(read.await.is_ok(), "the server ended the connection");
    let close = bytes
        .windows(4)
        .find(|window| window[0] == 0x88 && window[1] >= 2)
        .map(|window| u16::from_be_bytes([window[2], window[3]]));
    assert_eq!(close, Some(1001));
}
