//! A real WebSocket client of `GET /ws`, as a dashboard holds one.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::helpers::TestApp;

pub const WAIT: Duration = Duration::from_secs(10);

pub struct Live {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// The first frame: `{"event": "hello", "data": {"topics", "lastEventId"}}`.
    pub hello: Value,
}

pub fn ws_url(app: &TestApp, token: &str) -> String {
    format!("{}/ws?token={token}", app.address.replacen("http", "ws", 1))
}

/// Opens a socket; `Err(status)` when the upgrade is refused.
pub async fn try_open(url: &str) -> Result<Live, u16> {
    match tokio_tungstenite::connect_async(url).await {
        Ok((ws, _)) => Ok(Live::after_handshake(ws).await),
        Err(tungstenite::Error::Http(response)) => Err(response.status().as_u16()),
        Err(error) => panic!("connecting {url}: {error}"),
    }
}

pub async fn open(app: &TestApp, token: &str) -> Live {
    try_open(&ws_url(app, token)).await.expect("the upgrade")
}

impl Live {
    pub async fn after_handshake(ws: WebSocketStream<MaybeTlsStream<TcpStream>>) -> Live {
        let mut live = Live {
            ws,
            hello: Value::Null,
        };
        live.hello = live.next(WAIT).await.expect("a hello frame");
        assert_eq!(live.hello["event"], "hello", "{}", live.hello);
        live
    }

    /// The next JSON frame, or `None` after `within` or at the socket's close.
    pub async fn next(&mut self, within: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let message = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .ok()??;
            match message.ok()? {
                Message::Text(text) => {
                    return Some(serde_json::from_str(&text).expect("JSON frames"))
                }
                Message::Close(_) => return None,
                _ => continue,
            }
        }
    }

    /// The next frame named `event`, skipping others; panics when none comes in time.
    pub async fn expect(&mut self, event: &str) -> Value {
        loop {
            let frame = self
                .next(WAIT)
                .await
                .unwrap_or_else(|| panic!("no {event} event came"));
            if frame["event"] == event {
                return frame;
            }
        }
    }

    /// Frames named `event` until `count` have come.
    pub async fn collect(&mut self, event: &str, count: usize) -> Vec<Value> {
        self.collect_within(event, count, WAIT).await
    }

    /// Frames named `event` until `count` have come, waiting up to `within` for each.
    pub async fn collect_within(
        &mut self,
        event: &str,
        count: usize,
        within: Duration,
    ) -> Vec<Value> {
        let mut frames = Vec::new();
        while frames.len() < count {
            let frame = self
                .next(within)
                .await
                .unwrap_or_else(|| panic!("{} of {count} {event} events came", frames.len()));
            if frame["event"] == event {
                frames.push(frame);
            }
        }
        frames
    }

    /// Asserts that no frame named `event` comes within `within`.
    pub async fn expect_none(&mut self, event: &str, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        while let Some(frame) = self.next(deadline - tokio::time::Instant::now()).await {
            assert_ne!(frame["event"], event, "unexpected {frame}");
        }
    }

    pub async fn send(&mut self, request: Value) {
        self.ws
            .send(Message::Text(request.to_string().into()))
            .await
            .expect("sending a frame");
    }

    /// Reads until the server closes; answers the close code.
    pub async fn close_code(&mut self, within: Duration) -> Option<u16> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .ok()??
            {
                Ok(Message::Close(frame)) => return frame.map(|frame| u16::from(frame.code)),
                Ok(_) => continue,
                Err(_) => return None,
            }
        }
    }

    pub fn into_inner(self) -> WebSocketStream<MaybeTlsStream<TcpStream>> {
        self.ws
    }

    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}
