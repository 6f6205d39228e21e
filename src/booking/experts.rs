//! Experts, the services each offers, and when each is free.

use actix_web::{delete, get, post, put, web, HttpResponse};
use chrono::NaiveDate;
use deadpool_postgres::GenericClient;
use serde::{Deserialize, Serialize};
use tokio_postgres::Row;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::schedule::{Schedule, Span};
use super::services::Retired;
use super::{cache, catalog_changed, input, retire, Retirable};
use crate::auth::Admin;
use crate::error::{AppError, AppResult, FailureBody};
use crate::http::envelope::{self, Success};
use crate::http::validation::Validation;
use crate::state::AppState;

/// This module's operations in the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    list_experts,
    create_expert,
    update_expert,
    delete_expert,
    set_services,
    availability
))]
pub struct ApiDoc;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(list_experts)
        .service(create_expert)
        .service(update_expert)
        .service(delete_expert)
        .service(set_services)
        .service(availability);
}

const SELECT: &str = "SELECT e.id, e.name, e.bio, e.image_url, e.rating::float8 AS rating,
        e.total_reviews, e.is_active,
        COALESCE(ARRAY(SELECT es.service_id FROM expert_services es WHERE es.expert_id = e.id
                       ORDER BY es.service_id), '{}') AS service_ids
     FROM experts e";

/// An expert and the services they offer.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct Expert {
    id: Uuid,
    name: String,
    #[schema(required = true)]
    bio: Option<String>,
    #[schema(required = true)]
    image_url: Option<String>,
    /// The average of the expert's reviews, 0 to 5 (0 before the first).
    rating: f64,
    total_reviews: i32,
    /// The services the expert offers, by id.
    service_ids: Vec<Uuid>,
    /// Inactive experts are not listed and cannot be booked.
    is_active: bool,
}

fn expert(row: &Row) -> Expert {
    Expert {
        id: row.get("id"),
        name: row.get("name"),
        bio: row.get("bio"),
        image_url: row.get("image_url"),
        rating: row.get("rating"),
        total_reviews: row.get("total_reviews"),
        service_ids: row.get("service_ids"),
        is_active: row.get("is_active"),
    }
}

/// `data` of the list of experts: all that match, by name.
#[derive(Serialize, ToSchema)]
struct ExpertList {
    items: Vec<Expert>,
}

/// `data` of an answer about one expert.
#[derive(Serialize, ToSchema)]
struct OneExpert {
    expert: Expert,
}

async fn find(client: &impl GenericClient, id: Uuid) -> AppResult<Option<Expert>> {
    let row = client
        .query_opt(&format!("{SELECT} WHERE e.id = $1"), &[&id])
        .await?;
    Ok(row.as_ref().map(expert))
}

#[derive(Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Only the experts who offer this service.
    service_id: Option<Uuid>,
}

/// Lists the active experts by name, optionally those offering one service (public, cached).
#[utoipa::path(params(ListQuery), responses((status = 200, body = Success<ExpertList>)))]
#[get("/api/v1/experts")]
async fn list_experts(
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> AppResult<HttpResponse> {
    let key = format!("experts?service={:?}", query.service_id);
    cache::read(&state, &key, "Experts", async {
        let client = state.db.get().await?;
        let rows = client
            .query(
                &format!(
                    "{SELECT} WHERE e.is_active AND ($1::uuid IS NULL OR EXISTS (
                         SELECT 1 FROM expert_services es WHERE es.expert_id = e.id AND es.service_id = $1))
                     ORDER BY e.name, e.id"
                ),
                &[&query.service_id],
            )
            .await?;
        let items = rows.iter().map(expert).collect();
        Ok(ExpertList { items })
    })
    .await
}

/// An expert to create (`name` required) or the fields to change.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct ExpertBody {
    /// 1 to 100 characters, not blank.
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    name: Option<String>,
    /// At most 5000 characters; blank is none (and leaves it unchanged in an update).
    #[schema(max_length = 5000)]
    bio: Option<String>,
    /// An absolute http(s) URL of at most 2000 characters; blank is none (and leaves it
    /// unchanged in an update).
    #[schema(
        max_length = 2000,
        pattern = r"^\s*([Hh][Tt][Tt][Pp][Ss]?://[^/\s]\S*)?\s*$"
    )]
    image_url: Option<String>,
    /// `true` when created without it.
    is_active: Option<bool>,
}

fn expert_fields(
    body: &ExpertBody,
    creating: bool,
) -> AppResult<(Option<String>, Option<String>, Option<String>)> {
    let mut check = Validation::new();
    let name = match (&body.name, creating) {
        (Some(name), _) => check.check(input::text("name", name, 100)),
        (None, true) => check.check(input::text("name", "", 100)),
        (None, false) => None,
    };
    let bio = check
        .check(input::optional_text("bio", body.bio.as_deref(), 5000))
        .flatten();
    let image = check
        .check(input::optional_text(
            "imageUrl",
            body.image_url.as_deref(),
            2000,
        ))
        .flatten()
        .and_then(|url| check.check(input::web_url("imageUrl", &url)));
    check.finish()?;
    Ok((name, bio, image))
}

