//! The bridge between the Redis stream `events` and the broadcaster, and the stream as the
//! history a reconnecting session replays from.

use std::sync::Arc;
use std::time::Duration;

use actix::Addr;
use redis::aio::ConnectionManager;
use redis::streams::{StreamId, StreamRangeReply, StreamReadOptions, StreamReadReply};
use redis::AsyncCommands;

use crate::broadcaster::{Broadcaster, Dispatch, Resync, StartAt};
use crate::event::{
    Cursor, EventId, Frame, FIELD_DATA, FIELD_EPOCH, FIELD_NAME, FIELD_NUMBER, FIELD_TOPIC,
};
use crate::recent::Recent;

/// How long one XREAD waits for new events; the connection's response timeout must be longer.
pub const BLOCK: Duration = Duration::from_secs(5);
const READ_COUNT: usize = 1000;

/// A stream entry as the relay wrote it.
#[derive(Debug, Clone)]
pub struct Entry {
    pub cursor: Cursor,
    /// Its number in its epoch (1, 2, 3…).
    pub number: u64,
    /// `None` when its data is not JSON: it is read past, not passed on.
    pub frame: Option<Arc<Frame>>,
}

impl Entry {
    fn parse(raw: &StreamId) -> Option<Entry> {
        let field = |name: &str| raw.get::<String>(name);
        let cursor = Cursor {
            epoch: field(FIELD_EPOCH)?.parse().ok()?,
            id: raw.id.parse().ok()?,
        };
        let frame = Frame::encode(
            cursor,
            &field(FIELD_TOPIC)?,
            &field(FIELD_NAME)?,
            &field(FIELD_DATA)?,
        );
        if frame.is_none() {
            tracing::warn!(id = %raw.id, "skipping a stream entry whose data is not JSON");
        }
        Some(Entry {
            cursor,
            number: field(FIELD_NUMBER)?.parse().ok()?,
            frame: frame.map(Arc::new),
        })
    }

    /// Whether `next` follows this entry with nothing missing between them.
    pub fn followed_by(&self, next: &Entry) -> bool {
        next.cursor.epoch == self.cursor.epoch && next.number == self.number + 1
    }
}

/// The entry of a one-entry range read at `since`, if it is `since` itself (in its epoch).
fn entry_at(range: &StreamRangeReply, since: Cursor) -> Option<Entry> {
    range
        .ids
        .first()
        .and_then(Entry::parse)
        .filter(|entry| entry.cursor == since)
}

/// What the stream holds after a client's last event.
pub struct Replay {
    /// The client's last event is still on the stream, in its epoch: nothing after it was lost.
    pub since_kept: bool,
    /// The events after it, oldest first (at most the limit asked for).
    pub frames: Vec<Arc<Frame>>,
}

/// The stream, read by id, with its newest events in memory.
#[derive(Clone)]
pub struct EventLog {
    redis: ConnectionManager,
    key: String,
    recent: Recent,
}

impl EventLog {
    /// Keeps up to `recent` of the newest events in memory.
    pub fn new(redis: ConnectionManager, key: impl Into<String>, recent: usize) -> Self {
        EventLog {
            redis,
            key: key.into(),
            recent: Recent::new(recent),
        }
    }

    /// The same log over another connection (the bridge's, which XREAD BLOCK holds), sharing the
    /// events in memory.
    pub fn over(&self, redis: ConnectionManager) -> Self {
        EventLog {
            redis,
            ..self.clone()
        }
    }

    /// The newest entry of ours kept (a few foreign ones on top are looked past), `None` for an
    /// empty or missing stream.
    pub async fn newest(&self) -> redis::RedisResult<Option<Entry>> {
        let reply: StreamRangeReply = self
            .redis
            .clone()
            .xrevrange_count(&self.key, "+", "-", 16)
            .await?;
        Ok(reply.ids.iter().find_map(Entry::parse))
    }

    /// Up to `limit` events after `since`, and whether they follow it with nothing missing:
    /// `since` is still kept, in its epoch, and every entry after it carries the next number.
    /// Both ranges are read in one transaction, so no trim or reset falls between them.
    pub async fn replay(&self, since: Cursor, limit: usize) -> redis::RedisResult<Replay> {
        if let Some(replay) = self.recent.replay(since, limit) {
            // The events come from memory; `since` still on the stream proves that the stream is
            // the one they were read from (not deleted or lost since).
            return Ok(match self.kept(since).await? {
                true => replay,
                false => Replay {
                    since_kept: false,
                    frames: Vec::new(),
                },
            });
        }
        let id = since.id.to_string();
        let (at, after): (StreamRangeReply, StreamRangeReply) = redis::pipe()
            .atomic()
            .xrange_count(&self.key, &id, &id, 1)
            .xrange_count(&self.key, format!("({id}"), "+", limit)
            .query_async(&mut self.redis.clone())
            .await?;
        let mut last = entry_at(&at, since);
        let mut since_kept = last.is_some();
        let mut frames = Vec::with_capacity(after.ids.len());
        for entry in after.ids.iter().filter_map(Entry::parse) {
            since_kept &= last.as_ref().is_some_and(|last| last.followed_by(&entry));
            frames.extend(entry.frame.clone());
            last = Some(entry);
        }
        Ok(Replay { since_kept, frames })
    }

    /// Whether `since` is on the stream, in its epoch.
    async fn kept(&self, since: Cursor) -> redis::RedisResult<bool> {
        let id = since.id.to_string();
        let at: StreamRangeReply = self
            .redis
            .clone()
            .xrange_count(&self.key, &id, &id, 1)
            .await?;
        Ok(entry_at(&at, since).is_some())
    }

