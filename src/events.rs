//! The event publisher: every module announces a state change by appending it to the Redis stream
//! `events`, after its transaction has committed. The stream id is the event id; the stream is
//! capped near `realtime.history` entries, which is what a reconnecting client can resume from.

use hub_actors::event::{FIELD_DATA, FIELD_NAME, FIELD_TOPIC};
use hub_actors::{Event, STREAM_KEY};
use redis::aio::ConnectionManager;
use redis::streams::StreamMaxlen;

#[derive(Clone)]
pub struct EventPublisher {
    redis: ConnectionManager,
    stream: String,
    history: usize,
}

impl EventPublisher {
    pub fn new(redis: ConnectionManager, namespace: &str, history: usize) -> Self {
        EventPublisher {
            redis,
            stream: format!("{namespace}{STREAM_KEY}"),
            history,
        }
    }

    pub fn stream_key(&self) -> &str {
        &self.stream
    }

    /// Appends the event; returns its id.
    pub async fn publish(&self, event: &Event) -> redis::RedisResult<String> {
        let mut pipe = redis::pipe();
        self.append(&mut pipe, event);
        let (id,): (String,) = self.run(&pipe).await?;
        Ok(id)
    }

    /// Appends many events in one round trip, in order.
    pub async fn publish_many(&self, events: &[Event]) -> redis::RedisResult<()> {
        if events.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for event in events {
            self.append(&mut pipe, event);
        }
        self.run::<redis::Value>(&pipe).await.map(drop)
    }

    fn append(&self, pipe: &mut redis::Pipeline, event: &Event) {
        let data = event.data.to_string();
        pipe.xadd_maxlen(
            &self.stream,
            StreamMaxlen::Approx(self.history),
            "*",
            &[
                (FIELD_TOPIC, event.topic.as_str()),
                (FIELD_NAME, event.name.as_str()),
                (FIELD_DATA, data.as_str()),
            ],
        );
    }

    async fn run<T: redis::FromRedisValue>(&self, pipe: &redis::Pipeline) -> redis::RedisResult<T> {
        retrying_reconnects(|| {
            let mut redis = self.redis.clone();
            async move { pipe.query_async(&mut redis).await }
        })
        .await
    }

    /// Publishes after a commit where failing the request would be wrong (the change is made):
    /// a lost event is logged, and clients recover it by reloading over REST.
    pub async fn publish_logged(&self, event: Event) {
        if let Err(error) = self.publish(&event).await {
            tracing::error!(%error, topic = %event.topic, name = %event.name, "publishing event");
        }
    }

    /// As [`publish_logged`](Self::publish_logged), for many events at once.
    pub async fn publish_all_logged(&self, events: &[Event]) {
        if let Err(error) = self.publish_many(events).await {
            tracing::error!(%error, count = events.len(), "publishing events");
        }
    }
}

/// Runs `command`, again after a short wait when the connection had dropped: the connection
/// manager notices a restarted Redis on the first command it sends, fails that command, and
/// reconnects.
async fn retrying_reconnects<T, F, Fut>(command: F) -> redis::RedisResult<T>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = redis::RedisResult<T>>,
{
    let mut delay = std::time::Duration::from_millis(100);
    for _ in 0..4 {
        match command().await {
            Err(error) if error.is_connection_dropped() || error.is_io_error() => {
                tracing::debug!(%error, "Redis connection lost; retrying the event");
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
            result => return result,
        }
    }
    command().await
}