/// Creates an expert (admins).
#[utoipa::path(
    request_body = ExpertBody,
    responses(
        (status = 201, body = Success<OneExpert>),
        (status = 403, body = FailureBody, description = "Not an admin"),
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/experts")]
async fn create_expert(
    state: web::Data<AppState>,
    _: Admin,
    body: web::Json<ExpertBody>,
) -> AppResult<HttpResponse> {
    let (name, bio, image) = expert_fields(&body, true)?;
    let mut client = state.db.get().await?;
    let tx = client.transaction().await?;
    let id: Uuid = tx
        .query_one(
            "INSERT INTO experts (name, bio, image_url, is_active) VALUES ($1, $2, $3, $4) RETURNING id",
            &[&name, &bio, &image, &body.is_active.unwrap_or(true)],
        )
        .await?
        .get(0);
    catalog_changed(&tx, "expert", id, "created").await?;
    let expert = find(&tx, id)
        .await?
        .ok_or_else(|| input::not_found("expert"))?;
    tx.commit().await?;
    Ok(envelope::created("Expert created", OneExpert { expert }))
}

/// Changes an expert's name, bio, picture or activity (admins).
#[utoipa::path(
    request_body = ExpertBody,
    responses(
        (status = 200, body = Success<OneExpert>),
        (status = 403, body = FailureBody, description = "Not an admin"),
    ),
    security(("bearer" = []))
)]
#[put("/api/v1/experts/{id}")]
async fn update_expert(
    state: web::Data<AppState>,
    _: Admin,
    id: web::Path<Uuid>,
    body: web::Json<ExpertBody>,
) -> AppResult<HttpResponse> {
    let id = id.into_inner();
    let (name, bio, image) = expert_fields(&body, false)?;
    let mut client = state.db.get().await?;
    let tx = client.transaction().await?;
    let updated = tx
        .execute(
            "UPDATE experts SET name = COALESCE($2, name), bio = COALESCE($3, bio),
                 image_url = COALESCE($4, image_url), is_active = COALESCE($5, is_active),
                 updated_at = clock_timestamp()
             WHERE id = $1",
            &[&id, &name, &bio, &image, &body.is_active],
        )
        .await?;
    if updated == 0 {
        return Err(input::not_found("expert"));
    }
    catalog_changed(&tx, "expert", id, "updated").await?;
    let expert = find(&tx, id)
        .await?
        .ok_or_else(|| input::not_found("expert"))?;
    tx.commit().await?;
    Ok(envelope::ok("Expert updated", OneExpert { expert }))
}

/// Deletes an expert, or deactivates them when appointments refer to them (admins).
#[utoipa::path(
    responses(
        (status = 200, body = Success<Retired>),
        (status = 403, body = FailureBody, description = "Not an admin"),
    ),
    security(("bearer" = []))
)]
#[delete("/api/v1/experts/{id}")]
async fn delete_expert(
    state: web::Data<AppState>,
    _: Admin,
    id: web::Path<Uuid>,
) -> AppResult<HttpResponse> {
    let id = id.into_inner();
    let mut client = state.db.get().await?;
    let tx = client.transaction().await?;
    let deactivated = retire(&tx, Retirable::Expert, id).await?;
    tx.commit().await?;
    let message = if deactivated {
        "The expert has appointments, so they were deactivated instead of deleted"
    } else {
        "Expert deleted"
    };
    Ok(envelope::ok(message, Retired { id, deactivated }))
}

/// The services an expert offers: all of them, replacing the ones before.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = ExpertServicesBody)]
struct ServicesBody {
    /// Existing services (repeats count once); none when left out.
    #[serde(default)]
    service_ids: Vec<Uuid>,
}

/// Sets the services an expert offers (admins).
#[utoipa::path(
    request_body = ServicesBody,
    responses(
        (status = 200, body = Success<OneExpert>),
        (status = 400, body = FailureBody,
            description = "No service has one of `serviceIds`, or invalid input"),
        (status = 403, body = FailureBody, description = "Not an admin"),
    ),
    security(("bearer" = []))
)]
#[put("/api/v1/experts/{id}/services")]
async fn set_services(
    state: web::Data<AppState>,
    _: Admin,
    id: web::Path<Uuid>,
    body: web::Json<ServicesBody>,
) -> AppResult<HttpResponse> {
    let id = id.into_inner();
    let mut wanted = body.service_ids.clone();
    wanted.sort();
    wanted.dedup();
    let mut client = state.db.get().await?;
    let tx = client.transaction().await?;
    tx.query_opt("SELECT 1 FROM experts WHERE id = $1 FOR UPDATE", &[&id])
        .await?
        .ok_or_else(|| input::not_found("expert"))?;
    let known: i64 = tx
        .query_one(
            "SELECT count(*) FROM services WHERE id = ANY($1)",
            &[&wanted],
        )
        .await?
        .get(0);
    if known != wanted.len() as i64 {
        return Err(AppError::invalid(
            "serviceIds",
            "No service has one of these ids",
        ));
    }
    tx.execute("DELETE FROM expert_services WHERE expert_id = $1", &[&id])
        .await?;
    tx.execute(
        "INSERT INTO expert_services (expert_id, service_id) SELECT $1, unnest($2::uuid[])",
        &[&id, &wanted],
    )
    .await?;
    catalog_changed(&tx, "expert", id, "updated").await?;
    let expert = find(&tx, id)
        .await?
        .ok_or_else(|| input::not_found("expert"))?;
    tx.commit().await?;
    Ok(envelope::ok("Services set", OneExpert { expert }))
}

