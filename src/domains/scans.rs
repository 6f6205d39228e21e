//! `POST /api/v1/scans`: a checker's batch of results, stored and queued on `scan-ingest`;
//! `GET /api/v1/scans/{batchId}`: how far the worker got with it.

use actix_web::{get, post, web, Either, HttpResponse};
use chrono::{DateTime, Utc};
use hub_jobs::IngestScan;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio_postgres::error::SqlState;
use uuid::Uuid;

use super::checker::Checker;
use super::names::DomainName;
use crate::auth::SignedIn;
use crate::error::{AppError, AppResult};
use crate::http::envelope;
use crate::state::AppState;

/// This module's operations in the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi()]
pub struct ApiDoc;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(submit_batch).service(batch_status);
}

pub const MAX_RESULTS: usize = 10_000;
/// A batch with many bad results lists this many of them.
const MAX_LISTED_ERRORS: usize = 20;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResultBody {
    id: Option<String>,
    domain: Option<String>,
    status: Option<String>,
    checked_at: Option<String>,
    detail: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BatchBody {
    scan_id: Option<String>,
    results: Option<Vec<ResultBody>>,
}

/// A result as the worker reads it back from `scan_batches.results`.
fn stored_result(result: &ResultBody, now: DateTime<Utc>) -> Result<Value, (&'static str, String)> {
    let status = match result.status.as_deref() {
        Some(status @ ("blocked" | "accessible" | "error")) => status,
        _ => {
            return Err((
                "status",
                "status is \"blocked\", \"accessible\" or \"error\"".into(),
            ))
        }
    };
    let (domain_id, domain) = match (&result.id, &result.domain) {
        (Some(id), _) => {
            let id = Uuid::parse_str(id).map_err(|_| ("id", "id is not a domain id".to_owned()))?;
            (Some(id), None)
        }
        (None, Some(name)) => (
            None,
            Some(
                DomainName::parse(name)
                    .map_err(|message| ("domain", message))?
                    .into_string(),
            ),
        ),
        (None, None) => return Err(("id", "each result names its domain by id or domain".into())),
    };
    let checked_at = match &result.checked_at {
        Some(text) => DateTime::parse_from_rfc3339(text)
            .map_err(|_| ("checkedAt", "checkedAt is an RFC 3339 time".to_owned()))?
            .with_timezone(&Utc),
        None => now,
    };
    // A time in the future would pin `lastChecked` and hide every later result.
    if checked_at > now + chrono::Duration::minutes(5) {
        return Err(("checkedAt", "checkedAt is in the future".into()));
    }
    Ok(json!({
        "domainId": domain_id,
        "domain": domain,
        "status": status,
        "checkedAt": checked_at,
        "detail": result.detail,
    }))
}

fn parse_batch(body: &BatchBody) -> AppResult<(Option<String>, Vec<Value>)> {
    let scan_id = body.scan_id.as_deref().map(str::trim);
    if scan_id.is_some_and(|id| id.is_empty() || id.len() > 200) {
        return Err(AppError::invalid(
            "scanId",
            "scanId must be 1 to 200 characters",
        ));
    }
    let results = body.results.as_deref().unwrap_or_default();
    if results.is_empty() || results.len() > MAX_RESULTS {
        return Err(AppError::invalid(
            "results",
            format!("results holds 1 to {MAX_RESULTS} results"),
        ));
    }
    let now = Utc::now();
    let mut stored = Vec::with_capacity(results.len());
    let mut error = AppError::bad_request("Some results are invalid; nothing was stored");
    for (index, result) in results.iter().enumerate() {
        match stored_result(result, now) {
            Ok(value) => stored.push(value),
            Err((field, message)) if error.errors.len() < MAX_LISTED_ERRORS => {
                error = error.with_field(&format!("results[{index}].{field}"), message);
            }
            Err(_) => {}
        }
    }
    if !error.errors.is_empty() {
        return Err(error);
    }
    Ok((scan_id.map(str::to_owned), stored))
}

#[post("/api/v1/scans")]
async fn submit_batch(
    state: web::Data<AppState>,
    _: Checker,
    body: web::Json<BatchBody>,
) -> AppResult<HttpResponse> {
    let (scan_id, results) = parse_batch(&body)?;
    let total = results.len() as i32;
    let client = state.db.get().await?;
    let inserted = client
        .query_one(
            "INSERT INTO scan_batches (scan_id, results, total) VALUES ($1, $2, $3) RETURNING id",
            &[&scan_id, &Value::Array(results), &total],
        )
        .await;
    let batch_id: Uuid = match inserted {
        Ok(row) => row.get(0),
        Err(error) if error.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
            let existing = client
                .query_opt(
                    "SELECT id FROM scan_batches WHERE scan_id = $1",
                    &[&scan_id],
                )
                .await?;
            let batch_id: Option<Uuid> = existing.map(|row| row.get(0));
            return Err(AppError::conflict("This scan was already submitted")
                .with_field("scanId", "This scan was already submitted")
                .with_data(json!({ "batchId": batch_id })));
        }
        Err(error) => return Err(error.into()),
    };
    // The row is the truth: if Redis is away, the worker's sweep queues the batch later.
    if let Err(error) = state.queues.ingest_scan(IngestScan { batch_id }, 0).await {
        tracing::warn!(%error, %batch_id, "queueing a scan batch; the sweep will");
    }
    Ok(envelope::accepted(
        "Scan batch queued",
        json!({ "batchId": batch_id, "accepted": total }),
    ))
}

#[get("/api/v1/scans/{batch_id}")]
async fn batch_status(
    state: web::Data<AppState>,
    _: Either<Checker, SignedIn>,
    batch_id: web::Path<Uuid>,
) -> AppResult<HttpResponse> {
    let client = state.db.get().await?;
    let row = client
        .query_opt(
            "SELECT id, scan_id, state, total, applied, changed, unknown, errors, failure, \
             created_at, finished_at FROM scan_batches WHERE id = $1",
            &[&*batch_id],
        )
        .await?
        .ok_or_else(|| AppError::not_found("No such scan batch"))?;
    let data = json!({
        "batchId": row.get::<_, Uuid>("id"),
        "scanId": row.get::<_, Option<String>>("scan_id"),
        "state": row.get::<_, String>("state"),
        "total": row.get::<_, i32>("total"),
        "applied": row.get::<_, i32>("applied"),
        "changed": row.get::<_, i32>("changed"),
        "unknown": row.get::<_, i32>("unknown"),
        "errors": row.get::<_, i32>("errors"),
        "failure": row.get::<_, Option<String>>("failure"),
        "createdAt": row.get::<_, DateTime<Utc>>("created_at"),
        "finishedAt": row.get::<_, Option<DateTime<Utc>>>("finished_at"),
    });
    Ok(envelope::ok("Scan batch", data))
}
