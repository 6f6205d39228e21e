//! `/api/v1/brands`: the brands domains belong to. Anyone signed in reads; admins change.

use actix_web::{delete, get, post, put, web, HttpResponse};
use deadpool_postgres::GenericClient;
use serde::{Deserialize, Serialize};
use tokio_postgres::error::SqlState;
use utoipa::ToSchema;
use uuid::Uuid;

use super::model::Brand;
use super::{announce, BRANDS};
use crate::auth::{Admin, SignedIn};
use crate::error::{AppError, AppResult, FailureBody};
use crate::http::envelope::{self, Deleted, Success};
use crate::http::pagination::{Page, PageQuery, Paginated};
use crate::http::validation::{text, Validation};
use crate::state::AppState;

/// This module's operations in the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(list_brands, create_brand, update_brand, delete_brand))]
pub struct ApiDoc;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(list_brands)
        .service(create_brand)
        .service(update_brand)
        .service(delete_brand);
}

/// A brand to create (both fields) or the fields to change.
#[derive(Deserialize, ToSchema)]
struct BrandBody {
    /// 1 to 100 characters.
    #[schema(min_length = 1, max_length = 100)]
    name: Option<String>,
    /// 1 to 32 letters, digits, `-` and `_`; unique.
    #[schema(min_length = 1, max_length = 32, pattern = r"^\s*[A-Za-z0-9_-]+\s*$")]
    code: Option<String>,
}

/// `data` of an answer about one brand.
#[derive(Serialize, ToSchema)]
struct OneBrand {
    brand: Brand,
}

struct BrandFields {
    name: Option<String>,
    code: Option<String>,
}

fn code_field(raw: &str) -> AppResult<String> {
    let code = text("code", raw, 32)?;
    if !code
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(AppError::invalid(
            "code",
            "code may hold letters, digits, '-' and '_'",
        ));
    }
    Ok(code)
}

/// A field that must be sent when `required`, parsed when sent.
fn optional(
    validation: &mut Validation,
    name: &str,
    value: Option<&str>,
    required: bool,
    parse: impl Fn(&str) -> AppResult<String>,
) -> Option<String> {
    match value {
        Some(raw) => validation.check(parse(raw)),
        None if required => {
            validation.check(Err(AppError::invalid(name, format!("{name} is required"))))
        }
        None => None,
    }
}

impl BrandBody {
    /// Both fields when `required`, else whichever was sent.
    fn parse(&self, required: bool) -> AppResult<BrandFields> {
        let mut validation = Validation::new();
        let name = optional(
            &mut validation,
            "name",
            self.name.as_deref(),
            required,
            |raw| text("name", raw, 100),
        );
        let code = optional(
            &mut validation,
            "code",
            self.code.as_deref(),
            required,
            code_field,
        );
        validation.finish()?;
        Ok(BrandFields { name, code })
    }
}

const COUNTS: &str = "SELECT b.*, count(d.id) AS total, \
     count(d.id) FILTER (WHERE d.nawala_status = 'ada') AS ada, \
     count(d.id) FILTER (WHERE d.nawala_status = 'tidak ada') AS tidak_ada, \
     count(d.id) FILTER (WHERE d.id IS NOT NULL AND d.nawala_status IS NULL) AS unchecked \
     FROM brands b LEFT JOIN domains d ON d.brand_id = b.id";

pub async fn find(client: &impl GenericClient, id: Uuid) -> AppResult<Option<Brand>> {
    let row = client
        .query_opt("SELECT * FROM brands WHERE id = $1", &[&id])
        .await?;
    Ok(row.as_ref().map(Brand::from_row))
}

