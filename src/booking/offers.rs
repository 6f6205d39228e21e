//! Offers: a discount valid for a while, given at booking with `offerId`.

use actix_web::{delete, get, post, put, web, HttpResponse};
use std::time::Duration;

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
use crate::http::validation::Validation;
use crate::state::AppState;

/// This module's operations in the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(list_offers, create_offer, update_offer, delete_offer))]
pub struct ApiDoc;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(list_offers)
        .service(create_offer)
        .service(update_offer)
        .service(delete_offer);
}

const COLUMNS: &str =
    "id, title, description, discount_percent, valid_from, valid_to, is_active, created_at, updated_at";

/// A discount, valid from `validFrom` until (not including) `validTo`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct Offer {
    id: Uuid,
    title: String,
    #[schema(required = true)]
    description: Option<String>,
    /// 1 to 100.
    discount_percent: i32,
    valid_from: DateTime<Utc>,
    valid_to: DateTime<Utc>,
    is_active: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

fn offer(row: &Row) -> Offer {
    Offer {
        id: row.get("id"),
        title: row.get("title"),
        description: row.get("description"),
        discount_percent: row.get("discount_percent"),
        valid_from: row.get("valid_from"),
        valid_to: row.get("valid_to"),
        is_active: row.get("is_active"),
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
    }
}

/// `data` of the list of offers: the active ones valid now, the soonest to end first.
#[derive(Serialize, ToSchema)]
struct OfferList {
    items: Vec<Offer>,
}

/// `data` of an answer about one offer.
#[derive(Serialize, ToSchema)]
struct OneOffer {
    offer: Offer,
}

/// Lists the active offers valid now, the soonest to end first (public, cached).
#[utoipa::path(responses((status = 200, body = Success<OfferList>)))]
#[get("/api/v1/offers")]
async fn list_offers(state: web::Data<AppState>) -> AppResult<HttpResponse> {
    // Cached like the rest of the catalogue, but never past the next moment an offer's window
    // opens or closes (that is not a write, so nothing else would refresh it).
    cache::read_fresh(&state, "offers", "Offers", async {
        let client = state.db.get().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT {COLUMNS} FROM offers WHERE is_active AND valid_from <= now() AND valid_to > now()
                     ORDER BY valid_to, id"
                ),
                &[],
            )
            .await?;
        let next_change: Option<f64> = client
            .query_one(
                "SELECT EXTRACT(EPOCH FROM min(boundary) - now())::float8 FROM (
                     SELECT valid_from AS boundary FROM offers WHERE is_active AND valid_from > now()
                     UNION ALL SELECT valid_to FROM offers WHERE is_active AND valid_to > now()) b",
                &[],
            )
            .await?
            .get(0);
        let items = rows.iter().map(offer).collect();
        Ok(cache::Fresh {
            data: OfferList { items },
            for_at_most: next_change.map(|seconds| Duration::from_secs_f64(seconds.max(0.0))),
        })
    })
    .await
}

/// An offer to create (`title`, `discountPercent`, `validFrom` and `validTo` required) or the
/// fields to change; `validTo` must be after `validFrom`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct OfferBody {
    /// 1 to 200 characters, not blank.
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    title: Option<String>,
    /// At most 5000 characters; blank is none (and leaves it unchanged in an update).
    #[schema(max_length = 5000)]
    description: Option<String>,
    /// 1 to 100.
    #[schema(minimum = 1, maximum = 100)]
    discount_percent: Option<i32>,
    valid_from: Option<DateTime<Utc>>,
    /// After `validFrom`.
    valid_to: Option<DateTime<Utc>>,
    /// `true` when created without it.
    is_active: Option<bool>,
}

fn discount(value: i32) -> AppResult<i32> {
    if !(1..=100).contains(&value) {
        return Err(AppError::invalid(
            "discountPercent",
            "discountPercent must be 1 to 100",
        ));
    }
    Ok(value)
}

fn window(from: DateTime<Utc>, to: DateTime<Utc>) -> AppResult<()> {
    if from >= to {
        return Err(AppError::invalid(
            "validTo",
            "validTo must be after validFrom",
        ));
    }
    Ok(())
}

