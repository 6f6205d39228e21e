//! The gallery: images (by absolute http(s) URL) an admin shows, filtered by expert or service.

use actix_web::{delete, get, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio_postgres::Row;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::input;
use crate::auth::Admin;
use crate::error::{AppResult, FailureBody};
use crate::http::envelope::{self, Deleted, Success};
use crate::http::pagination::{page_of, Listing, Page, Paginated};
use crate::http::validation::Validation;
use crate::state::AppState;

/// This module's operations in the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(list, create, remove))]
pub struct ApiDoc;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(list).service(create).service(remove);
}

const COLUMNS: &str = "id, image_url, caption, expert_id, service_id, created_at";

/// An image of the gallery.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct GalleryImage {
    id: Uuid,
    /// An absolute http(s) URL.
    image_url: String,
    #[schema(required = true)]
    caption: Option<String>,
    /// The expert it shows, if any.
    #[schema(required = true)]
    expert_id: Option<Uuid>,
    /// The service it shows, if any.
    #[schema(required = true)]
    service_id: Option<Uuid>,
    created_at: DateTime<Utc>,
}

/// `data` of an answer about one image.
#[derive(Serialize, ToSchema)]
struct OneGalleryImage {
    image: GalleryImage,
}

fn image(row: &Row) -> GalleryImage {
    GalleryImage {
        id: row.get("id"),
        image_url: row.get("image_url"),
        caption: row.get("caption"),
        expert_id: row.get("expert_id"),
        service_id: row.get("service_id"),
        created_at: row.get("created_at"),
    }
}

#[derive(Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Only images of this expert.
    expert_id: Option<Uuid>,
    /// Only images of this service.
    service_id: Option<Uuid>,
    #[param(value_type = Option<i64>, minimum = 1, maximum = 1_000_000_000)]
    page: Option<String>,
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100)]
    limit: Option<String>,
}

/// The gallery's images, newest first, of an expert or a service or all (public).
#[utoipa::path(
    params(ListQuery),
    responses((status = 200, body = Success<Paginated<GalleryImage>>, description = "A page of images"))
)]
#[get("/api/v1/gallery")]
async fn list(state: web::Data<AppState>, query: web::Query<ListQuery>) -> AppResult<HttpResponse> {
    let page = Page::of(query.page.as_deref(), query.limit.as_deref())?;
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

/// An image to add to the gallery.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct ImageBody {
    /// An absolute http(s) URL of up to 2000 characters, without spaces.
    #[schema(
        value_type = String,
        required = true,
        min_length = 1,
        max_length = 2000,
        pattern = r"^\s*[Hh][Tt][Tt][Pp][Ss]?://[^/\s]\S*\s*$"
    )]
    image_url: Option<String>,
    /// Up to 500 characters; blank is none.
    #[schema(max_length = 500)]
    caption: Option<String>,
    /// An expert the image shows.
    expert_id: Option<Uuid>,
    /// A service the image shows.
    service_id: Option<Uuid>,
}

/// Adds an image to the gallery (admins).
#[utoipa::path(
    request_body = ImageBody,
    responses(
        (status = 201, body = Success<OneGalleryImage>, description = "The image"),
        (status = 403, body = FailureBody, description = "Not an admin"),
        (status = 404, body = FailureBody, description = "No such expert or service"),
    ),
    security(("bearer" = []))
)]
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
        OneGalleryImage { image: image(&row) },
    ))
}

/// Removes an image from the gallery (admins).
#[utoipa::path(
    responses(
        (status = 200, body = Success<Deleted>, description = "The image is gone"),
        (status = 403, body = FailureBody, description = "Not an admin"),
    ),
    security(("bearer" = []))
)]
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
    Ok(envelope::ok("Image deleted", Deleted { id }))
}
