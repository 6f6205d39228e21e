//! `GET /api/v1/dashboard/stats`: the admin's figures over a range (default: this month, in
//! `booking.timezone`).

use actix_web::{get, web, HttpResponse};
use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use uuid::Uuid;

use crate::auth::Admin;
use crate::error::{AppError, AppResult};
use crate::http::envelope;
use crate::state::AppState;

/// This module's operations in the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi()]
pub struct ApiDoc;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(stats);
}

#[derive(Deserialize)]
struct Range {
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
}

fn this_month(timezone: chrono_tz::Tz) -> AppResult<(DateTime<Utc>, DateTime<Utc>)> {
    let today = Utc::now().with_timezone(&timezone).date_naive();
    let first = NaiveDate::from_ymd_opt(today.year(), today.month(), 1);
    let next = first.and_then(|first| first.checked_add_months(chrono::Months::new(1)));
    let local = |date: Option<NaiveDate>| {
        date.and_then(|date| {
            timezone
                .from_local_datetime(&date.and_time(chrono::NaiveTime::MIN))
                .single()
        })
        .map(|time| time.with_timezone(&Utc))
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("no start of month")))
    };
    Ok((local(first)?, local(next)?))
}

#[get("/api/v1/dashboard/stats")]
async fn stats(
    state: web::Data<AppState>,
    _: Admin,
    range: web::Query<Range>,
) -> AppResult<HttpResponse> {
    let (default_from, default_to) = this_month(state.settings.booking.timezone)?;
    let from = range.from.unwrap_or(default_from);
    let to = range.to.unwrap_or(default_to);
    if from >= to {
        return Err(AppError::invalid("to", "to must be after from"));
    }
    let client = state.db.get().await?;
    let by_status = client
        .query(
            "SELECT status, count(*) FROM appointments WHERE starts_at >= $1 AND starts_at < $2 GROUP BY status",
            &[&from, &to],
        )
        .await?;
    let mut statuses = Map::new();
    let mut total = 0i64;
    for row in &by_status {
        let count: i64 = row.get(1);
        total += count;
        statuses.insert(row.get::<_, String>(0), json!(count));
    }
    let figures = client
        .query_one(
            "SELECT
                 (SELECT COALESCE(sum(total_price), 0)::bigint FROM appointments
                   WHERE payment_status = 'paid' AND starts_at >= $1 AND starts_at < $2),
                 (SELECT count(*) FROM users),
                 (SELECT count(*) FROM users WHERE created_at >= $1 AND created_at < $2),
                 (SELECT count(*) FROM appointments WHERE status IN ('reserved', 'confirmed') AND starts_at > now())",
            &[&from, &to],
        )
        .await?;
    let top = client
        .query(
            "SELECT s.id, s.name, count(*) AS bookings,
                 COALESCE(sum(a.total_price) FILTER (WHERE a.payment_status = 'paid'), 0)::bigint AS revenue
             FROM appointments a JOIN services s ON s.id = a.service_id
             WHERE a.starts_at >= $1 AND a.starts_at < $2
             GROUP BY s.id, s.name ORDER BY bookings DESC, revenue DESC, s.name LIMIT 5",
            &[&from, &to],
        )
        .await?;
    let top: Vec<Value> = top
        .iter()
        .map(|row| {
            json!({"id": row.get::<_, Uuid>(0), "name": row.get::<_, String>(1),
                   "count": row.get::<_, i64>(2), "revenue": row.get::<_, i64>(3)})
        })
        .collect();
    Ok(envelope::ok(
        "Dashboard",
        json!({
            "from": from, "to": to,
            "appointments": {"total": total, "byStatus": statuses},
            "revenue": {"paid": figures.get::<_, i64>(0), "currency": state.settings.booking.currency},
            "users": {"total": figures.get::<_, i64>(1), "new": figures.get::<_, i64>(2)},
            "topServices": top,
            "upcoming": figures.get::<_, i64>(3),
        }),
    ))
}
