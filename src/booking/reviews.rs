//! Reviews: the user of a completed appointment rates it once. The expert's `rating` (the mean,
//! two decimals) and `totalReviews` are recomputed from the rows in the same transaction, under
//! the expert's row lock, so they never drift from the rows, also under concurrent reviews.

use actix_web::{delete, get, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use serde::{Deserialize, Serialize};
use tokio_postgres::Row;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{catalog_changed, input};
use crate::auth::SignedIn;
use crate::error::{AppError, AppResult, FailureBody};
use crate::http::envelope::{self, Deleted, Success};
use crate::http::pagination::{page_of, Listing, Page, Paginated};
use crate::state::AppState;

/// This module's operations in the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(create, list, remove))]
pub struct ApiDoc;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(create).service(list).service(remove);
}

const SELECT: &str = "SELECT r.id, r.rating, r.comment, u.name AS user_name, r.expert_id,
        r.service_id, r.created_at
     FROM reviews r JOIN users u ON u.id = r.user_id";

/// A review, as anyone may read it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct Review {
    id: Uuid,
    /// 1 to 5.
    #[schema(minimum = 1, maximum = 5)]
    rating: i16,
    #[schema(required = true)]
    comment: Option<String>,
    user: Reviewer,
    expert_id: Uuid,
    service_id: Uuid,
    created_at: DateTime<Utc>,
}

/// Who wrote a review: only their name is shown.
#[derive(Serialize, ToSchema)]
struct Reviewer {
    name: String,
}

/// `data` of an answer about one review.
#[derive(Serialize, ToSchema)]
struct OneReview {
    review: Review,
}

fn review(row: &Row) -> Review {
    Review {
        id: row.get("id"),
        rating: row.get("rating"),
        comment: row.get("comment"),
        user: Reviewer {
            name: row.get("user_name"),
        },
        expert_id: row.get("expert_id"),
        service_id: row.get("service_id"),
        created_at: row.get("created_at"),
    }
}

/// Recomputes the expert's rating and count from the rows; call holding the expert's row lock.
pub async fn rerate(client: &impl GenericClient, expert: Uuid) -> AppResult<()> {
    client
        .execute(
            "UPDATE experts SET
                 rating = COALESCE((SELECT round(avg(rating), 2) FROM reviews WHERE expert_id = $1), 0),
                 total_reviews = (SELECT count(*) FROM reviews WHERE expert_id = $1),
                 updated_at = clock_timestamp()
             WHERE id = $1",
            &[&expert],
        )
        .await?;
    catalog_changed(client, "expert", expert, "updated").await?;
    Ok(())
}

async fn lock_expert(client: &impl GenericClient, expert: Uuid) -> AppResult<()> {
    client
        // NO KEY UPDATE: reviews of one expert line up, bookings (KEY SHARE) are not held up.
        .query_opt(
            "SELECT 1 FROM experts WHERE id = $1 FOR NO KEY UPDATE",
            &[&expert],
        )
        .await?
        .ok_or_else(|| input::not_found("expert"))?;
    Ok(())
}

/// Locks the experts `user` reviewed (in id order, as every path locks them one at a time), before
/// the user and their reviews are deleted; answers them, to recompute after.
pub async fn lock_experts_reviewed_by(
    client: &impl GenericClient,
    user: Uuid,
) -> AppResult<Vec<Uuid>> {
    let rows = client
        .query(
            "SELECT id FROM experts WHERE id IN (SELECT expert_id FROM reviews WHERE user_id = $1)
             ORDER BY id FOR NO KEY UPDATE",
            &[&user],
        )
        .await?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}

/// A review of one of the caller's completed appointments.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct ReviewBody {
    /// A completed appointment of the caller's, not reviewed yet.
    #[schema(value_type = Uuid, required = true)]
    appointment_id: Option<Uuid>,
    /// 1 to 5.
    #[schema(value_type = i16, required = true, minimum = 1, maximum = 5)]
    rating: Option<i16>,
    /// Up to 2000 characters; blank is none.
    #[schema(max_length = 2000)]
    comment: Option<String>,
}

