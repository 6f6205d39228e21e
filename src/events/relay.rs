//! The relay: moves committed rows of `event_outbox` onto the Redis stream `events`, oldest first,
//! and deletes them once Redis holds them. Every `hub serve` and `hub worker` runs one; a
//! PostgreSQL advisory lock, held by the relay's own connection, lets exactly one of them work
//! (another takes over within `realtime.relay_interval` when its process dies). It wakes on
//! `NOTIFY hub_events` (sent at commit by a trigger) and polls as well, so a lost notification
//! delays an event and never loses it. While Redis is away, rows wait in PostgreSQL.
//!
//! Nothing goes on the stream twice while Redis keeps its data: the relay appends through a
//! script that refuses a relay whose fence term is no longer the newest (a relay that lost its
//! lock and does not know it yet), and a relay taking over first deletes the rows it finds on
//! the stream's tail (by their `uid`): those were relayed by its predecessor just before it died.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use futures_util::StreamExt;
use hub_actors::bridge::Retry;
use hub_actors::event::{FIELD_UID, META_KEY, STREAM_KEY};
use redis::aio::ConnectionManager;
use redis::streams::StreamRangeReply;
use redis::AsyncCommands;
use tokio::sync::Notify;
use tokio_postgres::{AsyncMessage, Client, NoTls};
use uuid::Uuid;

use crate::config::Settings;

/// The advisory lock the active relay holds ("hub_rela").
pub const LEADER_LOCK: i64 = 0x6875_625f_7265_6c61;
/// Rows relayed per round trip, at most.
const BATCH: i64 = 500;
/// Bytes of event data relayed per round trip, at most (one event always goes).
const BATCH_BYTES: usize = 4 << 20;
/// A relay that cannot reach Redis for this long lets another process try.
const REDIS_PATIENCE: Duration = Duration::from_secs(15);

/// Appends events to the stream, creating a new epoch with a new stream, if the caller's fence
/// term is still the newest. KEYS: the stream, its meta hash. ARGV: the fence term, the history
/// to keep, an epoch for a new stream, then uid, topic, name, data of each event.
pub const APPEND: &str = r"
if redis.call('HGET', KEYS[2], 'fence') ~= ARGV[1] then
  return redis.error_reply('FENCED another relay took over')
end
local epoch = redis.call('HGET', KEYS[2], 'epoch')
if (not epoch) or redis.call('EXISTS', KEYS[1]) == 0 then
  epoch = ARGV[3]
  redis.call('HSET', KEYS[2], 'epoch', epoch, 'n', 0)
end
for i = 4, #ARGV, 4 do
  local n = redis.call('HINCRBY', KEYS[2], 'n', 1)
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*',
    'topic', ARGV[i + 1], 'event', ARGV[i + 2], 'data', ARGV[i + 3],
    'epoch', epoch, 'n', n, 'uid', ARGV[i])
