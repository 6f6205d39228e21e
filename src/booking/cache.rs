//! The public catalogue reads, cached in Redis with `X-Cache: hit|miss`. Every catalogue write
//! bumps a generation number after it commits; keys carry the generation they were read under, so
//! a read after a write never finds the old value (old generations just expire, no key scan).

use actix_web::http::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use actix_web::HttpResponse;
use redis::AsyncCommands;
use serde_json::{json, Value};

use crate::error::AppResult;
use crate::state::AppState;

const X_CACHE: HeaderName = HeaderName::from_static("x-cache");

fn generation_key(state: &AppState) -> String {
    format!("{}catalog:generation", state.settings.redis.namespace)
}

/// The envelope `{success, message, data}` for the read named `key` (its path and query), from
/// the cache or from `load`.
pub async fn read<F>(state: &AppState, key: &str, message: &str, load: F) -> AppResult<HttpResponse>
where
    F: std::future::Future<Output = AppResult<Value>>,
{
    let mut redis = state.redis.clone();
    let generation: Result<Option<i64>, _> = redis.get(generation_key(state)).await;
    let cache_key = generation.as_ref().ok().map(|generation| {
        format!(
            "{}catalog:{}:{key}",
            state.settings.redis.namespace,
            generation.unwrap_or(0)
        )
    });
    if let Some(cache_key) = &cache_key {
        match redis.get::<_, Option<String>>(cache_key).await {
            Ok(Some(body)) => return Ok(respond(body, "hit")),
            Ok(None) => {}
            Err(error) => tracing::warn!(%error, "catalogue cache read"),
        }
    }
    let body = json!({ "success": true, "message": message, "data": load.await? }).to_string();
    if let Some(cache_key) = cache_key {
        let ttl = state.settings.cache.ttl.as_secs().max(1);
        if let Err(error) = redis.set_ex::<_, _, ()>(&cache_key, &body, ttl).await {
            tracing::warn!(%error, "catalogue cache write");
        }
    }
    Ok(respond(body, "miss"))
}

fn respond(body: String, cache: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, HeaderValue::from_static("application/json")))
        .insert_header((X_CACHE, HeaderValue::from_static(cache)))
        .body(body)
}

/// Makes every cached catalogue read stale; call after a catalogue write commits.
pub async fn invalidate(state: &AppState) {
    let mut redis = state.redis.clone();
    if let Err(error) = redis.incr::<_, _, i64>(generation_key(state), 1).await {
        tracing::error!(%error, "catalogue cache not invalidated; reads may be stale until it expires");
    }
}