/// Reviews a completed appointment of the caller's own, once; the expert's rating follows.
#[utoipa::path(
    request_body = ReviewBody,
    responses(
        (status = 201, body = Success<OneReview>, description = "The review"),
        (status = 404, body = FailureBody, description = "No such appointment of the caller's"),
        (status = 409, body = FailureBody, description = "The appointment is not completed, or was reviewed already"),
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/reviews")]
async fn create(
    state: web::Data<AppState>,
    caller: SignedIn,
    body: web::Json<ReviewBody>,
) -> AppResult<HttpResponse> {
    let mut check = crate::http::validation::Validation::new();
    let appointment = check.check(
        body.appointment_id
            .ok_or_else(|| AppError::invalid("appointmentId", "appointmentId is required")),
    );
    let rating = check.check(
        body.rating
            .filter(|rating| (1..=5).contains(rating))
            .ok_or_else(|| AppError::invalid("rating", "rating is 1 to 5")),
    );
    let comment = check.check(input::optional_text(
        "comment",
        body.comment.as_deref(),
        2000,
    ));
    let (Some(appointment), Some(rating), Some(comment)) = (appointment, rating, comment) else {
        return Err(check.into_error());
    };
    let mut client = state.db.get().await?;
    let tx = client.transaction().await?;
    let booked = tx
        .query_opt(
            "SELECT expert_id, service_id, status FROM appointments WHERE id = $1 AND user_id = $2",
            &[&appointment, &caller.id],
        )
        .await?
        .ok_or_else(|| input::not_found("appointment"))?;
    let (expert, service, status): (Uuid, Uuid, String) =
        (booked.get(0), booked.get(1), booked.get(2));
    if status != "completed" {
        return Err(AppError::conflict(
            "Only a completed appointment can be reviewed",
        ));
    }
    lock_expert(&tx, expert).await?;
    let id: Uuid = tx
        .query_one(
            "INSERT INTO reviews (appointment_id, user_id, expert_id, service_id, rating, comment)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            &[
                &appointment,
                &caller.id,
                &expert,
                &service,
                &rating,
                &comment,
            ],
        )
        .await?
        .get(0);
    rerate(&tx, expert).await?;
    let row = tx
        .query_one(&format!("{SELECT} WHERE r.id = $1"), &[&id])
        .await?;
    tx.commit().await?;
    Ok(envelope::created(
        "Thank you for your review",
        OneReview {
            review: review(&row),
        },
    ))
}

#[derive(Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Only this expert's reviews.
    expert_id: Option<Uuid>,
    /// Only this service's reviews.
    service_id: Option<Uuid>,
    #[param(value_type = Option<i64>, minimum = 1, maximum = 1_000_000_000)]
    page: Option<String>,
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100)]
    limit: Option<String>,
}

/// Reviews, newest first, of an expert or a service or all (public).
#[utoipa::path(
    params(ListQuery),
    responses((status = 200, body = Success<Paginated<Review>>, description = "A page of reviews"))
)]
#[get("/api/v1/reviews")]
async fn list(state: web::Data<AppState>, query: web::Query<ListQuery>) -> AppResult<HttpResponse> {
    let page = Page::of(query.page.as_deref(), query.limit.as_deref())?;
    let client = state.db.get().await?;
    let filter =
        "($1::uuid IS NULL OR r.expert_id = $1) AND ($2::uuid IS NULL OR r.service_id = $2)";
    let listing = Listing {
        count_from: "reviews r",
        select: SELECT,
        filter,
        order: "r.created_at DESC, r.id DESC",
    };
    let items = page_of(
        &client,
        &listing,
        &[&query.expert_id, &query.service_id],
        page,
        review,
    )
    .await?;
    Ok(envelope::ok("Reviews", items))
}

/// Deletes a review (its author or an admin); the expert's rating follows.
#[utoipa::path(
    responses(
        (status = 200, body = Success<Deleted>, description = "The review is gone"),
        (status = 403, body = FailureBody, description = "Neither the review's author nor an admin"),
    ),
    security(("bearer" = []))
)]
#[delete("/api/v1/reviews/{id}")]
async fn remove(
    state: web::Data<AppState>,
    caller: SignedIn,
    id: web::Path<Uuid>,
) -> AppResult<HttpResponse> {
    let id = id.into_inner();
    let mut client = state.db.get().await?;
    let tx = client.transaction().await?;
    let found = tx
        .query_opt(
            "SELECT expert_id, user_id FROM reviews WHERE id = $1",
            &[&id],
        )
        .await?
        .ok_or_else(|| input::not_found("review"))?;
    // Reviews are public: someone else's is there to see, but not to delete.
    if !caller.role.is_admin() && found.get::<_, Uuid>(1) != caller.id {
        return Err(AppError::forbidden(
            "Only its author or an admin deletes a review",
        ));
    }
    let expert: Uuid = found.get(0);
    lock_expert(&tx, expert).await?;
    if tx
        .execute("DELETE FROM reviews WHERE id = $1", &[&id])
        .await?
        == 0
    {
        return Err(input::not_found("review"));
    }
    rerate(&tx, expert).await?;
    tx.commit().await?;
    Ok(envelope::ok("Review deleted", Deleted { id }))
}
