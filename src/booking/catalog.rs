//! Categories: `GET /api/v1/categories` (public, cached) and the admin's changes.

use actix_web::{delete, get, post, put, web, HttpResponse};
use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use serde::{Deserialize, Serialize};
use tokio_postgres::Row;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{cache, catalog_changed, input};
use crate::auth::Admin;
use crate::error::{AppError, AppResult, FailureBody};
use crate::http::envelope::{self, Deleted, Success};
use crate::state::AppState;

/// This module's operations in the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(list_categories, create_category, update_category, delete_category))]
pub struct ApiDoc;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(list_categories)
        .service(create_category)
        .service(update_category)
        .service(delete_category);
}

const COLUMNS: &str = "id, name, display_order, created_at, updated_at";

/// A category of services.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct Category {
    id: Uuid,
    name: String,
    /// Categories are listed by this, then by name.
    display_order: i32,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

fn category(row: &Row) -> Category {
    Category {
        id: row.get("id"),
        name: row.get("name"),
        display_order: row.get("display_order"),
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
    }
}

/// `data` of the list of categories: all of them, in order.
#[derive(Serialize, ToSchema)]
struct CategoryList {
    items: Vec<Category>,
}

/// `data` of an answer about one category.
#[derive(Serialize, ToSchema)]
struct OneCategory {
    category: Category,
}

/// Lists every category in display order (public, cached: `X-Cache: hit|miss`).
#[utoipa::path(responses((status = 200, body = Success<CategoryList>)))]
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
        let items = rows.iter().map(category).collect();
        Ok(CategoryList { items })
    })
    .await
}

/// A category to create (`name` required) or the fields to change.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct CategoryBody {
    /// 1 to 100 characters, not blank; unique.
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    name: Option<String>,
    /// 0 when created without it.
    #[schema(minimum = -2147483648, maximum = 2147483647)]
    display_order: Option<i32>,
}

/// Creates a category (admins).
#[utoipa::path(
    request_body = CategoryBody,
    responses(
        (status = 201, body = Success<OneCategory>),
        (status = 403, body = FailureBody, description = "Not an admin"),
        (status = 409, body = FailureBody, description = "The name is taken"),
    ),
    security(("bearer" = []))
)]
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
        OneCategory {
            category: category(&row),
        },
    ))
}

/// Changes a category's name or display order (admins).
#[utoipa::path(
    request_body = CategoryBody,
    responses(
        (status = 200, body = Success<OneCategory>),
        (status = 403, body = FailureBody, description = "Not an admin"),
        (status = 409, body = FailureBody, description = "The name is taken"),
    ),
    security(("bearer" = []))
)]
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
        OneCategory {
            category: category(&row),
        },
    ))
}

/// Deletes a category that has no services (admins).
#[utoipa::path(
    responses(
        (status = 200, body = Success<Deleted>),
        (status = 403, body = FailureBody, description = "Not an admin"),
        (status = 409, body = FailureBody, description = "The category still has services"),
    ),
    security(("bearer" = []))
)]
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
    Ok(envelope::ok("Category deleted", Deleted { id }))
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