end
return (#ARGV - 3) / 4
";

pub struct Relay {
    database_url: String,
    redis: ConnectionManager,
    stream: String,
    meta: String,
    history: usize,
    /// Rows per round trip: well under the history, so that a take-over finds the whole last
    /// batch on the stream's tail.
    batch: i64,
    interval: Duration,
    append: redis::Script,
}

/// A failure, by what it calls for: Redis's are waited out with the lock kept; PostgreSQL's
/// give the lock up (the connection holding it may be gone).
enum Failure {
    Redis(redis::RedisError),
    Postgres(anyhow::Error),
}

impl From<redis::RedisError> for Failure {
    fn from(error: redis::RedisError) -> Self {
        Failure::Redis(error)
    }
}

impl From<tokio_postgres::Error> for Failure {
    fn from(error: tokio_postgres::Error) -> Self {
        Failure::Postgres(error.into())
    }
}

impl Relay {
    pub fn new(settings: &Settings, redis: ConnectionManager) -> Self {
        let namespace = &settings.redis.namespace;
        Relay {
            database_url: settings.database.url.clone(),
            redis,
            stream: format!("{namespace}{STREAM_KEY}"),
            meta: format!("{namespace}{META_KEY}"),
            history: settings.realtime.history.max(1),
            batch: (settings.realtime.history as i64 / 4).clamp(1, BATCH),
            interval: settings.realtime.relay_interval,
            append: redis::Script::new(APPEND),
        }
    }

    /// Relays for ever: waits for the lock, works while it holds it, and starts over after
    /// losing its database connection.
    pub async fn run(self) {
        loop {
            if let Err(error) = self.lead().await {
                tracing::warn!(error = %format!("{error:#}"), "event relay stopped; starting over");
            }
            tokio::time::sleep(self.interval).await;
        }
    }

    async fn lead(&self) -> anyhow::Result<()> {
        let mut config: tokio_postgres::Config =
            self.database_url.parse().context("database.url")?;
        // A dead peer is noticed in seconds on both sides: here, and by PostgreSQL, which then
        // releases the lock of a relay whose host vanished.
        config
            .keepalives_idle(Duration::from_secs(5))
            .keepalives_interval(Duration::from_secs(2))
            .keepalives_retries(3)
            .tcp_user_timeout(Duration::from_secs(10));
        let (client, connection) = config
            .connect(NoTls)
            .await
            .context("connecting to PostgreSQL")?;
        let wake = Arc::new(Notify::new());
        let _driver = AbortOnDrop(tokio::spawn(drive(connection, wake.clone())));
        client
            .batch_execute(
                "SET tcp_keepalives_idle = 5; SET tcp_keepalives_interval = 2; \
                 SET tcp_keepalives_count = 3; SET tcp_user_timeout = 10000",
            )
            .await?;
        while !client
            .query_one("SELECT pg_try_advisory_lock($1)", &[&LEADER_LOCK])
            .await?
            .get::<_, bool>(0)
        {
            tokio::time::sleep(self.interval).await;
        }
        client.batch_execute("LISTEN hub_events").await?;
        tracing::info!("event relay active");
        let mut retry = Retry::default();
        let mut term = None;
        let mut failing_since = None;
        loop {
            let outcome = match term {
                None => self.take_over(&client).await.map(|fence| {
                    term = Some(fence);
                    self.batch
                }),
                Some(fence) => self.relay_batch(&client, fence).await,
            };
            match outcome {
                Ok(relayed) => {
                    retry = Retry::default();
                    failing_since = None;
                    if relayed < self.batch {
                        tokio::select! {
                            _ = wake.notified() => {}
                            _ = tokio::time::sleep(self.interval) => {}
                        }
                    }
                }
                Err(Failure::Redis(error)) => {
                    // Whether the last append landed is unknown: take over again, which looks.
                    term = None;
                    let since = *failing_since.get_or_insert_with(tokio::time::Instant::now);
                    if since.elapsed() > REDIS_PATIENCE {
                        anyhow::bail!("Redis unreachable for {REDIS_PATIENCE:?}: {error}");
                    }
                    retry.wait("relaying events to Redis", &error).await;
                    client.simple_query("SELECT 1").await?;
                }
                Err(Failure::Postgres(error)) => return Err(error),
            }
        }
    }

    /// Fences out any earlier relay, and deletes the rows it relayed but had not yet deleted.
    async fn take_over(&self, client: &Client) -> Result<i64, Failure> {
        let mut redis = self.redis.clone();
        let term: i64 = redis.hincr(&self.meta, "fence", 1).await?;
        let tail: StreamRangeReply = redis
            .xrevrange_count(&self.stream, "+", "-", 2 * self.batch as usize)
            .await?;
        let relayed: Vec<Uuid> = tail
            .ids
            .iter()
            .filter_map(|entry| entry.get::<String>(FIELD_UID))
            .filter_map(|uid| Uuid::parse_str(&uid).ok())
            .collect();
        if !relayed.is_empty() {
            let deleted = client
                .execute("DELETE FROM event_outbox WHERE uid = ANY($1)", &[&relayed])
                .await?;
            if deleted > 0 {
                tracing::info!(deleted, "outbox rows already relayed before a take-over");
            }
        }
        Ok(term)
    }

    /// Relays the oldest rows; answers how many it read, or a full batch when it left some of
    /// them for the next round.
    async fn relay_batch(&self, client: &Client, term: i64) -> Result<i64, Failure> {
        let mut rows = client
            .query(
                "SELECT seq, uid, topic, name, data FROM event_outbox ORDER BY seq LIMIT $1",
                &[&self.batch],
            )
            .await?;
        if rows.is_empty() {
            return Ok(0);
        }
        let read = rows.len() as i64;
        let mut bytes = 0;
        let fits = rows
            .iter()
            .take_while(|row| {
                bytes += row.get::<_, &str>("data").len();
                bytes <= BATCH_BYTES
            })
            .count();
        rows.truncate(fits.max(1));
        let epoch = format!("{:08x}", rand::random::<u32>());
        let mut append = self.append.prepare_invoke();
        append
            .key(&self.stream)
            .key(&self.meta)
            .arg(term)
            .arg(self.history)
            .arg(epoch);
        for row in &rows {
            append
                .arg(row.get::<_, Uuid>("uid").simple().to_string())
                .arg(row.get::<_, &str>("topic"))
                .arg(row.get::<_, &str>("name"))
                .arg(row.get::<_, &str>("data"));
        }
        append.invoke_async::<i64>(&mut self.redis.clone()).await?;
        let relayed: Vec<i64> = rows.iter().map(|row| row.get("seq")).collect();
        client
            .execute("DELETE FROM event_outbox WHERE seq = ANY($1)", &[&relayed])
            .await?;
        // Rows left behind by the byte cap go out in the next round, at once.
        Ok(if (relayed.len() as i64) < read {
            self.batch
        } else {
            read
        })
    }
}

/// Runs the relay's connection, turning its notifications into wake-ups; ends with it.
async fn drive<S, T>(mut connection: tokio_postgres::Connection<S, T>, wake: Arc<Notify>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
    while let Some(message) = messages.next().await {
        match message {
            Ok(AsyncMessage::Notification(_)) => wake.notify_one(),
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(%error, "the event relay's database connection failed");
                break;
            }
        }
    }
    wake.notify_one();
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
