//! PostgreSQL: the pool and the migrations.

pub mod constraints;
mod migrate;

use std::str::FromStr;

use anyhow::Context;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::NoTls;

pub use migrate::{migrate, MIGRATIONS};

/// `%text%` for ILIKE, with the wildcards of `text` taken literally.
pub fn contains_pattern(text: &str) -> String {
    let escaped = text
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// A connection from `pool`, waiting for PostgreSQL as long as it takes: a web process started
/// before its database (as orchestrators do) waits for it rather than exiting. A server that
/// answers and refuses (wrong password, no such database) is an error at once: waiting would not
/// mend it.
pub async fn wait_for(pool: &Pool) -> anyhow::Result<deadpool_postgres::Object> {
    let mut delay = std::time::Duration::from_millis(250);
    loop {
        match pool.get().await {
            Ok(client) => return Ok(client),
            Err(deadpool_postgres::PoolError::Backend(error)) if refuses_us(&error) => {
                return Err(error).context("PostgreSQL refuses the configured database.url");
            }
            Err(error) => {
                tracing::warn!(%error, retry_in = ?delay, "PostgreSQL does not answer; waiting for it");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(std::time::Duration::from_secs(5));
            }
        }
    }
}

/// Refused credentials (class 28) or a database that does not exist.
fn refuses_us(error: &tokio_postgres::Error) -> bool {
    error.as_db_error().is_some_and(|db| {
        db.code().code().starts_with("28")
            || *db.code() == tokio_postgres::error::SqlState::INVALID_CATALOG_NAME
    })
}

pub fn connect(url: &str, pool_size: usize) -> anyhow::Result<Pool> {
    let config =
        tokio_postgres::Config::from_str(url).context("database.url is not a PostgreSQL URL")?;
    let manager = Manager::from_config(
        config,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(pool_size.max(1))
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(std::time::Duration::from_secs(10)))
        .create_timeout(Some(std::time::Duration::from_secs(5)))
        .build()
        .context("building the database pool")
}
