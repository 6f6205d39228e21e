//! The gallery: images (by absolute http(s) URL) an admin shows, filtered by expert or service.

use actix_web::{delete, get, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio_postgres::Row;
use uuid::Uuid;

use super::input;
use crate::auth::Admin;
use crate::error::AppResult;
use crate::http::envelope;
use crate::http::pagination::{page_of, Listing, Page, PageQuery};
use crate::http::validation::Validation;
use crate::state::AppState;

/// This module's operations in the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi()]
pub struct ApiDoc;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(list).service(create).service(remove);
}

const COLUMNS: &str = "id, image_url, caption, expert_id, service_id, created_at";

fn image(row: &Row) -> Value {
    json!({
        "id": row.get::<_, Uuid>("id"),
        "imageUrl": row.get::<_, String>("image_url"),
        "caption": row.get::<_, Option<String>>("caption"),
        "expertId": row.get::<_, Option<Uuid>>("expert_id"),
        "serviceId": row.get::<_, Option<Uuid>>("service_id"),
        "createdAt": row.get::<_, DateTime<Utc>>("created_at"),
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListQuery {
    expert_id: Option<Uuid>,
    service_id: Option<Uuid>,
    page: Option<String>,
    limit: Option<String>,
}

#[get("/api/v1/gallery")]
async fn list(state: web::Data<AppState>, query: web::Query<ListQuery>) -> AppResult<HttpResponse> {
    let page = Page::parse(&PageQuery {
        page: query.page.clone(),
        limit: query.limit.clone(),
    })?;
    let client = state.db.get().await?;
    let filter = "($1::uuid IS NULL OR expert_id = $1) AND ($2::uuid IS NULL OR service_id = $2)";
    let select = format!("SELECT {COLUMNS} FROM gallery");
    let listing = Listing {
        count_from: "gallery",
        select: &select,
        filter,
        order: "created_at DESC, id",
    };
    let items = page_of(
        &client,
        &listing,
        &[&query.expert_id, &query.service_id],
        page,
        image,
    )
    .await?;
    Ok(envelope::ok("Gallery", items))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ImageBody {
    image_url: Option<String>,
    caption: Option<String>,
    expert_id: Option<Uuid>,
    service_id: Option<Uuid>,
}

#[post("/api/v1/gallery")]
async fn create(
    state: web::Data<AppState>,
    _: Admin,
    body: web::Json<ImageBody>,
) -> AppResult<HttpResponse> {
    let mut check = Validation::new();
    let url = check.check(input::web_url(
        "imageUrl",
        body.image_url.as_deref().unwrap_or(""),
    ));
    let caption = check.check(input::optional_text(
        "caption",
        body.caption.as_deref(),
        500,
    ));
    let (Some(url), Some(caption)) = (url, caption) else {
        return Err(check.into_error());
    };
    let client = state.db.get().await?;
    if let Some(expert) = body.expert_id {
        client
            .query_opt("SELECT 1 FROM experts WHERE id = $1", &[&expert])
            .await?
            .ok_or_else(|| input::not_found("expert"))?;
    }
    if let Some(service) = body.service_id {
        client
            .query_opt("SELECT 1 FROM services WHERE id = $1", &[&service])
            .await?
            .ok_or_else(|| input::not_found("service"))?;
    }
    let row = client
        .query_one(
            &format!("INSERT INTO gallery (image_url, caption, expert_id, service_id) VALUES ($1, $2, $3, $4) RETURNING {COLUMNS}"),
            &[&url, &caption, &body.expert_id, &body.service_id],
        )
        .await?;
    Ok(envelope::created(
        "Image added",
        json!({ "image": image(&row) }),
    ))
}

#[delete("/api/v1/gallery/{id}")]
async fn remove(
    state: web::Data<AppState>,
    _: Admin,
    id: web::Path<Uuid>,
) -> AppResult<HttpResponse> {
    let id = id.into_inner();
    let client = state.db.get().await?;
    if client
        .execute("DELETE FROM gallery WHERE id = $1", &[&id])
        .await?
        == 0
    {
        return Err(input::not_found("image"));
    }
    Ok(envelope::ok("Image deleted", json!({ "id": id })))
}
