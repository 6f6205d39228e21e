//! Notifications: what the hub tells a user about their appointments (and, later, courses).
//! Each is a row and a `notification:created` event on `user:<id>`, in the change's transaction.

use actix_web::{get, put, web, HttpResponse};
use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use hub_actors::Event;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio_postgres::Row;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::input;
use crate::auth::SignedIn;
use crate::error::AppResult;
use crate::http::envelope::{self, Success};
use crate::http::pagination::{Page, Paginated};
use crate::state::AppState;

/// This module's operations in the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(list, mark_read, read_all))]
pub struct ApiDoc;

pub fn routes(cfg: &mut web::ServiceConfig) {
    // `read-all` before `{id}/read`.
    cfg.service(read_all).service(list).service(mark_read);
}

const COLUMNS: &str = "id, kind, title, body, data, read_at, created_at";

/// Something the hub told a user; also the payload of `notification:created`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    pub id: Uuid,
    /// What it is about: `appointment_created`, `appointment_confirmed`, `appointment_cancelled`,
    /// `appointment_completed`, `appointment_expired`, `course_application_approved`,
    /// `course_application_rejected`.
    pub kind: String,
    pub title: String,
    pub body: String,
    /// The ids it is about: `{appointmentId}` or `{applicationId, courseId}`.
    #[schema(value_type = Object)]
    pub data: Value,
    /// Whether it was marked as read.
    pub read: bool,
    #[schema(required = true)]
    pub read_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

fn notification(row: &Row) -> Notification {
    let read_at: Option<DateTime<Utc>> = row.get("read_at");
    Notification {
        id: row.get("id"),
        kind: row.get("kind"),
        title: row.get("title"),
        body: row.get("body"),
        data: row.get("data"),
        read: read_at.is_some(),
        read_at,
        created_at: row.get("created_at"),
    }
}

/// `data` of the caller's notifications: a page, and how many are unread in all.
#[derive(Serialize, ToSchema)]
struct NotificationPage {
    #[serde(flatten)]
    listed: Paginated<Notification>,
    /// How many of the caller's are unread.
    unread: i64,
}

/// `data` of an answer about one notification.
#[derive(Serialize, ToSchema)]
struct OneNotification {
    notification: Notification,
}

/// `data` of marking all as read.
#[derive(Serialize, ToSchema)]
struct MarkedRead {
    /// How many were unread.
    marked: u64,
}

/// Tells `user` something, in the transaction of what happened.
pub async fn notify(
    client: &impl GenericClient,
    user: Uuid,
    kind: &str,
    title: &str,
    body: &str,
    data: Value,
) -> AppResult<()> {
    let row = client
        .query_one(
            &format!(
                "INSERT INTO notifications (user_id, kind, title, body, data) VALUES ($1, $2, $3, $4, $5)
                 RETURNING {COLUMNS}"
            ),
            &[&user, &kind, &title, &body, &data],
        )
        .await?;
    let event = Event::new(
        format!("user:{user}"),
        "notification:created",
        json!({ "notification": notification(&row) }),
    );
    crate::events::record(client, &event).await?;
    Ok(())
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// `true`: only the unread ones.
    unread: Option<bool>,
    #[param(value_type = Option<i64>, minimum = 1, maximum = 1_000_000_000)]
    page: Option<String>,
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100)]
    limit: Option<String>,
}

/// The caller's notifications, newest first (anyone signed in).
#[utoipa::path(
    params(ListQuery),
    responses((status = 200, body = Success<NotificationPage>)),
    security(("bearer" = []))
)]
#[get("/api/v1/notifications")]
async fn list(
    state: web::Data<AppState>,
    caller: SignedIn,
    query: web::Query<ListQuery>,
) -> AppResult<HttpResponse> {
    let page = Page::of(query.page.as_deref(), query.limit.as_deref())?;
    let only_unread = query.unread == Some(true);
    let client = state.db.get().await?;
    let counts = client
        .query_one(
            "SELECT count(*) FILTER (WHERE NOT $2 OR read_at IS NULL), count(*) FILTER (WHERE read_at IS NULL)
             FROM notifications WHERE user_id = $1",
            &[&caller.id, &only_unread],
        )
        .await?;
    let rows = client
        .query(
            &format!(
                "SELECT {COLUMNS} FROM notifications WHERE user_id = $1 AND (NOT $2 OR read_at IS NULL)
                 ORDER BY created_at DESC, id DESC LIMIT $3 OFFSET $4"
            ),
            &[&caller.id, &only_unread, &page.limit, &page.offset()],
        )
        .await?;
    Ok(envelope::ok(
        "Notifications",
        NotificationPage {
            listed: Paginated::new(rows.iter().map(notification).collect(), page, counts.get(0)),
            unread: counts.get(1),
        },
    ))
}

/// Marks one of the caller's notifications as read (anyone signed in, their own).
#[utoipa::path(
    responses((status = 200, body = Success<OneNotification>)),
    security(("bearer" = []))
)]
#[put("/api/v1/notifications/{id}/read")]
async fn mark_read(
    state: web::Data<AppState>,
    caller: SignedIn,
    id: web::Path<Uuid>,
) -> AppResult<HttpResponse> {
    let client = state.db.get().await?;
    let row = client
        .query_opt(
            &format!(
                "UPDATE notifications SET read_at = COALESCE(read_at, now())
                 WHERE id = $1 AND user_id = $2 RETURNING {COLUMNS}"
            ),
            &[&id.into_inner(), &caller.id],
        )
        .await?
        .ok_or_else(|| input::not_found("notification"))?;
    Ok(envelope::ok(
        "Marked as read",
        OneNotification {
            notification: notification(&row),
        },
    ))
}

/// Marks all of the caller's notifications as read (anyone signed in).
#[utoipa::path(
    responses((status = 200, body = Success<MarkedRead>)),
    security(("bearer" = []))
)]
#[put("/api/v1/notifications/read-all")]
async fn read_all(state: web::Data<AppState>, caller: SignedIn) -> AppResult<HttpResponse> {
    let client = state.db.get().await?;
    let marked = client
        .execute(
            "UPDATE notifications SET read_at = now() WHERE user_id = $1 AND read_at IS NULL",
            &[&caller.id],
        )
        .await?;
    Ok(envelope::ok("All marked as read", MarkedRead { marked }))
}
