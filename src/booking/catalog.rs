//! Categories: `GET /api/v1/categories` (public, cached) and the admin's changes.

use actix_web::{delete, get, post, put, web, HttpResponse};
use deadpool_postgres::GenericClient;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio_postgres::Row;
use uuid::Uuid;

use super::{cache, catalog_changed, input};
use crate::auth::Admin;
use crate::error::{AppError, AppResult};
use crate::http::envelope;
use crate::state::AppState;

/// This module's operations in the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi()]
pub struct ApiDoc;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(list_categories)
        .service(create_category)
        .service(update_category)
        .service(delete_category);
}

const COLUMNS: &str = "id, name, display_order, created_at, updated_at";

fn category(row: &Row) -> Value {
    json!({
        "id": row.get::<_, Uuid>("id"),
        "name": row.get::<_, String>("name"),
        "displayOrder": row.get::<_, i32>("display_order"),
        "createdAt": row.get::<_, chrono::DateTime<chrono::Utc>>("created_at"),
        "updatedAt": row.get::<_, chrono::DateTime<chrono::Utc>>("updated_at"),
    })
}

#[get("/api/v1/categories")]
async fn list_categories(state: web::Data<AppState>) -> AppResult<HttpResponse> {
    cache::read(&state, "categories", "Categories", async {
        let client = state.db.get().await?;
        let rows = client
            .query(
                &format!("SELECT {COLUMNS} FROM categories ORDER BY display_order, name"),
                &[],
            )
            .await?;
        Ok(json!({ "items": rows.iter().map(category).collect::<Vec<_>>() }))
    })
    .await
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CategoryBody {
    name: Option<String>,
    display_order: Option<i32>,
}

#[post("/api/v1/categories")]
async fn create_category(
    state: web::Data<AppState>,
    _: Admin,
    body: web::Json<CategoryBody>,
) -> AppResult<HttpResponse> {
    let name = input::text("name", body.name.as_deref().unwrap_or(""), 100)?;
    let order = body.display_order.unwrap_or(0);
    let mut client = state.db.get().await?;
    let tx = client.transaction().await?;
    let row = tx
        .query_one(
            &format!(
                "INSERT INTO categories (name, display_order) VALUES ($1, $2) RETURNING {COLUMNS}"
            ),
            &[&name, &order],
        )
        .await?;
    catalog_changed(&tx, "category", row.get("id"), "created").await?;
    tx.commit().await?;
    Ok(envelope::created(
        "Category created",
        json!({ "category": category(&row) }),
    ))
}

#[put("/api/v1/categories/{id}")]
async fn update_category(
    state: web::Data<AppState>,
    _: Admin,
    id: web::Path<Uuid>,
    body: web::Json<CategoryBody>,
) -> AppResult<HttpResponse> {
    let id = id.into_inner();
    let name = match body.name.as_deref() {
        Some(name) => Some(input::text("name", name, 100)?),
        None => None,
    };
    let order = body.display_order;
    let mut client = state.db.get().await?;
    let tx = client.transaction().await?;
    let row = tx
        .query_opt(
            &format!(
                "UPDATE categories SET name = COALESCE($2, name),
                     display_order = COALESCE($3, display_order), updated_at = clock_timestamp()
                 WHERE id = $1 RETURNING {COLUMNS}"
            ),
            &[&id, &name, &order],
        )
        .await?
        .ok_or_else(|| input::not_found("category"))?;
    catalog_changed(&tx, "category", id, "updated").await?;
    tx.commit().await?;
    Ok(envelope::ok(
        "Category updated",
        json!({ "category": category(&row) }),
    ))
}

#[delete("/api/v1/categories/{id}")]
async fn delete_category(
    state: web::Data<AppState>,
    _: Admin,
    id: web::Path<Uuid>,
) -> AppResult<HttpResponse> {
    let id = id.into_inner();
    let mut client = state.db.get().await?;
    let tx = client.transaction().await?;
    tx.query_opt("SELECT 1 FROM categories WHERE id = $1 FOR UPDATE", &[&id])
        .await?
        .ok_or_else(|| input::not_found("category"))?;
    let used: bool = tx
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM services WHERE category_id = $1)",
            &[&id],
        )
        .await?
        .get(0);
    if used {
        return Err(AppError::conflict(
            "This category still has services; move or delete them first",
        ));
    }
    tx.execute("DELETE FROM categories WHERE id = $1", &[&id])
        .await?;
    catalog_changed(&tx, "category", id, "deleted").await?;
    tx.commit().await?;
    Ok(envelope::ok("Category deleted", json!({ "id": id })))
}

/// Whether the category exists (for a service's `categoryId`).
pub async fn exists(client: &impl GenericClient, id: Uuid) -> AppResult<bool> {
    Ok(client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM categories WHERE id = $1)",
            &[&id],
        )
        .await?
        .get(0))
}
