//! Job counters by queue and outcome, kept in one Redis hash so that the web process's
//! `/metrics` can report what the worker process did.

use redis::aio::ConnectionManager;
use redis::AsyncCommands;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Enqueued,
    Succeeded,
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Enqueued => "enqueued",
            Outcome::Succeeded => "succeeded",
            Outcome::Failed => "failed",
        }
    }
}

pub(crate) fn key(namespace: &str) -> String {
    format!("{namespace}metrics:jobs")
}

/// Counts one job outcome; a failure to count is logged, never fatal.
pub async fn record_outcome(
    redis: &ConnectionManager,
    namespace: &str,
    queue: &str,
    outcome: Outcome,
) {
    let mut redis = redis.clone();
    let field = format!("{queue}:{}", outcome.as_str());
    if let Err(error) = redis.hincr::<_, _, _, i64>(key(namespace), field, 1).await {
        tracing::warn!(%error, queue, "counting a job outcome");
    }
}
