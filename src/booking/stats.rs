//! `GET /api/v1/dashboard/stats`: the admin's figures over a range (default: this month, in
//! `booking.timezone`).

use std::collections::BTreeMap;

use actix_web::{get, web, HttpResponse};
use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::auth::Admin;
use crate::error::{AppError, AppResult, FailureBody};
use crate::http::envelope::{self, Success};
use crate::state::AppState;

/// This module's operations in the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(stats))]
pub struct ApiDoc;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(stats);
}

/// The range of start times (and sign-ups) counted; both default to this month's bounds.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct Range {
    /// From this time on (default: the start of this month).
    from: Option<DateTime<Utc>>,
    /// Before this time, after `from` (default: the start of next month).
    to: Option<DateTime<Utc>>,
}

/// `data` of the dashboard.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct DashboardStats {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    /// Appointments starting in the range.
    appointments: DashboardAppointments,
    revenue: DashboardRevenue,
    users: DashboardUsers,
    /// Up to five services with the most appointments starting in the range.
    top_services: Vec<DashboardTopService>,
    /// Reserved or confirmed appointments yet to start (whatever the range).
    upcoming: i64,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct DashboardAppointments {
    total: i64,
    /// The count of each status that occurs (`reserved`, `confirmed`, `completed`, `no_show`,
    /// `expired`, `cancelled`); a status with none is left out.
    by_status: BTreeMap<String, i64>,
}

/// What paid appointments starting in the range bring.
#[derive(Serialize, ToSchema)]
struct DashboardRevenue {
    /// In the currency's smallest unit.
    paid: i64,
    currency: String,
}

#[derive(Serialize, ToSchema)]
struct DashboardUsers {
    /// Every user.
    total: i64,
    /// Users who signed up in the range.
    new: i64,
}

#[derive(Serialize, ToSchema)]
struct DashboardTopService {
    id: Uuid,
    name: String,
    /// Its appointments starting in the range.
    count: i64,
    /// What the paid ones among them bring.
    revenue: i64,
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

/// The admin's figures over a range: appointments by status, revenue, users, top services.
#[utoipa::path(
    params(Range),
    responses(
        (status = 200, body = Success<DashboardStats>),
        (status = 403, body = FailureBody, description = "Not an admin"),
    ),
    security(("bearer" = []))
)]
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
    let mut statuses = BTreeMap::new();
    let mut total = 0i64;
    for row in &by_status {
        let count: i64 = row.get(1);
        total += count;
        statuses.insert(row.get::<_, String>(0), count);
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
    let top_services = top
        .iter()
        .map(|row| DashboardTopService {
            id: row.get(0),
            name: row.get(1),
            count: row.get(2),
            revenue: row.get(3),
        })
        .collect();
    Ok(envelope::ok(
        "Dashboard",
        DashboardStats {
            from,
            to,
            appointments: DashboardAppointments {
                total,
                by_status: statuses,
            },
            revenue: DashboardRevenue {
                paid: figures.get(0),
                currency: state.settings.booking.currency.clone(),
            },
            users: DashboardUsers {
                total: figures.get(1),
                new: figures.get(2),
            },
            top_services,
            upcoming: figures.get(3),
        },
    ))
}
