//! Course applications: apply once per course; an admin approves or rejects; approvals never
//! exceed the course's seats (the course row is locked while they are counted); the applicant is
//! told the decision (`notification:created`).

use actix_web::{get, post, put, web, HttpResponse};
use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio_postgres::Row;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{catalog_changed, input, notifications};
use crate::auth::{Admin, SignedIn};
use crate::error::{AppError, AppResult, FailureBody};
use crate::http::envelope::{self, Success};
use crate::http::pagination::{page_of, Listing, Page, PageQuery, Paginated};
use crate::state::AppState;

/// This module's operations in the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(apply, mine, list, decide))]
pub struct ApiDoc;

pub fn routes(cfg: &mut web::ServiceConfig) {
    // `my` before anything with an id.
    cfg.service(apply)
        .service(mine)
        .service(list)
        .service(decide);
}

const SELECT: &str = "SELECT a.id, a.course_id, c.title AS course_title, a.user_id, u.name AS user_name,
        u.email AS user_email, a.message, a.status, a.decided_at, a.created_at
     FROM course_applications a JOIN courses c ON c.id = a.course_id JOIN users u ON u.id = a.user_id";

/// Where an application stands.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
enum ApplicationStatus {
    Pending,
    Approved,
    Rejected,
}

/// An admin's decision on an application.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
enum ApplicationDecision {
    Approved,
    Rejected,
}

/// An application to a course.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct CourseApplication {
    id: Uuid,
    course: AppliedCourse,
    user: Applicant,
    #[schema(required = true)]
    message: Option<String>,
    #[schema(value_type = ApplicationStatus)]
    status: String,
    /// When an admin last decided; null while pending.
    #[schema(required = true)]
    decided_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
}

/// The course applied to.
#[derive(Serialize, ToSchema)]
struct AppliedCourse {
    id: Uuid,
    title: String,
}

/// Who applied.
#[derive(Serialize, ToSchema)]
struct Applicant {
    id: Uuid,
    name: String,
    email: String,
}

/// `data` of an answer about one application.
#[derive(Serialize, ToSchema)]
struct OneApplication {
    application: CourseApplication,
}

fn application(row: &Row) -> CourseApplication {
    CourseApplication {
        id: row.get("id"),
        course: AppliedCourse {
            id: row.get("course_id"),
            title: row.get("course_title"),
        },
        user: Applicant {
            id: row.get("user_id"),
            name: row.get("user_name"),
            email: row.get("user_email"),
        },
        message: row.get("message"),
        status: row.get("status"),
        decided_at: row.get("decided_at"),
        created_at: row.get("created_at"),
    }
}

async fn find(client: &impl GenericClient, id: Uuid) -> AppResult<Option<CourseApplication>> {
    let row = client
        .query_opt(&format!("{SELECT} WHERE a.id = $1"), &[&id])
        .await?;
    Ok(row.as_ref().map(application))
}

/// The application just written in this transaction (its row is there, and locked).
async fn written(client: &impl GenericClient, id: Uuid) -> AppResult<CourseApplication> {
    find(client, id).await?.ok_or_else(|| {
        AppError::internal(anyhow::anyhow!("application {id} is gone after its write"))
    })
}

/// Approved applications of a course and its seats, the course row locked; 404 for no such
/// course (or, with `active_only`, an inactive one).
async fn seats_locked(
    client: &impl GenericClient,
    course: Uuid,
    active_only: bool,
) -> AppResult<(i64, i64)> {
    let row = client
        .query_opt(
            "SELECT seats FROM courses WHERE id = $1 AND (is_active OR NOT $2) FOR NO KEY UPDATE",
            &[&course, &active_only],
        )
        .await?
        .ok_or_else(|| input::not_found("course"))?;
    let approved: i64 = client
        .query_one(
            "SELECT count(*) FROM course_applications WHERE course_id = $1 AND status = 'approved'",
            &[&course],
        )
        .await?
        .get(0);
    Ok((approved, i64::from(row.get::<_, i32>(0))))
}

/// An application to a course.
#[derive(Deserialize, ToSchema)]
#[schema(as = CourseApplicationBody)]
struct ApplyBody {
    /// Up to 2000 characters; blank is none.
    #[schema(max_length = 2000)]
    message: Option<String>,
}

/// Applies to an active course with seats left, once per course (anyone signed in).
#[utoipa::path(
    request_body = ApplyBody,
    responses(
        (status = 201, body = Success<OneApplication>, description = "The application, pending"),
        (status = 409, body = FailureBody, description = "The course is full, or the caller applied already"),
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/courses/{id}/apply")]
async fn apply(
    state: web::Data<AppState>,
    caller: SignedIn,
    id: web::Path<Uuid>,
    body: web::Json<ApplyBody>,
) -> AppResult<HttpResponse> {
    let course = id.into_inner();
    let message = input::optional_text("message", body.message.as_deref(), 2000)?;
    let mut client = state.db.get().await?;
    let tx = client.transaction().await?;
    let (approved, seats) = seats_locked(&tx, course, true).await?;
    if approved >= seats {
        return Err(AppError::conflict("This course is full"));
    }
    let id: Uuid = tx
        .query_one(
            "INSERT INTO course_applications (course_id, user_id, message) VALUES ($1, $2, $3) RETURNING id",
            &[&course, &caller.id, &message],
        )
        .await?
        .get(0);
    let application = written(&tx, id).await?;
    tx.commit().await?;
    Ok(envelope::created(
        "Application sent",
        OneApplication { application },
    ))
}

/// The caller's own course applications, newest first (anyone signed in).
#[utoipa::path(
    params(PageQuery),
    responses((status = 200, body = Success<Paginated<CourseApplication>>, description = "A page of applications")),
    security(("bearer" = []))
)]
#[get("/api/v1/course-applications/my")]
async fn mine(
    state: web::Data<AppState>,
    caller: SignedIn,
    query: web::Query<PageQuery>,
) -> AppResult<HttpResponse> {
    let page = Page::parse(&query)?;
    let client = state.db.get().await?;
    let listing = Listing {
        count_from: "course_applications a",
        select: SELECT,
        filter: "a.user_id = $1",
        order: "a.created_at DESC, a.id",
    };
    let items = page_of(&client, &listing, &[&caller.id], page, application).await?;
    Ok(envelope::ok("Your applications", items))
}