    /// Entries after `after` (from the start when `None`), waiting up to [`BLOCK`] for the first;
    /// and the id of the last entry read, of ours or not.
    async fn read(&self, after: Option<EventId>) -> redis::RedisResult<(Vec<Entry>, EventId)> {
        let after = after.unwrap_or(EventId::ZERO);
        let options = StreamReadOptions::default()
            .block(BLOCK.as_millis() as usize)
            .count(READ_COUNT);
        let reply: Option<StreamReadReply> = self
            .redis
            .clone()
            .xread_options(&[&self.key], &[after.to_string()], &options)
            .await?;
        let raw: Vec<StreamId> = reply
            .into_iter()
            .flat_map(|reply| reply.keys)
            .flat_map(|key| key.ids)
            .collect();
        let last = raw
            .last()
            .and_then(|entry| entry.id.parse().ok())
            .unwrap_or(after);
        Ok((raw.iter().filter_map(Entry::parse).collect(), last))
    }
}

/// Where the bridge is: the last entry it read, of ours (`last`) and of any kind (`read_after`).
struct Position {
    last: Option<Entry>,
    read_after: Option<EventId>,
}

impl Position {
    fn at(newest: Option<Entry>) -> Position {
        Position {
            read_after: newest.as_ref().map(|entry| entry.cursor.id),
            last: newest,
        }
    }

    /// Whether the stream was recreated since the bridge's last entry: then its new entries may
    /// have ids below the ones the bridge would read after.
    fn outdated_by(&self, newest: &Option<Entry>) -> bool {
        match (&self.last, newest) {
            (Some(last), Some(newest)) => last.cursor.epoch != newest.cursor.epoch,
            (Some(_), None) => true,
            (None, _) => false,
        }
    }
}

/// Reads the stream for ever and hands every event to the broadcaster, in order. `log` must have a
/// connection of its own (XREAD BLOCK holds it). After a Redis error it goes on from the last
/// entry it read. Whenever it cannot prove that it missed nothing (it fell behind the trimmed
/// history, or the stream was deleted or lost with Redis), it tells every session to resync.
pub async fn run(log: EventLog, broadcaster: Addr<Broadcaster>) {
    let mut retry = Retry::default();
    let newest = loop {
        match log.newest().await {
            Ok(newest) => break newest,
            Err(error) => {
                retry
                    .wait("finding where the event stream ends", &error)
                    .await
            }
        }
    };
    let start = newest.as_ref().map(|entry| entry.cursor);
    if broadcaster.send(StartAt(start)).await.is_err() {
        return;
    }
    tracing::info!(after = ?start.map(|cursor| cursor.to_string()), "event bridge started");
    let mut position = Position::at(newest);
    loop {
        let quiet = match log.read(position.read_after).await {
            Ok((entries, read_up_to)) => {
                retry = Retry::default();
                position.read_after = Some(read_up_to);
                let quiet = entries.is_empty();
                if !follow(&mut position, entries, &log.recent, &broadcaster).await {
                    return;
                }
                quiet
            }
            Err(error) => {
                retry.wait("reading the event stream", &error).await;
                true
            }
        };
        // A stream deleted and created again may hold entries below `read_after`: look.
        if quiet {
            if let Ok(newest) = log.newest().await {
                if position.outdated_by(&newest) {
                    let epoch = newest.as_ref().map(|entry| entry.cursor.epoch);
                    tracing::warn!("the event stream was reset; sessions resync");
                    position = Position::at(None);
                    log.recent.clear();
                    if broadcaster.send(Resync(epoch)).await.is_err() {
                        return;
                    }
                }
            }
        }
    }
}

/// Hands `entries` to the broadcaster, with a resync wherever one does not follow the last;
/// answers false once the broadcaster is gone. Each is kept in `recent` before it is dispatched,
/// so that a session that got it live finds it there when it resumes.
async fn follow(
    position: &mut Position,
    entries: Vec<Entry>,
    recent: &Recent,
    broadcaster: &Addr<Broadcaster>,
) -> bool {
    let mut frames = Vec::with_capacity(entries.len());
    for entry in entries {
        if let Some(last) = &position.last {
            if !last.followed_by(&entry) {
                tracing::warn!(
                    last = %last.cursor,
                    next = %entry.cursor,
                    "events were trimmed or lost before the bridge read them; sessions resync"
                );
                let before = std::mem::take(&mut frames);
                if broadcaster.send(Dispatch(before)).await.is_err()
                    || broadcaster
                        .send(Resync(Some(entry.cursor.epoch)))
                        .await
                        .is_err()
                {
                    return false;
                }
            }
        }
        recent.push(&entry);
        frames.extend(entry.frame.clone());
        position.last = Some(entry);
    }
    frames.is_empty() || broadcaster.send(Dispatch(frames)).await.is_ok()
}

/// Backs off from 100 ms to 5 s while Redis is away.
#[derive(Default)]
pub struct Retry {
    failures: u32,
}

impl Retry {
    pub async fn wait(&mut self, doing: &str, error: &(dyn std::fmt::Display + Sync)) {
        self.failures += 1;
        let delay =
            Duration::from_millis(100 * 2u64.pow(self.failures.min(6))).min(Duration::from_secs(5));
        if self.failures == 1 || self.failures.is_multiple_of(20) {
            tracing::warn!(%error, failures = self.failures, "{doing}; retrying");
        }
        tokio::time::sleep(delay).await;
    }
}
