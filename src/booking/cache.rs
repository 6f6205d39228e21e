//! The public catalogue reads, cached in Redis with `X-Cache: hit|miss`. Keys carry the catalogue's
//! generation, which every catalogue write moves on in its own transaction (in PostgreSQL), so a
//! read after a write never finds the old value, even when Redis missed something; old
//! generations simply expire (no key scan).

use std::time::Duration;

use actix_web::http::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use actix_web::HttpResponse;
use deadpool_postgres::GenericClient;
use redis::AsyncCommands;
use serde::Serialize;

use crate::error::{AppError, AppResult};
use crate::http::envelope;
use crate::state::AppState;

const X_CACHE: HeaderName = HeaderName::from_static("x-cache");

/// Moves the catalogue's generation on; call in the transaction of a catalogue write.
pub async fn bump(client: &impl GenericClient) -> Result<(), tokio_postgres::Error> {
    client
        .execute(
            "UPDATE cache_generations SET generation = generation + 1 WHERE name = 'catalog'",
            &[],
        )
        .await?;
    Ok(())
}

/// What a loader read, and how long it may be served at most (besides `cache.ttl`).
pub struct Fresh<D> {
    pub data: D,
    pub for_at_most: Option<Duration>,
}

/// The envelope `{success, message, data}` for the read named `key` (its normalised
/// parameters), from the cache or from `load`.
pub async fn read<D: Serialize>(
    state: &AppState,
    key: &str,
    message: &str,
    load: impl std::future::Future<Output = AppResult<D>>,
) -> AppResult<HttpResponse> {
    read_fresh(state, key, message, async {
        Ok(Fresh {
            data: load.await?,
            for_at_most: None,
        })
    })
    .await
}

/// [`read`], for a loader that also says how long its answer stays true.
pub async fn read_fresh<D: Serialize>(
    state: &AppState,
    key: &str,
    message: &str,
    load: impl std::future::Future<Output = AppResult<Fresh<D>>>,
) -> AppResult<HttpResponse> {
    let generation: i64 = state
        .db
        .get()
        .await?
        .query_one(
            "SELECT generation FROM cache_generations WHERE name = 'catalog'",
            &[],
        )
        .await?
        .get(0);
    let cache_key = format!(
        "{}catalog:{generation}:{key}",
        state.settings.redis.namespace
    );
    let mut redis = state.redis.clone();
    match redis.get::<_, Option<String>>(&cache_key).await {
        Ok(Some(body)) => return Ok(respond(body, "hit")),
        Ok(None) => {}
        Err(error) => tracing::warn!(%error, "catalogue cache read"),
    }
    let fresh = load.await?;
    let body = envelope::ok_body(message, fresh.data).map_err(AppError::internal)?;
    let ttl = fresh
        .for_at_most
        .map_or(state.settings.cache.ttl, |most| {
            most.min(state.settings.cache.ttl)
        })
        .as_secs();
    if ttl > 0 {
        if let Err(error) = redis.set_ex::<_, _, ()>(&cache_key, &body, ttl).await {
            tracing::warn!(%error, "catalogue cache write");
        }
    }
    Ok(respond(body, "miss"))
}

/// An answer that was not cached (an admin's view), marked as such.
pub fn uncached(message: &str, data: impl Serialize) -> HttpResponse {
    let mut response = envelope::ok(message, data);
    response
        .headers_mut()
        .insert(X_CACHE, HeaderValue::from_static("miss"));
    response
}

fn respond(body: String, cache: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, HeaderValue::from_static("application/json")))
        .insert_header((X_CACHE, HeaderValue::from_static(cache)))
        .body(body)
}
