//! Reviews: the user of a completed appointment rates it once. The expert's `rating` (the mean,
//! two decimals) and `totalReviews` are recomputed from the rows in the same transaction, under
//! the expert's row lock, so they never drift from the rows, also under concurrent reviews.

use actix_web::{delete, get, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio_postgres::Row;
use uuid::Uuid;

use super::{catalog_changed, input};
use crate::auth::SignedIn;
use crate::error::{AppError, AppResult};
use crate::http::envelope;
use crate::http::pagination::{page_of, Listing, Page, PageQuery};
use crate::state::AppState;

/// This module's operations in the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi()]
pub struct ApiDoc;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(create).service(list).service(remove);
}

const SELECT: &str = "SELECT r.id, r.rating, r.comment, u.name AS user_name, r.expert_id,
        r.service_id, r.created_at
     FROM reviews r JOIN users u ON u.id = r.user_id";

fn review(row: &Row) -> Value {
    json!({
        "id": row.get::<_, Uuid>("id"),
        "rating": row.get::<_, i16>("rating"),
        "comment": row.get::<_, Option<String>>("comment"),
        "user": {"name": row.get::<_, String>("user_name")},
        "expertId": row.get::<_, Uuid>("expert_id"),
        "serviceId": row.get::<_, Uuid>("service_id"),
        "createdAt": row.get::<_, DateTime<Utc>>("created_at"),
    })
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

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReviewBody {
    appointment_id: Option<Uuid>,
    rating: Option<i16>,
    comment: Option<String>,
}

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
        json!({ "review": review(&row) }),
    ))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListQuery {
    expert_id: Option<Uuid>,
    service_id: Option<Uuid>,
    page: Option<String>,
    limit: Option<String>,
}

#[get("/api/v1/reviews")]
async fn list(state: web::Data<AppState>, query: web::Query<ListQuery>) -> AppResult<HttpResponse> {
    let page = Page::parse(&PageQuery {
        page: query.page.clone(),
        limit: query.limit.clone(),
    })?;
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
    Ok(envelope::ok("Review deleted", json!({ "id": id })))
}