/// The reserved or confirmed spans of `expert` that overlap `[from, to)`.
pub async fn busy(
    client: &impl GenericClient,
    expert: Uuid,
    (from, to): Span,
) -> AppResult<Vec<Span>> {
    let rows = client
        .query(
            "SELECT starts_at, ends_at FROM appointments
             WHERE expert_id = $1 AND status IN ('reserved', 'confirmed')
               AND starts_at < $3 AND ends_at > $2",
            &[&expert, &from, &to],
        )
        .await?;
    Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
}

/// Minutes a booking of `service` (with `sub_service`, which must be one of its own) lasts, and
/// its price before any offer; 404 for an unknown or inactive service or a foreign sub-service.
pub async fn length_and_price(
    client: &impl GenericClient,
    service: Uuid,
    sub_service: Option<Uuid>,
) -> AppResult<(i64, i64)> {
    let row = client
        .query_opt(
            // Held against deletion until the booking commits.
            "SELECT duration_minutes, price FROM services WHERE id = $1 AND is_active FOR KEY SHARE",
            &[&service],
        )
        .await?
        .ok_or_else(|| input::not_found("service"))?;
    let (mut minutes, mut price) = (i64::from(row.get::<_, i32>(0)), row.get::<_, i64>(1));
    if let Some(sub_service) = sub_service {
        let row = client
            .query_opt(
                "SELECT duration_minutes, price FROM sub_services WHERE id = $1 AND service_id = $2
                 FOR KEY SHARE",
                &[&sub_service, &service],
            )
            .await?
            .ok_or_else(|| input::not_found("sub-service of this service"))?;
        minutes += i64::from(row.get::<_, i32>(0));
        price += row.get::<_, i64>(1);
    }
    Ok((minutes, price))
}

#[derive(Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
struct AvailabilityQuery {
    /// The day, in the booking timezone.
    #[param(value_type = NaiveDate, required = true)]
    date: Option<String>,
    /// A service the expert offers.
    #[param(required = true)]
    service_id: Option<Uuid>,
    /// A sub-service of that service, whose minutes are added.
    sub_service_id: Option<Uuid>,
}

/// `data` of an expert's free start times on one day.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct FreeSlots {
    expert_id: Uuid,
    date: NaiveDate,
    /// How long the booking asked about lasts.
    duration_minutes: i64,
    /// The IANA timezone the date and the slots are in.
    timezone: &'static str,
    /// Start times, `HH:MM` local, at which the booking fits.
    slots: Vec<String>,
}

/// The start times on a day at which an active expert is free for a service (public).
#[utoipa::path(
    params(AvailabilityQuery),
    responses(
        (status = 200, body = Success<FreeSlots>),
        (status = 404, body = FailureBody,
            description = "No such active expert, active service, or sub-service of the service"),
    )
)]
#[get("/api/v1/experts/{id}/availability")]
async fn availability(
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    query: web::Query<AvailabilityQuery>,
) -> AppResult<HttpResponse> {
    let expert = id.into_inner();
    let date = Schedule::parse_date(query.date.as_deref().unwrap_or(""))?;
    let service = query
        .service_id
        .ok_or_else(|| AppError::invalid("serviceId", "serviceId is required"))?;
    let client = state.db.get().await?;
    let offers: Option<bool> = client
        .query_opt(
            "SELECT EXISTS (SELECT 1 FROM expert_services WHERE expert_id = e.id AND service_id = $2)
             FROM experts e WHERE e.id = $1 AND e.is_active",
            &[&expert, &service],
        )
        .await?
        .map(|row| row.get(0));
    match offers {
        None => return Err(input::not_found("expert")),
        Some(false) => {
            return Err(AppError::invalid(
                "serviceId",
                "This expert does not offer this service",
            ))
        }
        Some(true) => {}
    }
    let (minutes, _) = length_and_price(&client, service, query.sub_service_id).await?;
    let schedule = Schedule::new(&state.settings.booking);
    let busy = busy(&client, expert, schedule.day(date)?).await?;
    let slots = schedule.free_starts(date, minutes, &busy, chrono::Utc::now());
    Ok(envelope::ok(
        "Free start times",
        FreeSlots {
            expert_id: expert,
            date,
            duration_minutes: minutes,
            timezone: schedule.timezone.name(),
            slots,
        },
    ))
}
