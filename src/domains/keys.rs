//! `/api/v1/checker-keys`: admins issue and revoke the keys checkers authenticate with. A key is
//! shown once, when it is made; only its SHA-256 digest is stored.

use actix_web::{delete, get, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio_postgres::Row;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::secrets::{digest, random_token};
use crate::auth::Admin;
use crate::error::{AppError, AppResult, FailureBody};
use crate::http::envelope::{self, Success};
use crate::http::pagination::{Page, PageQuery, Paginated};
use crate::state::AppState;

/// This module's operations in the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(create_key, list_keys, revoke_key))]
pub struct ApiDoc;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(create_key)
        .service(list_keys)
        .service(revoke_key);
}

/// Marks a string as a checker key, so a leaked one is recognisable.
const KEY_PREFIX: &str = "hubck_";

/// A checker key as listed: never the key itself.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct CheckerKey {
    id: Uuid,
    name: String,
    created_at: DateTime<Utc>,
    /// Updated at most once a minute.
    #[schema(required = true)]
    last_used_at: Option<DateTime<Utc>>,
    /// `null` while the key works.
    #[schema(required = true)]
    revoked_at: Option<DateTime<Utc>>,
}

impl CheckerKey {
    fn from_row(row: &Row) -> Self {
        CheckerKey {
            id: row.get("id"),
            name: row.get("name"),
            created_at: row.get("created_at"),
            last_used_at: row.get("last_used_at"),
            revoked_at: row.get("revoked_at"),
        }
    }
}

/// A checker key to issue.
#[derive(Deserialize, ToSchema)]
struct NewCheckerKey {
    /// What the key is for: 1 to 100 characters, not only spaces.
    #[schema(value_type = String, min_length = 1, max_length = 100, pattern = r"\S")]
    name: Option<String>,
}

/// `data` of a new checker key: the only answer that holds the key.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct IssuedCheckerKey {
    id: Uuid,
    name: String,
    /// `hubck_…`: send it in `X-Api-Key`. It is not stored, and not shown again.
    key: String,
    created_at: DateTime<Utc>,
}

/// `data` of an answer about one checker key.
#[derive(Serialize, ToSchema)]
struct OneCheckerKey {
    key: CheckerKey,
}

/// Issues a checker key, shown only in this answer (admins).
#[utoipa::path(
    request_body = NewCheckerKey,
    responses(
        (status = 201, body = Success<IssuedCheckerKey>, description = "The key, shown this once"),
        (status = 403, body = FailureBody, description = "Not an admin"),
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/checker-keys")]
async fn create_key(
    state: web::Data<AppState>,
    Admin(caller): Admin,
    body: web::Json<NewCheckerKey>,
) -> AppResult<HttpResponse> {
    let name =
        crate::http::validation::text("name", body.name.as_deref().unwrap_or_default(), 100)?;
    let key = format!("{KEY_PREFIX}{}", random_token());
    let client = state.db.get().await?;
    let row = client
        .query_one(
            "INSERT INTO checker_keys (name, key_hash, created_by) VALUES ($1, $2, $3) \
             RETURNING id, name, created_at",
            &[&name, &digest(&key), &caller.id],
        )
        .await?;
    Ok(envelope::created(
        "Checker key created; it is shown only this once",
        IssuedCheckerKey {
            id: row.get("id"),
            name: name.to_owned(),
            key,
            created_at: row.get("created_at"),
        },
    ))
}

/// Checker keys, newest first, revoked ones included (admins).
#[utoipa::path(
    params(PageQuery),
    responses(
        (status = 200, body = Success<Paginated<CheckerKey>>, description = "One page of keys"),
        (status = 403, body = FailureBody, description = "Not an admin"),
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/checker-keys")]
async fn list_keys(
    state: web::Data<AppState>,
    _: Admin,
    query: web::Query<PageQuery>,
) -> AppResult<HttpResponse> {
    let page = Page::parse(&query)?;
    let client = state.db.get().await?;
    let rows = client
        .query(
            "SELECT * FROM checker_keys ORDER BY created_at DESC, id LIMIT $1 OFFSET $2",
            &[&page.limit, &page.offset()],
        )
        .await?;
    let total: i64 = client
        .query_one("SELECT count(*) FROM checker_keys", &[])
        .await?
        .get(0);
    let keys: Vec<CheckerKey> = rows.iter().map(CheckerKey::from_row).collect();
    Ok(envelope::ok(
        "Checker keys",
        Paginated::new(keys, page, total),
    ))
}

/// Revokes a checker key at once; revoking it again changes nothing (admins).
#[utoipa::path(
    responses(
        (status = 200, body = Success<OneCheckerKey>, description = "The key, revoked"),
        (status = 403, body = FailureBody, description = "Not an admin"),
    ),
    security(("bearer" = []))
)]
#[delete("/api/v1/checker-keys/{id}")]
async fn revoke_key(
    state: web::Data<AppState>,
    _: Admin,
    id: web::Path<Uuid>,
) -> AppResult<HttpResponse> {
    let client = state.db.get().await?;
    let row = client
        .query_opt(
            "UPDATE checker_keys SET revoked_at = COALESCE(revoked_at, now()) WHERE id = $1 RETURNING *",
            &[&*id],
        )
        .await?
        .ok_or_else(|| AppError::not_found("No such checker key"))?;
    Ok(envelope::ok(
        "Checker key revoked",
        OneCheckerKey {
            key: CheckerKey::from_row(&row),
        },
    ))
}