/// Brands by name, each with its domains counted by status.
#[utoipa::path(
    params(PageQuery),
    responses((status = 200, body = Success<Paginated<Brand>>)),
    security(("bearer" = []))
)]
#[get("/api/v1/brands")]
async fn list_brands(
    state: web::Data<AppState>,
    _: SignedIn,
    query: web::Query<PageQuery>,
) -> AppResult<HttpResponse> {
    let page = Page::parse(&query)?;
    let client = state.db.get().await?;
    let sql = format!("{COUNTS} GROUP BY b.id ORDER BY b.name LIMIT $1 OFFSET $2");
    let rows = client.query(&sql, &[&page.limit, &page.offset()]).await?;
    let total: i64 = client
        .query_one("SELECT count(*) FROM brands", &[])
        .await?
        .get(0);
    let brands: Vec<Brand> = rows.iter().map(Brand::with_counts).collect();
    Ok(envelope::ok("Brands", Paginated::new(brands, page, total)))
}

/// Creates a brand (admins).
#[utoipa::path(
    request_body = BrandBody,
    responses(
        (status = 201, body = Success<OneBrand>),
        (status = 403, body = FailureBody, description = "Not an admin"),
        (status = 409, body = FailureBody, description = "The code is taken"),
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/brands")]
async fn create_brand(
    state: web::Data<AppState>,
    _: Admin,
    body: web::Json<BrandBody>,
) -> AppResult<HttpResponse> {
    let fields = body.parse(true)?;
    let mut client = state.db.get().await?;
    let tx = client.transaction().await?;
    let row = tx
        .query_one(
            "INSERT INTO brands (name, code) VALUES ($1, $2) RETURNING *",
            &[&fields.name, &fields.code],
        )
        .await?;
    let brand = Brand::from_row(&row);
    announce(&tx, BRANDS, "brand:created", &brand).await?;
    tx.commit().await?;
    Ok(envelope::created("Brand created", OneBrand { brand }))
}

/// Changes a brand's name or code (admins).
#[utoipa::path(
    request_body = BrandBody,
    responses(
        (status = 200, body = Success<OneBrand>),
        (status = 403, body = FailureBody, description = "Not an admin"),
        (status = 409, body = FailureBody, description = "The code is taken"),
    ),
    security(("bearer" = []))
)]
#[put("/api/v1/brands/{id}")]
async fn update_brand(
    state: web::Data<AppState>,
    _: Admin,
    id: web::Path<Uuid>,
    body: web::Json<BrandBody>,
) -> AppResult<HttpResponse> {
    let fields = body.parse(false)?;
    let mut client = state.db.get().await?;
    let tx = client.transaction().await?;
    let row = tx
        .query_opt(
            "UPDATE brands SET name = COALESCE($2, name), code = COALESCE($3, code), \
             updated_at = clock_timestamp() WHERE id = $1 RETURNING *",
            &[&*id, &fields.name, &fields.code],
        )
        .await?
        .ok_or_else(|| AppError::not_found("No such brand"))?;
    let brand = Brand::from_row(&row);
    announce(&tx, BRANDS, "brand:updated", &brand).await?;
    tx.commit().await?;
    Ok(envelope::ok("Brand updated", OneBrand { brand }))
}

/// Deletes a brand that has no domains (admins).
#[utoipa::path(
    responses(
        (status = 200, body = Success<Deleted>),
        (status = 403, body = FailureBody, description = "Not an admin"),
        (status = 409, body = FailureBody, description = "The brand still has domains"),
    ),
    security(("bearer" = []))
)]
#[delete("/api/v1/brands/{id}")]
async fn delete_brand(
    state: web::Data<AppState>,
    _: Admin,
    id: web::Path<Uuid>,
) -> AppResult<HttpResponse> {
    let mut client = state.db.get().await?;
    let tx = client.transaction().await?;
    let deleted = tx
        .query_opt("DELETE FROM brands WHERE id = $1 RETURNING *", &[&*id])
        .await
        .map_err(|error| match error.code() {
            Some(&SqlState::FOREIGN_KEY_VIOLATION) => {
                AppError::conflict("This brand still has domains; move or delete them first")
            }
            _ => error.into(),
        })?
        .ok_or_else(|| AppError::not_found("No such brand"))?;
    let brand = Brand::from_row(&deleted);
    announce(&tx, BRANDS, "brand:deleted", &brand).await?;
    tx.commit().await?;
    Ok(envelope::ok("Brand deleted", Deleted { id: brand.id }))
}
