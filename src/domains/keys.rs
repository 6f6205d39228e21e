//! `/api/v1/checker-keys`: admins issue and revoke the keys checkers authenticate with. A key is
//! shown once, when it is made; only its SHA-256 digest is stored.

use actix_web::{delete, get, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio_postgres::Row;
use uuid::Uuid;

use crate::auth::secrets::{digest, random_token};
use crate::auth::Admin;
use crate::error::{AppError, AppResult};
use crate::http::envelope;
use crate::http::pagination::{Page, PageQuery, Paginated};
use crate::state::AppState;

/// This module's operations in the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi()]
pub struct ApiDoc;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(create_key)
        .service(list_keys)
        .service(revoke_key);
}

/// Marks a string as a checker key, so a leaked one is recognisable.
const KEY_PREFIX: &str = "hubck_";

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CheckerKey {
    id: Uuid,
    name: String,
    created_at: DateTime<Utc>,
    last_used_at: Option<DateTime<Utc>>,
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

#[derive(Deserialize)]
struct CreateBody {
    name: Option<String>,
}

#[post("/api/v1/checker-keys")]
async fn create_key(
    state: web::Data<AppState>,
    Admin(caller): Admin,
    body: web::Json<CreateBody>,
) -> AppResult<HttpResponse> {
    let name = body.name.as_deref().map(str::trim).unwrap_or_default();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(AppError::invalid(
            "name",
            "name must be 1 to 100 characters",
        ));
    }
    let key = format!("{KEY_PREFIX}{}", random_token());
    let client = state.db.get().await?;
    let row = client
        .query_one(
            "INSERT INTO checker_keys (name, key_hash, created_by) VALUES ($1, $2, $3) \
             RETURNING id, name, created_at",
            &[&name, &digest(&key), &caller.id],
        )
        .await?;
    let id: Uuid = row.get("id");
    let created_at: DateTime<Utc> = row.get("created_at");
    Ok(envelope::created(
        "Checker key created; it is shown only this once",
        json!({ "id": id, "name": name, "key": key, "createdAt": created_at }),
    ))
}

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
        json!({ "key": CheckerKey::from_row(&row) }),
    ))
}
