//! The Redis connection every part of a process shares. It reconnects by itself after a Redis
//! restart; its response timeout is long enough for a loaded worker pool (apalis-redis issue 76).

use anyhow::Context;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::config::RedisSettings;

/// Connects lazily: the process starts while Redis is down, and `/ready` says so until it is up.
pub fn connect(settings: &RedisSettings) -> anyhow::Result<ConnectionManager> {
    let client =
        redis::Client::open(settings.url.as_str()).context("redis.url is not a Redis URL")?;
    let config = ConnectionManagerConfig::new()
        .set_response_timeout(Some(settings.response_timeout))
        .set_connection_timeout(Some(std::time::Duration::from_secs(5)))
        .set_number_of_retries(3)
        .set_max_delay(std::time::Duration::from_secs(2));
    ConnectionManager::new_lazy_with_config(client, config)
        .context("configuring the Redis connection")
}
