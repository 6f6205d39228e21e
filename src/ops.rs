//! Operations: liveness, readiness and metrics.

use std::time::{Duration, Instant};

use actix_web::{get, web, HttpRequest, HttpResponse};
use serde_json::json;

use crate::auth::extractor::bearer;
use crate::auth::secrets::digest;
use crate::error::AppError;
use crate::state::AppState;

const CHECK_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a readiness answer is reused: a flood of `/ready` costs PostgreSQL and Redis one
/// check per second, not one per request.
const READY_FRESH_FOR: Duration = Duration::from_secs(1);

type Outcome = Result<(), String>;

/// The last readiness checks, shared by the process's HTTP workers.
#[derive(Default)]
pub struct Readiness {
    last: tokio::sync::Mutex<Option<(Instant, Outcome, Outcome)>>,
    /// Set when the process begins to stop: from then on it is not ready, whatever the checks say.
    stopping: std::sync::atomic::AtomicBool,
}

impl Readiness {
    /// Marks the process as stopping: `/ready` answers 503 from now on.
    pub fn stop(&self) {
        self.stopping
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    fn is_stopping(&self) -> bool {
        self.stopping.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The checks' outcomes, made again only when the last are stale; concurrent callers wait
    /// for one check rather than each making their own.
    async fn outcomes(&self, state: &AppState) -> (Outcome, Outcome) {
        let mut last = self.last.lock().await;
        if let Some((at, postgres, redis)) = last.as_ref() {
            if at.elapsed() < READY_FRESH_FOR {
                return (postgres.clone(), redis.clone());
            }
        }
        let (postgres, redis) = tokio::join!(check_postgres(state), check_redis(state));
        *last = Some((Instant::now(), postgres.clone(), redis.clone()));
        (postgres, redis)
    }
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(health).service(ready).service(metrics);
}

#[get("/health")]
async fn health() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

#[get("/ready")]
async fn ready(state: web::Data<AppState>, readiness: web::Data<Readiness>) -> HttpResponse {
    if readiness.is_stopping() {
        return HttpResponse::ServiceUnavailable().json(json!({
            "status": "stopping",
            "message": "Not ready: this instance is stopping",
        }));
    }
    let (postgres, redis) = readiness.outcomes(&state).await;
    let failing: Vec<&str> = [("postgres", &postgres), ("redis", &redis)]
        .into_iter()
        .filter(|(_, outcome)| outcome.is_err())
        .map(|(name, _)| name)
        .collect();
    let describe = |outcome: &Result<(), String>| match outcome {
        Ok(()) => "ok".to_owned(),
        Err(reason) => reason.clone(),
    };
    let checks = json!({"postgres": describe(&postgres), "redis": describe(&redis)});
    if failing.is_empty() {
        HttpResponse::Ok().json(json!({"status": "ok", "checks": checks}))
    } else {
        HttpResponse::ServiceUnavailable().json(json!({
            "status": "unavailable",
            "message": format!("Not ready: {} not answering", failing.join(" and ")),
            "failing": failing,
            "checks": checks,
        }))
    }
}

async fn check_postgres(state: &AppState) -> Result<(), String> {
    let check = async {
        let client = state.db.get().await.map_err(|error| error.to_string())?;
        client
            .simple_query("SELECT 1")
            .await
            .map(|_| ())
            .map_err(|error| error.to_string())
    };
    match tokio::time::timeout(CHECK_TIMEOUT, check).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => {
            tracing::warn!(%error, "readiness: postgres");
            Err("unavailable".into())
        }
        Err(_) => Err("timed out".into()),
    }
}

async fn check_redis(state: &AppState) -> Result<(), String> {
    let mut redis = state.redis.clone();
    let ping = redis::cmd("PING");
    match tokio::time::timeout(CHECK_TIMEOUT, ping.query_async::<String>(&mut redis)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(error)) => {
            tracing::warn!(%error, "readiness: redis");
            Err("unavailable".into())
        }
        Err(_) => Err("timed out".into()),
    }
}

/// With `metrics.token` set, the caller must present it as a bearer token.
fn metrics_allowed(req: &HttpRequest, state: &AppState) -> bool {
    let token = &state.settings.metrics.token;
    // Digests compare in the same time whatever the guess.
    token.is_empty() || bearer(req).is_some_and(|given| digest(given) == digest(token))
}

#[get("/metrics")]
async fn metrics(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    if !metrics_allowed(&req, &state) {
        return Err(AppError::unauthorized(
            "The metrics need `Authorization: Bearer <metrics.token>`",
        ));
    }
    let job_counts = match tokio::time::timeout(CHECK_TIMEOUT, state.queues.counts()).await {
        Ok(Ok(counts)) => counts,
        _ => Vec::new(),
    };
    let outbox = tokio::time::timeout(CHECK_TIMEOUT, outbox_backlog(&state))
        .await
        .ok()
        .flatten();
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(
            state
                .metrics
                .render(&state.realtime.stats, &job_counts, outbox),
        ))
}

/// Events committed and not yet relayed, and the age in seconds of the oldest.
async fn outbox_backlog(state: &AppState) -> Option<(i64, f64)> {
    let client = state.db.get().await.ok()?;
    let row = client
        .query_one(
            "SELECT count(*), COALESCE(extract(epoch FROM now() - min(created_at)), 0)::float8 \
             FROM event_outbox",
            &[],
        )
        .await
        .ok()?;
    Some((row.get(0), row.get(1)))
}
