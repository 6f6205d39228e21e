//! The checker's side: its keys, and the two routes of seed 001 (`GET /api/urls`,
//! `POST /api/urls/update`) in exactly the shapes the seed's checker reads and writes.

use std::future::Future;
use std::pin::Pin;

use actix_web::{get, post, web, FromRequest, HttpRequest, HttpResponse};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::Object;
use utoipa::ToSchema;
use uuid::Uuid;

use super::model::{text_choices, NawalaStatus};
use super::{nawala_updated, Nawala};
use crate::auth::extractor::bearer;
use crate::auth::secrets::digest;
use crate::error::{AppError, AppResult, FailureBody};
use crate::http::envelope::{self, Success};
use crate::state::AppState;

/// This module's operations in the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(list_urls, update_url))]
pub struct ApiDoc;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(list_urls).service(update_url);
}

/// A caller holding a live checker key.
pub struct Checker;

/// The caller of a seed route: a checker, or anyone when `checker.require_key` is off.
pub struct SeedChecker;

fn presented_key(req: &HttpRequest) -> Option<String> {
    let header = req
        .headers()
        .get("x-api-key")
        .and_then(|value| value.to_str().ok());
    header
        .or_else(|| bearer(req))
        .map(|key| key.trim().to_owned())
}

async fn check_key(state: &AppState, key: Option<String>) -> AppResult<()> {
    let key = key.ok_or_else(|| AppError::unauthorized("A checker key is required"))?;
    let client = state.db.get().await?;
    // last_used_at is written at most once a minute, not on every request of a scan.
    let used = client
        .query_opt(
            "WITH key AS (SELECT id FROM checker_keys WHERE key_hash = $1 AND revoked_at IS NULL), \
             touched AS (UPDATE checker_keys SET last_used_at = now() WHERE id IN (SELECT id FROM key) \
             AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')) \
             SELECT id FROM key",
            &[&digest(&key)],
        )
        .await?;
    used.map(|_| ())
        .ok_or_else(|| AppError::unauthorized("Unknown or revoked checker key"))
}

type Checked<T> = Pin<Box<dyn Future<Output = AppResult<T>>>>;

fn extract<T: 'static>(req: &HttpRequest, open_when_allowed: bool, value: T) -> Checked<T> {
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let key = presented_key(req);
    Box::pin(async move {
        let state = state.ok_or_else(|| AppError::internal(anyhow::anyhow!("no app state")))?;
        if state.settings.checker.require_key || !open_when_allowed {
            check_key(&state, key).await?;
        }
        Ok(value)
    })
}

impl FromRequest for Checker {
    type Error = AppError;
    type Future = Checked<Self>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        extract(req, false, Checker)
    }
}

impl FromRequest for SeedChecker {
    type Error = AppError;
    type Future = Checked<Self>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        extract(req, true, SeedChecker)
    }
}

/// One entry of `GET /api/urls`, named as seed 001's checker reads it.
#[derive(Serialize, ToSchema)]
#[schema(as = CheckerUrl)]
struct Url {
    /// The domain's id, to report its status with.
    id: Uuid,
    /// The brand's name.
    brand: String,
    /// The domain name.
    #[serde(rename = "Domain")]
    domain: String,
    /// The domain's note.
    #[schema(required = true)]
    noto: Option<String>,
}

/// Every domain, oldest first, as seed 001's checker reads it, outside the envelope (checkers).
///
/// A checker key is required unless `checker.require_key` is off.
#[utoipa::path(
    responses(
        (status = 200, body = Vec<Url>, description = "Every domain, as a bare array"),
        (status = 401, body = FailureBody, description = "No live checker key (while one is required)"),
    ),
    security(("checkerKey" = []), ())
)]
#[get("/api/urls")]
async fn list_urls(state: web::Data<AppState>, _: SeedChecker) -> AppResult<HttpResponse> {
    let client = state.db.get().await?;
    let rows = client
        .query(
            "SELECT d.id, b.name, d.domain, d.note FROM domains d JOIN brands b ON b.id = d.brand_id \
             ORDER BY d.created_at, d.id",
            &[],
        )
        .await?;
    let urls: Vec<Url> = rows
        .iter()
        .map(|row| Url {
            id: row.get(0),
            brand: row.get(1),
            domain: row.get(2),
            noto: row.get(3),
        })
        .collect();
    Ok(HttpResponse::Ok().json(urls))
}

