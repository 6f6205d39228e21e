//! Notifications: what the hub tells a user about their appointments (and, later, courses).
//! Each is a row and a `notification:created` event on `user:<id>`, in the change's transaction.

use actix_web::{get, put, web, HttpResponse};
use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use hub_actors::Event;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio_postgres::Row;
use uuid::Uuid;

use super::input;
use crate::auth::SignedIn;
use crate::error::AppResult;
use crate::http::envelope;
use crate::http::pagination::{Page, PageQuery};
use crate::state::AppState;

/// This module's operations in the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi()]
pub struct ApiDoc;

pub fn routes(cfg: &mut web::ServiceConfig) {
    // `read-all` before `{id}/read`.
    cfg.service(read_all).service(list).service(mark_read);
}

const COLUMNS: &str = "id, kind, title, body, data, read_at, created_at";

fn notification(row: &Row) -> Value {
    json!({
        "id": row.get::<_, Uuid>("id"),
        "kind": row.get::<_, String>("kind"),
        "title": row.get::<_, String>("title"),
        "body": row.get::<_, String>("body"),
        "data": row.get::<_, Value>("data"),
        "read": row.get::<_, Option<DateTime<Utc>>>("read_at").is_some(),
        "readAt": row.get::<_, Option<DateTime<Utc>>>("read_at"),
        "createdAt": row.get::<_, DateTime<Utc>>("created_at"),
    })
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

#[derive(Deserialize)]
struct ListQuery {
    unread: Option<bool>,
    page: Option<String>,
    limit: Option<String>,
}

#[get("/api/v1/notifications")]
async fn list(
    state: web::Data<AppState>,
    caller: SignedIn,
    query: web::Query<ListQuery>,
) -> AppResult<HttpResponse> {
    let page = Page::parse(&PageQuery {
        page: query.page.clone(),
        limit: query.limit.clone(),
    })?;
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
        json!({
            "items": rows.iter().map(notification).collect::<Vec<_>>(),
            "page": page.page, "limit": page.limit,
            "total": counts.get::<_, i64>(0), "unread": counts.get::<_, i64>(1),
        }),
    ))
}

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
        json!({ "notification": notification(&row) }),
    ))
}

#[put("/api/v1/notifications/read-all")]
async fn read_all(state: web::Data<AppState>, caller: SignedIn) -> AppResult<HttpResponse> {
    let client = state.db.get().await?;
    let marked = client
        .execute(
            "UPDATE notifications SET read_at = now() WHERE user_id = $1 AND read_at IS NULL",
            &[&caller.id],
        )
        .await?;
    Ok(envelope::ok(
        "All marked as read",
        json!({ "marked": marked }),
    ))
}
