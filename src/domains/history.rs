//! A domain's scan history: every result the checker reported for it.

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use serde::Serialize;
use serde_json::Value;
use utoipa::openapi::schema::Object;
use utoipa::ToSchema;
use uuid::Uuid;

use super::model::text_choices;
use crate::error::AppResult;
use crate::http::pagination::Page;

fn status_schema() -> Object {
    text_choices(
        "`blocked`, `accessible` or `error`, as the checker reported it",
        &["blocked", "accessible", "error"],
    )
}

/// One result the checker reported for a domain.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScanResult {
    pub id: i64,
    /// `blocked`, `accessible` or `error`, as the checker reported it.
    #[schema(schema_with = status_schema)]
    pub status: String,
    pub checked_at: DateTime<Utc>,
    /// What the checker sent along with the result, as it sent it.
    #[schema(value_type = Option<Value>, required = true)]
    pub detail: Option<Value>,
    /// The scan batch that brought it; `null` for a result sent to `POST /api/urls/update`.
    #[schema(required = true)]
    pub batch_id: Option<Uuid>,
}

/// Newest first.
pub async fn page(
    client: &impl GenericClient,
    domain_id: Uuid,
    page: Page,
) -> AppResult<(Vec<ScanResult>, i64)> {
    let rows = client
        .query(
            "SELECT id, status, checked_at, detail, batch_id FROM domain_scans WHERE domain_id = $1 \
             ORDER BY checked_at DESC, id DESC LIMIT $2 OFFSET $3",
            &[&domain_id, &page.limit, &page.offset()],
        )
        .await?;
    let total: i64 = client
        .query_one(
            "SELECT count(*) FROM domain_scans WHERE domain_id = $1",
            &[&domain_id],
        )
        .await?
        .get(0);
    let items = rows
        .iter()
        .map(|row| ScanResult {
            id: row.get("id"),
            status: row.get("status"),
            checked_at: row.get("checked_at"),
            detail: row.get("detail"),
            batch_id: row.get("batch_id"),
        })
        .collect();
    Ok((items, total))
}
