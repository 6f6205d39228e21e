//! Experts, the services each offers, and when each is free.

use actix_web::{delete, get, post, put, web, HttpResponse};
use deadpool_postgres::GenericClient;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio_postgres::Row;
use uuid::Uuid;

use super::schedule::{Schedule, Span};
use super::{cache, catalog_changed, input, retire, Retirable};
use crate::auth::Admin;
use crate::error::{AppError, AppResult};
use crate::http::envelope;
use crate::http::validation::Validation;
use crate::state::AppState;

/// This module's operations in the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi()]
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

fn expert(row: &Row) -> Value {
    json!({
        "id": row.get::<_, Uuid>("id"),
        "name": row.get::<_, String>("name"),
        "bio": row.get::<_, Option<String>>("bio"),
        "imageUrl": row.get::<_, Option<String>>("image_url"),
        "rating": row.get::<_, f64>("rating"),
        "totalReviews": row.get::<_, i32>("total_reviews"),
        "serviceIds": row.get::<_, Vec<Uuid>>("service_ids"),
        "isActive": row.get::<_, bool>("is_active"),
    })
}

async fn find(client: &impl GenericClient, id: Uuid) -> AppResult<Option<Value>> {
    let row = client
        .query_opt(&format!("{SELECT} WHERE e.id = $1"), &[&id])
        .await?;
    Ok(row.as_ref().map(expert))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListQuery {
    service_id: Option<Uuid>,
}

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
        Ok(json!({ "items": rows.iter().map(expert).collect::<Vec<_>>() }))
    })
    .await
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExpertBody {
    name: Option<String>,
    bio: Option<String>,
    image_url: Option<String>,
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
    let image = body
        .image_url
        .as_deref()
        .filter(|url| !url.trim().is_empty())
        .and_then(|url| check.check(input::web_url("imageUrl", url)));
    check.finish()?;
    Ok((name, bio, image))
}

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
    let created = find(&tx, id).await?;
    tx.commit().await?;
    Ok(envelope::created(
        "Expert created",
        json!({ "expert": created }),
    ))
}

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
    let expert = find(&tx, id).await?;
    tx.commit().await?;
    Ok(envelope::ok("Expert updated", json!({ "expert": expert })))
}

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
    Ok(envelope::ok(
        message,
        json!({ "id": id, "deactivated": deactivated }),
    ))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ServicesBody {
    #[serde(default)]
    service_ids: Vec<Uuid>,
}

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
    let expert = find(&tx, id).await?;
    tx.commit().await?;
    Ok(envelope::ok("Services set", json!({ "expert": expert })))
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

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AvailabilityQuery {
    date: Option<String>,
    service_id: Option<Uuid>,
    sub_service_id: Option<Uuid>,
}

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
        json!({ "expertId": expert, "date": date, "durationMinutes": minutes,
                "timezone": schedule.timezone.name(), "slots": slots }),
    ))
}
