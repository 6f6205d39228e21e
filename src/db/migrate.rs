//! Applies the numbered migrations of `sql/`, each once, in order, in its own transaction.
//! An advisory lock keeps several processes starting at once from racing.

use anyhow::{bail, Context};
use sha2::{Digest, Sha256};
use tokio_postgres::Client;

pub struct Migration {
    pub version: i32,
    pub name: &'static str,
    pub sql: &'static str,
}

macro_rules! migration {
    ($version:literal, $name:literal) => {
        Migration {
            version: $version,
            name: $name,
            sql: include_str!(concat!("../../sql/V", $version, "__", $name, ".sql")),
        }
    };
}

pub const MIGRATIONS: &[Migration] = &[
    migration!(1, "accounts"),
    migration!(2, "domains"),
    migration!(3, "mail_outbox"),
    migration!(4, "event_outbox"),
    migration!(5, "booking"),
    migration!(6, "booking_more"),
    migration!(7, "domain_recent_changes"),
];

const LOCK_KEY: i64 = 0x6875_625f_6d69_6772; // "hub_migr"

/// Applies what is missing; refuses to run when an applied migration's text has changed.
pub async fn migrate(client: &mut Client) -> anyhow::Result<Vec<i32>> {
    client
        .execute("SELECT pg_advisory_lock($1)", &[&LOCK_KEY])
        .await?;
    let outcome = apply_missing(client).await;
    client
        .execute("SELECT pg_advisory_unlock($1)", &[&LOCK_KEY])
        .await?;
    outcome
}

async fn apply_missing(client: &mut Client) -> anyhow::Result<Vec<i32>> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                version integer PRIMARY KEY,
                name text NOT NULL,
                checksum text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )",
        )
        .await
        .context("creating schema_migrations")?;
    let mut applied = Vec::new();
    for migration in MIGRATIONS {
        let checksum = hex::encode(Sha256::digest(migration.sql.as_bytes()));
        let existing = client
            .query_opt(
                "SELECT checksum FROM schema_migrations WHERE version = $1",
                &[&migration.version],
            )
            .await?;
        if let Some(row) = existing {
            let recorded: String = row.get(0);
            if recorded != checksum {
                bail!(
                    "migration V{}__{} was changed after it was applied",
                    migration.version,
                    migration.name
                );
            }
            continue;
        }
        let transaction = client.transaction().await?;
        transaction
            .batch_execute(migration.sql)
            .await
            .with_context(|| format!("applying V{}__{}", migration.version, migration.name))?;
        transaction
            .execute(
                "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                &[&migration.version, &migration.name, &checksum],
            )
            .await?;
        transaction.commit().await?;
        tracing::info!(
            version = migration.version,
            name = migration.name,
            "migration applied"
        );
        applied.push(migration.version);
    }
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_in_sql_is_listed_in_order() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/sql");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".sql"))
            .collect();
        files.sort_by_key(|name| name[1..name.find("__").unwrap()].parse::<i32>().unwrap());
        let listed: Vec<String> = MIGRATIONS
            .iter()
            .map(|m| format!("V{}__{}.sql", m.version, m.name))
            .collect();
        assert_eq!(files, listed);
        assert!(MIGRATIONS
            .windows(2)
            .all(|w| w[0].version + 1 == w[1].version));
    }
}