const STATUSES: [&str; 3] = ["pending", "approved", "rejected"];

#[derive(Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Only this course's applications.
    course_id: Option<Uuid>,
    /// Only applications in this state: `pending`, `approved` or `rejected` (blank is any).
    #[param(value_type = Option<String>, pattern = r"^\s*(pending|approved|rejected)?\s*$")]
    status: Option<String>,
    #[param(value_type = Option<i64>, minimum = 1, maximum = 1_000_000_000)]
    page: Option<String>,
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100)]
    limit: Option<String>,
}

/// Applications, oldest first, of a course or in a state or all (admins).
#[utoipa::path(
    params(ListQuery),
    responses(
        (status = 200, body = Success<Paginated<CourseApplication>>, description = "A page of applications"),
        (status = 403, body = FailureBody, description = "Not an admin"),
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/course-applications")]
async fn list(
    state: web::Data<AppState>,
    _: Admin,
    query: web::Query<ListQuery>,
) -> AppResult<HttpResponse> {
    let page = Page::of(query.page.as_deref(), query.limit.as_deref())?;
    let status = match query
        .status
        .as_deref()
        .map(str::trim)
        .filter(|status| !status.is_empty())
    {
        None => None,
        Some(status) if STATUSES.contains(&status) => Some(status.to_owned()),
        Some(_) => {
            return Err(AppError::invalid(
                "status",
                "status is pending, approved or rejected",
            ))
        }
    };
    let client = state.db.get().await?;
    let filter = "($1::uuid IS NULL OR a.course_id = $1) AND ($2::text IS NULL OR a.status = $2)";
    let listing = Listing {
        count_from: "course_applications a",
        select: SELECT,
        filter,
        order: "a.created_at, a.id",
    };
    let items = page_of(
        &client,
        &listing,
        &[&query.course_id, &status],
        page,
        application,
    )
    .await?;
    Ok(envelope::ok("Applications", items))
}

/// An admin's decision on an application.
#[derive(Deserialize, ToSchema)]
#[schema(as = CourseApplicationDecision)]
struct DecisionBody {
    #[serde(default)]
    #[schema(value_type = ApplicationDecision, required = true)]
    status: String,
}

/// Approves or rejects an application within the course's seats, notifying the applicant (admins).
#[utoipa::path(
    request_body = DecisionBody,
    params(("id" = Uuid, Path, description = "The application")),
    responses(
        (status = 200, body = Success<OneApplication>, description = "The application as decided"),
        (status = 403, body = FailureBody, description = "Not an admin"),
        (status = 409, body = FailureBody, description = "The application is in that state already, or the course's seats are all taken"),
    ),
    security(("bearer" = []))
)]
#[put("/api/v1/course-applications/{id}/status")]
async fn decide(
    state: web::Data<AppState>,
    _: Admin,
    id: web::Path<Uuid>,
    body: web::Json<DecisionBody>,
) -> AppResult<HttpResponse> {
    let id = id.into_inner();
    let decision = body.status.trim();
    if !matches!(decision, "approved" | "rejected") {
        return Err(AppError::invalid(
            "status",
            "status is approved or rejected",
        ));
    }
    let mut client = state.db.get().await?;
    let tx = client.transaction().await?;
    let current = find(&tx, id)
        .await?
        .ok_or_else(|| input::not_found("application"))?;
    let course = current.course.id;
    // The course's row first: concurrent approvals count the seats one after another.
    let (approved, seats) = seats_locked(&tx, course, false).await?;
    let status: String = tx
        .query_opt(
            "SELECT status FROM course_applications WHERE id = $1 FOR UPDATE",
            &[&id],
        )
        .await?
        .ok_or_else(|| input::not_found("application"))?
        .get(0);
    if status == decision {
        return Err(AppError::conflict(format!(
            "This application is {status} already"
        )));
    }
    if decision == "approved" && approved >= seats {
        return Err(AppError::conflict("The course's seats are all taken"));
    }
    tx.execute(
        "UPDATE course_applications SET status = $2, decided_at = now(), updated_at = clock_timestamp() WHERE id = $1",
        &[&id, &decision],
    )
    .await?;
    let application = find(&tx, id)
        .await?
        .ok_or_else(|| input::not_found("application"))?;
    let applicant = application.user.id;
    let title = &application.course.title;
    let (kind, headline) = if decision == "approved" {
        (
            "course_application_approved",
            "Your course application was approved",
        )
    } else {
        (
            "course_application_rejected",
            "Your course application was not accepted",
        )
    };
    notifications::notify(
        &tx,
        applicant,
        kind,
        headline,
        &format!("{headline}: {title}"),
        json!({ "applicationId": id, "courseId": course }),
    )
    .await?;
    if decision == "approved" || status == "approved" {
        // `seatsTaken` changed: the course's readers hear of it, and its cached reads go stale.
        catalog_changed(&tx, "course", course, "updated").await?;
    }
    tx.commit().await?;
    Ok(envelope::ok(
        "Decision recorded",
        OneApplication { application },
    ))
}
