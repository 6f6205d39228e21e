//! `POST /api/v1/scans`: a checker's batch of results, stored and queued on `scan-ingest`;
//! `GET /api/v1/scans/{batchId}`: how far the worker got with it.

use actix_web::{get, post, web, Either, HttpResponse};
use chrono::{DateTime, Utc};
use hub_jobs::IngestScan;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio_postgres::error::SqlState;
use utoipa::openapi::schema::{
    AllOfBuilder, AnyOfBuilder, Array, ArrayBuilder, Object, ObjectBuilder, Type,
};
use utoipa::openapi::Ref;
use utoipa::ToSchema;
use uuid::Uuid;

use super::checker::Checker;
use super::model::text_choices;
use super::names::{self, DomainName};
use crate::auth::SignedIn;
use crate::error::{AppError, AppResult, FailureBody};
use crate::http::envelope::{self, Success};
use crate::state::AppState;

/// This module's operations in the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(submit_batch, batch_status), components(schemas(ResultBody)))]
pub struct ApiDoc;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(submit_batch).service(batch_status);
}

pub const MAX_RESULTS: usize = 10_000;
/// A batch with many bad results lists this many of them.
const MAX_LISTED_ERRORS: usize = 20;

fn result_status_schema() -> Object {
    text_choices(
        "`blocked` (on the Nawala list), `accessible`, or `error` (the check failed: kept in \
         the history, the domain's status unchanged)",
        &["blocked", "accessible", "error"],
    )
}

/// One domain's result: the domain named by `id`, or else by `domain`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = ScanBatchResult)]
struct ResultBody {
    /// The domain's id (`id` or `domain` is required).
    #[schema(value_type = Option<Uuid>)]
    id: Option<String>,
    /// The domain's name, when `id` is not sent; a name that is not registered is counted as
    /// `unknown`.
    #[schema(schema_with = names::nullable_schema)]
    domain: Option<String>,
    #[schema(schema_with = result_status_schema, required = true)]
    status: Option<String>,
    /// When it was checked (RFC 3339), at most 5 minutes ahead of the hub's clock; now when left
    /// out. A result older than the domain's last check goes only to its history.
    #[schema(value_type = Option<DateTime<Utc>>)]
    checked_at: Option<String>,
    /// Anything the checker wants kept with the result, in the domain's history.
    #[schema(value_type = Option<Value>)]
    detail: Option<Value>,
}

/// An object whose `field` is a string.
fn with_text(field: &str) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .property(field, ObjectBuilder::new().schema_type(Type::String))
        .required(field)
        .build()
}

/// `results`: each a [`ResultBody`] that names its domain by `id` or by `domain`.
fn results_schema() -> Array {
    let result = AllOfBuilder::new()
        .item(Ref::from_schema_name("ScanBatchResult"))
        .item(
            AnyOfBuilder::new()
                .item(with_text("id"))
                .item(with_text("domain")),
        );
    ArrayBuilder::new()
        .items(result)
        .description(Some(
            "1 to 10,000 results, each naming its domain by `id` or `domain`; if one is \
             invalid, none is stored",
        ))
        .min_items(Some(1))
        .max_items(Some(MAX_RESULTS))
        .build()
}

/// A checker's results, applied in the background.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = ScanBatch)]
struct BatchBody {
    /// The checker's own id for the scan (1 to 200 bytes): a batch with an id that was submitted
    /// before is refused (409), so a retry does not apply it twice.
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    scan_id: Option<String>,
    #[schema(schema_with = results_schema, required = true)]
    results: Option<Vec<ResultBody>>,
}

/// `data` of a queued batch.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct BatchQueued {
    /// Follow it at `GET /api/v1/scans/{batchId}`.
    batch_id: Uuid,
    /// How many results it holds.
    accepted: i32,
}

fn batch_state_schema() -> Object {
    text_choices(
        "`queued`, `processing`, `done`, or `failed` (given up after 5 attempts)",
        &["queued", "processing", "done", "failed"],
    )
}

/// `data` of a batch's progress; the counts are filled in when it is `done`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct BatchStatus {
    batch_id: Uuid,
    /// The checker's id for the scan.
    #[schema(required = true)]
    scan_id: Option<String>,
    #[schema(schema_with = batch_state_schema)]
    state: String,
    /// Results in the batch.
    total: i32,
    /// Results that named a registered domain.
    applied: i32,
    /// Domains whose status changed.
    changed: i32,
    /// Results that named no registered domain.
    unknown: i32,
    /// Results with status `error`.
    errors: i32,
    /// Why applying it failed, while it is retried or once it is `failed`.
    #[schema(required = true)]
    failure: Option<String>,
    created_at: DateTime<Utc>,
    #[schema(required = true)]
    finished_at: Option<DateTime<Utc>>,
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
    let scan_id = body
        .scan_id
        .as_deref()
        .map(|id| crate::http::validation::text("scanId", id, 200))
        .transpose()?;
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
    Ok((scan_id, stored))
}

/// Submits a checker's batch of results, applied in the background (checkers).
#[utoipa::path(
    request_body = BatchBody,
    responses(
        (status = 202, body = Success<BatchQueued>, description = "The batch is stored and queued"),
        (
            status = 409,
            body = FailureBody,
            description = "A batch with this `scanId` was submitted already: `data.batchId` is its id"
        ),
    ),
    security(("checkerKey" = []))
)]
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
        BatchQueued {
            batch_id,
            accepted: total,
        },
    ))
}

/// How far the worker got with a scan batch (checkers, and anyone signed in).
#[utoipa::path(
    params(("batch_id" = Uuid, Path, description = "The batch's id, from `POST /api/v1/scans`")),
    responses((status = 200, body = Success<BatchStatus>, description = "The batch's state and counts")),
    security(("checkerKey" = []), ("bearer" = []))
)]
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
    let data = BatchStatus {
        batch_id: row.get("id"),
        scan_id: row.get("scan_id"),
        state: row.get("state"),
        total: row.get("total"),
        applied: row.get("applied"),
        changed: row.get("changed"),
        unknown: row.get("unknown"),
        errors: row.get("errors"),
        failure: row.get("failure"),
        created_at: row.get("created_at"),
        finished_at: row.get("finished_at"),
    };
    Ok(envelope::ok("Scan batch", data))
}