/// Creates an offer (admins).
#[utoipa::path(
    request_body = OfferBody,
    responses(
        (status = 201, body = Success<OneOffer>),
        (status = 403, body = FailureBody, description = "Not an admin"),
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/offers")]
async fn create_offer(
    state: web::Data<AppState>,
    _: Admin,
    body: web::Json<OfferBody>,
) -> AppResult<HttpResponse> {
    let mut check = Validation::new();
    let title = check.check(input::text(
        "title",
        body.title.as_deref().unwrap_or(""),
        200,
    ));
    let description = check.check(input::optional_text(
        "description",
        body.description.as_deref(),
        5000,
    ));
    let percent = check.check(discount(body.discount_percent.unwrap_or(0)));
    let from = check.check(
        body.valid_from
            .ok_or_else(|| AppError::invalid("validFrom", "validFrom is required")),
    );
    let to = check.check(
        body.valid_to
            .ok_or_else(|| AppError::invalid("validTo", "validTo is required")),
    );
    if let (Some(from), Some(to)) = (from, to) {
        check.check(window(from, to));
    }
    let (Some(title), Some(description), Some(percent), Some(from), Some(to)) =
        (title, description, percent, from, to)
    else {
        return Err(check.into_error());
    };
    check.finish()?;
    let mut client = state.db.get().await?;
    let tx = client.transaction().await?;
    let row = tx
        .query_one(
            &format!(
                "INSERT INTO offers (title, description, discount_percent, valid_from, valid_to, is_active)
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING {COLUMNS}"
            ),
            &[&title, &description, &percent, &from, &to, &body.is_active.unwrap_or(true)],
        )
        .await?;
    catalog_changed(&tx, "offer", row.get("id"), "created").await?;
    tx.commit().await?;
    Ok(envelope::created(
        "Offer created",
        OneOffer { offer: offer(&row) },
    ))
}

/// Changes an offer's fields or validity window (admins).
#[utoipa::path(
    request_body = OfferBody,
    responses(
        (status = 200, body = Success<OneOffer>),
        (status = 403, body = FailureBody, description = "Not an admin"),
    ),
    security(("bearer" = []))
)]
#[put("/api/v1/offers/{id}")]
async fn update_offer(
    state: web::Data<AppState>,
    _: Admin,
    id: web::Path<Uuid>,
    body: web::Json<OfferBody>,
) -> AppResult<HttpResponse> {
    let id = id.into_inner();
    let mut check = Validation::new();
    let title = body
        .title
        .as_deref()
        .and_then(|title| check.check(input::text("title", title, 200)));
    let description = check
        .check(input::optional_text(
            "description",
            body.description.as_deref(),
            5000,
        ))
        .flatten();
    let percent = body
        .discount_percent
        .and_then(|percent| check.check(discount(percent)));
    check.finish()?;
    let mut client = state.db.get().await?;
    let tx = client.transaction().await?;
    let current = tx
        .query_opt(
            "SELECT valid_from, valid_to FROM offers WHERE id = $1 FOR UPDATE",
            &[&id],
        )
        .await?
        .ok_or_else(|| input::not_found("offer"))?;
    let from = body.valid_from.unwrap_or_else(|| current.get(0));
    let to = body.valid_to.unwrap_or_else(|| current.get(1));
    window(from, to)?;
    let row = tx
        .query_one(
            &format!(
                "UPDATE offers SET title = COALESCE($2, title), description = COALESCE($3, description),
                     discount_percent = COALESCE($4, discount_percent), valid_from = $5, valid_to = $6,
                     is_active = COALESCE($7, is_active), updated_at = clock_timestamp()
                 WHERE id = $1 RETURNING {COLUMNS}"
            ),
            &[&id, &title, &description, &percent, &from, &to, &body.is_active],
        )
        .await?;
    catalog_changed(&tx, "offer", id, "updated").await?;
    tx.commit().await?;
    Ok(envelope::ok(
        "Offer updated",
        OneOffer { offer: offer(&row) },
    ))
}

/// Deletes an offer; appointments booked with it keep their price (admins).
#[utoipa::path(
    responses(
        (status = 200, body = Success<Deleted>),
        (status = 403, body = FailureBody, description = "Not an admin"),
    ),
    security(("bearer" = []))
)]
#[delete("/api/v1/offers/{id}")]
async fn delete_offer(
    state: web::Data<AppState>,
    _: Admin,
    id: web::Path<Uuid>,
) -> AppResult<HttpResponse> {
    let id = id.into_inner();
    let mut client = state.db.get().await?;
    let tx = client.transaction().await?;
    if tx
        .execute("DELETE FROM offers WHERE id = $1", &[&id])
        .await?
        == 0
    {
        return Err(input::not_found("offer"));
    }
    catalog_changed(&tx, "offer", id, "deleted").await?;
    tx.commit().await?;
    Ok(envelope::ok("Offer deleted", Deleted { id }))
}

/// The discount of offer `id` if it is active now: 404 unknown, 400 not active now.
pub async fn discount_now(client: &impl GenericClient, id: Uuid) -> AppResult<i32> {
    let row = client
        .query_opt(
            "SELECT discount_percent, is_active AND valid_from <= now() AND valid_to > now() FROM offers WHERE id = $1",
            &[&id],
        )
        .await?
        .ok_or_else(|| input::not_found("offer"))?;
    if !row.get::<_, bool>(1) {
        return Err(AppError::invalid("offerId", "This offer is not active now"));
    }
    Ok(row.get(0))
}