fn verdict_schema() -> Object {
    text_choices(
        "`blocked` (on the Nawala list) or `accessible`",
        &["blocked", "accessible"],
    )
}

/// What the checker found.
#[derive(Deserialize, ToSchema)]
#[schema(as = CheckerScanResult)]
struct ScanResult {
    #[schema(schema_with = verdict_schema, required = true)]
    status: Option<String>,
}

/// One domain's status, as seed 001's checker reports it.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = CheckerUrlUpdate)]
struct UpdateBody {
    /// The domain's id from `GET /api/urls`.
    #[schema(value_type = Uuid)]
    id: Option<String>,
    #[schema(value_type = ScanResult)]
    scan_result: Option<ScanResult>,
}

/// `data` of a reported status: the domain's status as it now stands.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct StatusUpdated {
    domain_id: Uuid,
    nawala: Nawala,
}

/// Records one domain's status as seed 001's checker found it (checkers).
///
/// A checker key is required unless `checker.require_key` is off. The result is kept in the
/// domain's history.
#[utoipa::path(
    request_body = UpdateBody,
    responses(
        (status = 200, body = Success<StatusUpdated>, description = "The domain's new status"),
        (status = 401, body = FailureBody, description = "No live checker key (while one is required)"),
        (status = 404, body = FailureBody, description = "No domain has this id"),
    ),
    security(("checkerKey" = []), ())
)]
#[post("/api/urls/update")]
async fn update_url(
    state: web::Data<AppState>,
    _: SeedChecker,
    body: web::Json<UpdateBody>,
) -> AppResult<HttpResponse> {
    let reported = body
        .scan_result
        .as_ref()
        .and_then(|result| result.status.as_deref());
    let status = match reported {
        Some(text @ ("blocked" | "accessible")) => NawalaStatus::parse(text),
        _ => None,
    }
    .ok_or_else(|| {
        AppError::invalid(
            "scanResult.status",
            "status is \"blocked\" or \"accessible\"",
        )
    })?;
    let id = body
        .id
        .as_deref()
        .ok_or_else(|| AppError::invalid("id", "id is required"))?;
    let unknown = || AppError::not_found("No domain has this id");
    let id = Uuid::parse_str(id).map_err(|_| unknown())?;
    let checked_at = Utc::now();
    let blocked_id = format!("scan_{}", checked_at.timestamp_millis());
    let reported = reported.unwrap_or_default();
    let mut client = state.db.get().await?;
    let tx = client.transaction().await?;
    let row = tx
        .query_opt(
            "WITH old AS (SELECT id, nawala_status FROM domains WHERE id = $1 FOR UPDATE), \
             updated AS (UPDATE domains d SET nawala_status = $2, nawala_blocked_id = $3, \
               last_checked = $4, updated_at = clock_timestamp(), \
               status_since = CASE WHEN old.nawala_status IS DISTINCT FROM $2 THEN $4 ELSE d.status_since END \
               FROM old WHERE d.id = old.id RETURNING d.*), \
             scan AS (INSERT INTO domain_scans (domain_id, status, checked_at) SELECT id, $5, $4 FROM updated) \
             SELECT * FROM updated",
            &[&id, &status.as_str(), &blocked_id, &checked_at, &reported],
        )
        .await?
        .ok_or_else(unknown)?;
    let nawala = Nawala::from_row(&row);
    crate::events::record(&tx, &nawala_updated(&row)).await?;
    tx.commit().await?;
    Ok(envelope::ok(
        "Status updated",
        StatusUpdated {
            domain_id: id,
            nawala,
        },
    ))
}
