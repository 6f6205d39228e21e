//! Courses: public reads (cached like the catalogue) and the admin's changes.

use actix_web::{delete, get, post, put, web, HttpResponse};
use chrono::{DateTime, NaiveDate, Utc};
use deadpool_postgres::GenericClient;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio_postgres::Row;
use uuid::Uuid;

use super::{cache, catalog_changed, input};
use crate::auth::{Admin, MaybeSignedIn};
use crate::error::{AppError, AppResult};
use crate::http::envelope;
use crate::http::validation::Validation;
use crate::state::AppState;

/// This module's operations in the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi()]
pub struct ApiDoc;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(list)
        .service(one)
        .service(create)
        .service(update)
        .service(remove);
}

const SELECT: &str = "SELECT c.id, c.title, c.description, c.price, c.starts_on, c.seats, c.is_active,
        c.created_at, c.updated_at,
        (SELECT count(*) FROM course_applications a WHERE a.course_id = c.id AND a.status = 'approved')
            AS seats_taken
     FROM courses c";

fn course(row: &Row) -> Value {
    json!({
        "id": row.get::<_, Uuid>("id"),
        "title": row.get::<_, String>("title"),
        "description": row.get::<_, Option<String>>("description"),
        "price": row.get::<_, i64>("price"),
        "startsOn": row.get::<_, NaiveDate>("starts_on"),
        "seats": row.get::<_, i32>("seats"),
        "seatsTaken": row.get::<_, i64>("seats_taken"),
        "isActive": row.get::<_, bool>("is_active"),
        "createdAt": row.get::<_, DateTime<Utc>>("created_at"),
        "updatedAt": row.get::<_, DateTime<Utc>>("updated_at"),
    })
}

pub async fn find(client: &impl GenericClient, id: Uuid) -> AppResult<Option<Value>> {
    let row = client
        .query_opt(&format!("{SELECT} WHERE c.id = $1"), &[&id])
        .await?;
    Ok(row.as_ref().map(course))
}

#[get("/api/v1/courses")]
async fn list(state: web::Data<AppState>, caller: MaybeSignedIn) -> AppResult<HttpResponse> {
    let admin = caller.is_admin();
    let load = async {
        let client = state.db.get().await?;
        let rows = client
            .query(
                &format!("{SELECT} WHERE $1 OR c.is_active ORDER BY c.starts_on, c.title, c.id"),
                &[&admin],
            )
            .await?;
        Ok(json!({ "items": rows.iter().map(course).collect::<Vec<_>>() }))
    };
    if admin {
        return Ok(cache::uncached("Courses", load.await?));
    }
    cache::read(&state, "courses", "Courses", load).await
}

#[get("/api/v1/courses/{id}")]
async fn one(
    state: web::Data<AppState>,
    caller: MaybeSignedIn,
    id: web::Path<Uuid>,
) -> AppResult<HttpResponse> {
    let id = id.into_inner();
    let admin = caller.is_admin();
    let load = async {
        let client = state.db.get().await?;
        let course = find(&client, id)
            .await?
            .filter(|course| admin || course["isActive"] == true)
            .ok_or_else(|| input::not_found("course"))?;
        Ok(json!({ "course": course }))
    };
    if admin {
        return Ok(cache::uncached("Course", load.await?));
    }
    cache::read(&state, &format!("course:{id}"), "Course", load).await
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CourseBody {
    title: Option<String>,
    description: Option<String>,
    price: Option<i64>,
    starts_on: Option<NaiveDate>,
    seats: Option<i32>,
    is_active: Option<bool>,
}

fn seats(value: i32) -> AppResult<i32> {
    if !(1..=10_000).contains(&value) {
        return Err(AppError::invalid("seats", "seats must be 1 to 10000"));
    }
    Ok(value)
}

#[post("/api/v1/courses")]
async fn create(
    state: web::Data<AppState>,
    _: Admin,
    body: web::Json<CourseBody>,
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
    let price = check.check(input::money("price", body.price.unwrap_or(-1)));
    let starts_on = check.check(
        body.starts_on
            .ok_or_else(|| AppError::invalid("startsOn", "startsOn is required (YYYY-MM-DD)")),
    );
    let seat_count = check.check(seats(body.seats.unwrap_or(0)));
    let (Some(title), Some(description), Some(price), Some(starts_on), Some(seat_count)) =
        (title, description, price, starts_on, seat_count)
    else {
        return Err(check.into_error());
    };
    let mut client = state.db.get().await?;
    let tx = client.transaction().await?;
    let id: Uuid = tx
        .query_one(
            "INSERT INTO courses (title, description, price, starts_on, seats, is_active)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            &[
                &title,
                &description,
                &price,
                &starts_on,
                &seat_count,
                &body.is_active.unwrap_or(true),
            ],
        )
        .await?
        .get(0);
    catalog_changed(&tx, "course", id, "created").await?;
    let created = find(&tx, id).await?;
    tx.commit().await?;
    Ok(envelope::created(
        "Course created",
        json!({ "course": created }),
    ))
}

#[put("/api/v1/courses/{id}")]
async fn update(
    state: web::Data<AppState>,
    _: Admin,
    id: web::Path<Uuid>,
    body: web::Json<CourseBody>,
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
    let price = body
        .price
        .and_then(|price| check.check(input::money("price", price)));
    let seat_count = body.seats.and_then(|count| check.check(seats(count)));
    check.finish()?;
    let mut client = state.db.get().await?;
    let tx = client.transaction().await?;
    // Locked like an approval locks it: seats never drop below what is approved.
    tx.query_opt(
        "SELECT 1 FROM courses WHERE id = $1 FOR NO KEY UPDATE",
        &[&id],
    )
    .await?
    .ok_or_else(|| input::not_found("course"))?;
    if let Some(count) = seat_count {
        let approved: i64 = tx
            .query_one("SELECT count(*) FROM course_applications WHERE course_id = $1 AND status = 'approved'", &[&id])
            .await?
            .get(0);
        if i64::from(count) < approved {
            return Err(AppError::conflict(format!(
                "{approved} applications are approved already"
            )));
        }
    }
    tx.execute(
        "UPDATE courses SET title = COALESCE($2, title), description = COALESCE($3, description),
             price = COALESCE($4, price), starts_on = COALESCE($5, starts_on), seats = COALESCE($6, seats),
             is_active = COALESCE($7, is_active), updated_at = clock_timestamp()
         WHERE id = $1",
        &[&id, &title, &description, &price, &body.starts_on, &seat_count, &body.is_active],
    )
    .await?;
    catalog_changed(&tx, "course", id, "updated").await?;
    let updated = find(&tx, id).await?;
    tx.commit().await?;
    Ok(envelope::ok("Course updated", json!({ "course": updated })))
}

#[delete("/api/v1/courses/{id}")]
async fn remove(
    state: web::Data<AppState>,
    _: Admin,
    id: web::Path<Uuid>,
) -> AppResult<HttpResponse> {
    let id = id.into_inner();
    let mut client = state.db.get().await?;
    let tx = client.transaction().await?;
    if tx
        .execute("DELETE FROM courses WHERE id = $1", &[&id])
        .await?
        == 0
    {
        return Err(input::not_found("course"));
    }
    catalog_changed(&tx, "course", id, "deleted").await?;
    tx.commit().await?;
    Ok(envelope::ok("Course deleted", json!({ "id": id })))
}
