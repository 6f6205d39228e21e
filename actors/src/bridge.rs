//! The bridge between the Redis stream `events` and the broadcaster, and the stream as the
//! history a reconnecting session replays from.

use std::sync::Arc;
use std::time::Duration;

use actix::Addr;
use redis::aio::ConnectionManager;
use redis::streams::{StreamId, StreamRangeReply, StreamReadOptions, StreamReadReply};
use redis::AsyncCommands;

use crate::broadcaster::{Broadcaster, Dispatch, StartAt};
use crate::event::{EventId, Frame, FIELD_DATA, FIELD_NAME, FIELD_TOPIC};

/// How long one XREAD waits for new events; the connection's response timeout must be longer.
pub const BLOCK: Duration = Duration::from_secs(5);
const READ_COUNT: usize = 1000;

/// The stream, read by id.
#[derive(Clone)]
pub struct EventLog {
    redis: ConnectionManager,
    key: String,
}

fn frame_of(entry: &StreamId) -> Option<Arc<Frame>> {
    let id: EventId = entry.id.parse().ok()?;
    let field = |name: &str| entry.get::<String>(name);
    let frame = Frame::encode(
        id,
        &field(FIELD_TOPIC)?,
        &field(FIELD_NAME)?,
        &field(FIELD_DATA)?,
    );
    if frame.is_none() {
        tracing::warn!(id = %entry.id, "skipping a stream entry that is not an event");
    }
    frame.map(Arc::new)
}

impl EventLog {
    pub fn new(redis: ConnectionManager, key: impl Into<String>) -> Self {
        EventLog {
            redis,
            key: key.into(),
        }
    }

    /// The id of the newest event kept, or `ZERO` for an empty stream.
    pub async fn newest(&self) -> redis::RedisResult<EventId> {
        let reply: StreamRangeReply = self
            .redis
            .clone()
            .xrevrange_count(&self.key, "+", "-", 1)
            .await?;
        Ok(reply
            .ids
            .first()
            .and_then(|entry| entry.id.parse().ok())
            .unwrap_or(EventId::ZERO))
    }

    /// The id of the oldest event kept.
    pub async fn oldest(&self) -> redis::RedisResult<Option<EventId>> {
        let reply: StreamRangeReply = self
            .redis
            .clone()
            .xrange_count(&self.key, "-", "+", 1)
            .await?;
        Ok(reply.ids.first().and_then(|entry| entry.id.parse().ok()))
    }

    /// Up to `count` events after `since`, oldest first.
    pub async fn after(&self, since: EventId, count: usize) -> redis::RedisResult<Vec<Arc<Frame>>> {
        let reply: StreamRangeReply = self
            .redis
            .clone()
            .xrange_count(&self.key, format!("({since}"), "+", count)
            .await?;
        Ok(reply.ids.iter().filter_map(frame_of).collect())
    }

    /// Events after `since`, waiting up to [`BLOCK`] for the first, and the id of the last entry
    /// read (an entry that is not an event is skipped, and read past).
    async fn read(&self, since: EventId) -> redis::RedisResult<(Vec<Arc<Frame>>, EventId)> {
        let options = StreamReadOptions::default()
            .block(BLOCK.as_millis() as usize)
            .count(READ_COUNT);
        let reply: Option<StreamReadReply> = self
            .redis
            .clone()
            .xread_options(&[&self.key], &[since.to_string()], &options)
            .await?;
        let entries: Vec<StreamId> = reply
            .into_iter()
            .flat_map(|reply| reply.keys)
            .flat_map(|key| key.ids)
            .collect();
        let last = entries
            .last()
            .and_then(|entry| entry.id.parse().ok())
            .unwrap_or(since);
        Ok((entries.iter().filter_map(frame_of).collect(), last))
    }
}

/// Reads the stream for ever and hands every event to the broadcaster, in order. `log` must have a
/// connection of its own (XREAD BLOCK holds it). After a Redis error it reconnects and goes on
/// from the last id it saw, so a Redis restart delays events and loses none that Redis kept.
pub async fn run(log: EventLog, broadcaster: Addr<Broadcaster>) {
    let mut retry = Retry::default();
    let mut last = loop {
        match log.newest().await {
            Ok(id) => break id,
            Err(error) => {
                retry
                    .wait("finding where the event stream ends", &error)
                    .await
            }
        }
    };
    if broadcaster.send(StartAt(last)).await.is_err() {
        return;
    }
    tracing::info!(after = %last, "event bridge started");
    loop {
        match log.read(last).await {
            Ok((frames, read_up_to)) => {
                retry = Retry::default();
                last = read_up_to;
                if !frames.is_empty() && broadcaster.send(Dispatch(frames)).await.is_err() {
                    return;
                }
            }
            Err(error) => retry.wait("reading the event stream", &error).await,
        }
    }
}

/// Backs off from 100 ms to 5 s while Redis is away.
#[derive(Default)]
struct Retry {
    failures: u32,
}

impl Retry {
    async fn wait(&mut self, doing: &str, error: &redis::RedisError) {
        self.failures += 1;
        let delay =
            Duration::from_millis(100 * 2u64.pow(self.failures.min(6))).min(Duration::from_secs(5));
        if self.failures == 1 || self.failures.is_multiple_of(20) {
            tracing::warn!(%error, failures = self.failures, "{doing}; retrying");
        }
        tokio::time::sleep(delay).await;
    }
}
