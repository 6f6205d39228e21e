//! `hub dev`'s first five minutes: on an empty database a demo owner (with a generated password),
//! a brand with a few dozen domains; at every start a checker key and a built-in demo checker that
//! reports statuses through the real checker routes, so an open dashboard flips rows live. Only
//! ever run by `hub dev` in development.

use std::time::Duration;

use anyhow::Context;
use deadpool_postgres::GenericClient;
use rand::seq::IndexedRandom;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::auth::secrets::{digest, random_token};
use crate::config::AuthSettings;

pub const OWNER_EMAIL: &str = "owner@example.com";
const DOMAINS: usize = 36;
const KEY_NAME: &str = "hub dev demo checker";

/// The demo owner's password, when this call created the owner.
pub struct DemoOwner {
    pub email: &'static str,
    pub password: String,
}

/// Creates the demo owner, brand and domains when the database has no user yet.
pub async fn seed_if_empty(
    client: &mut deadpool_postgres::Client,
    auth: &AuthSettings,
) -> anyhow::Result<Option<DemoOwner>> {
    let empty: bool = client
        .query_one("SELECT NOT EXISTS (SELECT 1 FROM users)", &[])
        .await?
        .get(0);
    if !empty {
        return Ok(None);
    }
    let password = random_token()[..20].to_owned();
    crate::users::create_verified(client, auth, OWNER_EMAIL, &password, "Demo Owner", "owner")
        .await
        .map_err(|error| anyhow::anyhow!("creating the demo owner: {}", error.message))?;
    let tx = client.transaction().await?;
    let brand: Uuid = tx
        .query_one(
            "INSERT INTO brands (name, code) VALUES ('Demo Brand', 'DEMO') RETURNING id",
            &[],
        )
        .await?
        .get(0);
    tx.execute(
        "INSERT INTO domains (domain, brand_id)
         SELECT 'demo-' || lpad(n::text, 2, '0') || '.example.com', $1 FROM generate_series(1, $2::int) n",
        &[&brand, &(DOMAINS as i32)],
    )
    .await?;
    tx.commit().await?;
    Ok(Some(DemoOwner {
        email: OWNER_EMAIL,
        password,
    }))
}

/// A fresh key for the demo checker (the previous run's is revoked); `None` without an owner to
/// issue it.
pub async fn checker_key(client: &impl GenericClient) -> anyhow::Result<Option<String>> {
    let Some(owner) = client
        .query_opt(
            "SELECT id FROM users WHERE role = 'owner' ORDER BY created_at LIMIT 1",
            &[],
        )
        .await?
        .map(|row| row.get::<_, Uuid>(0))
    else {
        return Ok(None);
    };
    client
        .execute(
            "UPDATE checker_keys SET revoked_at = now() WHERE name = $1 AND revoked_at IS NULL",
            &[&KEY_NAME],
        )
        .await?;
    let key = format!("hubck_{}", random_token());
    client
        .execute(
            "INSERT INTO checker_keys (name, key_hash, created_by) VALUES ($1, $2, $3)",
            &[&KEY_NAME, &digest(&key), &owner],
        )
        .await?;
    Ok(Some(key))
}

/// One round of the demo checker, as seed 001's checker does it: read `/api/urls`, report a
/// few domains as blocked or accessible. Answers how many it reported.
pub async fn check_round(http: &reqwest::Client, base: &str, key: &str) -> anyhow::Result<usize> {
    let urls: Vec<Value> = http
        .get(format!("{base}/api/urls"))
        .header("x-api-key", key)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let picks: Vec<(String, &str)> = {
        let mut rng = rand::rng();
        urls.choose_multiple(&mut rng, 3)
            .filter_map(|url| url["id"].as_str().map(str::to_owned))
            .map(|id| {
                (
                    id,
                    *["blocked", "accessible"]
                        .choose(&mut rng)
                        .unwrap_or(&"blocked"),
                )
            })
            .collect()
    };
    for (id, status) in &picks {
        http.post(format!("{base}/api/urls/update"))
            .header("x-api-key", key)
            .json(&json!({"id": id, "scanResult": {"status": status}}))
            .send()
            .await?
            .error_for_status()
            .context("reporting a status")?;
    }
    Ok(picks.len())
}

/// The demo checker: a round every few seconds against the local web process, for ever.
pub async fn run_checker(base: String, key: String) {
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap_or_default();
    loop {
        tokio::time::sleep(Duration::from_secs(5)).await;
        if let Err(error) = check_round(&http, &base, &key).await {
            tracing::debug!(%error, "demo checker round");
        }
    }
}
