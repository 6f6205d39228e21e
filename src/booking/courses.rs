//! Courses: public reads (cached like the catalogue) and the admin's changes.

use actix_web::{delete, get, post, put, web, HttpResponse};
use chrono::{DateTime, NaiveDate, Utc};
use deadpool_postgres::GenericClient;
use serde::{Deserialize, Serialize};
use tokio_postgres::Row;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{cache, catalog_changed, input};
use crate::auth::{Admin, MaybeSignedIn};
use crate::error::{AppError, AppResult, FailureBody};
use crate::http::envelope::{self, Deleted, Success};
use crate::http::validation::Validation;
use crate::state::AppState;

/// This module's operations in the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(list, one, create, update, remove))]
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

/// A course, with the seats its approved applications take.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Course {
    id: Uuid,
    title: String,
    #[schema(required = true)]
    description: Option<String>,
    /// In the currency's smallest unit.
    price: i64,
    starts_on: NaiveDate,
    seats: i32,
    /// Approved applications.
    seats_taken: i64,
    /// Inactive courses are shown to admins only.
    is_active: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// `data` of an answer about one course.
#[derive(Serialize, ToSchema)]
struct OneCourse {
    course: Course,
}

/// `data` of the list of courses (all of them, not paged).
#[derive(Serialize, ToSchema)]
struct CourseList {
    items: Vec<Course>,
}

fn course(row: &Row) -> Course {
    Course {
        id: row.get("id"),
        title: row.get("title"),
        description: row.get("description"),
        price: row.get("price"),
        starts_on: row.get("starts_on"),
        seats: row.get("seats"),
        seats_taken: row.get("seats_taken"),
        is_active: row.get("is_active"),
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
    }
}

pub async fn find(client: &impl GenericClient, id: Uuid) -> AppResult<Option<Course>> {
    let row = client
        .query_opt(&format!("{SELECT} WHERE c.id = $1"), &[&id])
        .await?;
    Ok(row.as_ref().map(course))
}

/// The course just written in this transaction (its row is there, and locked).
async fn written(client: &impl GenericClient, id: Uuid) -> AppResult<Course> {
    find(client, id)
        .await?
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("course {id} is gone after its write")))
}

/// The active courses by start (public; admins see the inactive ones too).
#[utoipa::path(
    responses((
        status = 200,
        body = Success<CourseList>,
        description = "Every course the caller may see",
        headers(("X-Cache" = String, description = "`hit` or `miss`: whether the cache answered")),
    )),
    security((), ("bearer" = []))
)]
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
        Ok(CourseList {
            items: rows.iter().map(course).collect(),
        })
    };
    if admin {
        return Ok(cache::uncached("Courses", load.await?));
    }
    cache::read(&state, "courses", "Courses", load).await
}

/// One course (public if active; admins see inactive ones too).
#[utoipa::path(
    responses((
        status = 200,
        body = Success<OneCourse>,
        description = "The course",
        headers(("X-Cache" = String, description = "`hit` or `miss`: whether the cache answered")),
    )),
    security((), ("bearer" = []))
)]
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
            .filter(|course| admin || course.is_active)
            .ok_or_else(|| input::not_found("course"))?;
        Ok(OneCourse { course })
    };
    if admin {
        return Ok(cache::uncached("Course", load.await?));
    }
    cache::read(&state, &format!("course:{id}"), "Course", load).await
}

/// The fields of a course to change; those left out (or null) stay as they are.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = CourseChanges)]
struct CourseBody {
    /// 1 to 200 characters.
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    title: Option<String>,
    /// Up to 5000 characters; blank leaves it as it is.
    #[schema(max_length = 5000)]
    description: Option<String>,
    /// In the currency's smallest unit: 0 to 10^12.
    #[schema(minimum = 0, maximum = 1_000_000_000_000_i64)]
    price: Option<i64>,
    starts_on: Option<NaiveDate>,
    /// 1 to 10000, and not fewer than the applications approved.
    #[schema(minimum = 1, maximum = 10_000)]
    seats: Option<i32>,
    is_active: Option<bool>,
}

// Only describes the body: `create` reads it as a `CourseBody` and requires these fields of it.
/// A course to create.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct NewCourse {
    /// 1 to 200 characters.
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    title: String,
    /// Up to 5000 characters; blank is none.
    #[schema(max_length = 5000)]
    description: Option<String>,
    /// In the currency's smallest unit: 0 to 10^12.
    #[schema(minimum = 0, maximum = 1_000_000_000_000_i64)]
    price: i64,
    starts_on: NaiveDate,
    /// 1 to 10000.
    #[schema(minimum = 1, maximum = 10_000)]
    seats: i32,
    /// Active unless `false`.
    is_active: Option<bool>,
}

fn seats(value: i32) -> AppResult<i32> {
    if !(1..=10_000).contains(&value) {
        return Err(AppError::invalid("seats", "seats must be 1 to 10000"));
    }
    Ok(value)
}

/// Creates a course (admins).
#[utoipa::path(
    request_body = NewCourse,
    responses(
        (status = 201, body = Success<OneCourse>, description = "The course"),
        (status = 403, body = FailureBody, description = "Not an admin"),
    ),
    security(("bearer" = []))
)]
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
    let course = written(&tx, id).await?;
    tx.commit().await?;
    Ok(envelope::created("Course created", OneCourse { course }))
}

/// Changes a course (admins).
#[utoipa::path(
    request_body = CourseBody,
    responses(
        (status = 200, body = Success<OneCourse>, description = "The course as it is now"),
        (status = 403, body = FailureBody, description = "Not an admin"),
        (status = 409, body = FailureBody, description = "Fewer seats than applications approved"),
    ),
    security(("bearer" = []))
)]
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
    let course = written(&tx, id).await?;
    tx.commit().await?;
    Ok(envelope::ok("Course updated", OneCourse { course }))
}

/// Deletes a course and its applications (admins).
#[utoipa::path(
    responses(
        (status = 200, body = Success<Deleted>, description = "The course is gone"),
        (status = 403, body = FailureBody, description = "Not an admin"),
    ),
    security(("bearer" = []))
)]
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
    Ok(envelope::ok("Course deleted", Deleted { id }))
}
