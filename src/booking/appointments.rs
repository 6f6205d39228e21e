//! Appointments: booking one (no double booking, in the database itself), and reading them.

use actix_web::{get, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use hub_jobs::{ExpireReservation, Queues};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio_postgres::error::SqlState;
use tokio_postgres::Row;
use uuid::Uuid;

use super::schedule::{Schedule, Span};
use super::{experts, input, mails, notifications, offers, APPOINTMENTS};
use crate::auth::{Admin, SignedIn};
use crate::error::{AppError, AppResult};
use crate::http::envelope;
use crate::http::pagination::{page_of, Listing, Page, PageQuery};
use crate::mail::outbox;
use crate::state::AppState;

/// This module's operations in the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi()]
pub struct ApiDoc;

pub fn routes(cfg: &mut web::ServiceConfig) {
    // `my` before `{id}`.
    cfg.service(create).service(mine).service(list).service(one);
}

/// An appointment with the names a client shows beside it.
pub const SELECT: &str = "SELECT a.id, a.user_id, u.name AS user_name, u.email AS user_email,
        a.service_id, s.name AS service_name, a.sub_service_id, ss.name AS sub_service_name,
        a.expert_id, e.name AS expert_name, a.offer_id, a.starts_at, a.ends_at, a.status,
        a.payment_status, a.total_price, a.currency, a.expires_at, a.notes, a.created_at, a.updated_at
     FROM appointments a JOIN users u ON u.id = a.user_id JOIN services s ON s.id = a.service_id
     LEFT JOIN sub_services ss ON ss.id = a.sub_service_id JOIN experts e ON e.id = a.expert_id";

pub fn appointment(row: &Row) -> Value {
    let sub_service = row
        .get::<_, Option<Uuid>>("sub_service_id")
        .map(|id| json!({"id": id, "name": row.get::<_, Option<String>>("sub_service_name")}));
    json!({
        "id": row.get::<_, Uuid>("id"),
        "user": {"id": row.get::<_, Uuid>("user_id"), "name": row.get::<_, String>("user_name"),
                 "email": row.get::<_, String>("user_email")},
        "service": {"id": row.get::<_, Uuid>("service_id"), "name": row.get::<_, String>("service_name")},
        "subService": sub_service,
        "expert": {"id": row.get::<_, Uuid>("expert_id"), "name": row.get::<_, String>("expert_name")},
        "offerId": row.get::<_, Option<Uuid>>("offer_id"),
        "startsAt": row.get::<_, DateTime<Utc>>("starts_at"),
        "endsAt": row.get::<_, DateTime<Utc>>("ends_at"),
        "status": row.get::<_, String>("status"),
        "paymentStatus": row.get::<_, String>("payment_status"),
        "totalPrice": row.get::<_, i64>("total_price"),
        "currency": row.get::<_, String>("currency"),
        "expiresAt": row.get::<_, Option<DateTime<Utc>>>("expires_at"),
        "notes": row.get::<_, Option<String>>("notes"),
        "createdAt": row.get::<_, DateTime<Utc>>("created_at"),
        "updatedAt": row.get::<_, DateTime<Utc>>("updated_at"),
    })
}

pub async fn find(client: &impl GenericClient, id: Uuid) -> AppResult<Option<Value>> {
    let row = client
        .query_opt(&format!("{SELECT} WHERE a.id = $1"), &[&id])
        .await?;
    Ok(row.as_ref().map(appointment))
}

/// Records `appointment:<action>` on `appointments` and on the owner's topic.
pub async fn announce(
    client: &impl GenericClient,
    action: &str,
    appointment: &Value,
) -> AppResult<()> {
    let name = format!("appointment:{action}");
    let data = json!({ "appointment": appointment });
    let owner = format!(
        "user:{}",
        appointment["user"]["id"].as_str().unwrap_or_default()
    );
    crate::events::record_all(
        client,
        &[
            hub_actors::Event::new(APPOINTMENTS, &name, data.clone()),
            hub_actors::Event::new(owner, &name, data),
        ],
    )
    .await?;
    Ok(())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BookingBody {
    service_id: Option<Uuid>,
    sub_service_id: Option<Uuid>,
    expert_id: Option<Uuid>,
    date: Option<String>,
    time: Option<String>,
    #[serde(default)]
    pay_now: bool,
    offer_id: Option<Uuid>,
    notes: Option<String>,
}

/// What the request asks for, parsed.
struct Booking {
    service: Uuid,
    sub_service: Option<Uuid>,
    expert: Option<Uuid>,
    date: chrono::NaiveDate,
    time: chrono::NaiveTime,
    pay_now: bool,
    offer: Option<Uuid>,
    notes: Option<String>,
}

fn parse(body: &BookingBody) -> AppResult<Booking> {
    let mut check = crate::http::validation::Validation::new();
    let service = check.check(
        body.service_id
            .ok_or_else(|| AppError::invalid("serviceId", "serviceId is required")),
    );
    let date = check.check(Schedule::parse_date(body.date.as_deref().unwrap_or("")));
    let time = check.check(Schedule::parse_time(body.time.as_deref().unwrap_or("")));
    let notes = check.check(input::optional_text("notes", body.notes.as_deref(), 2000));
    let (Some(service), Some(date), Some(time), Some(notes)) = (service, date, time, notes) else {
        return Err(check.into_error());
    };
    Ok(Booking {
        service,
        sub_service: body.sub_service_id,
        expert: body.expert_id,
        date,
        time,
        pay_now: body.pay_now,
        offer: body.offer_id,
        notes,
    })
}

/// The experts who offer `service` and are free for `span`, the asked-for one only when named.
async fn candidates(
    client: &impl GenericClient,
    service: Uuid,
    asked: Option<Uuid>,
    span: Span,
) -> AppResult<Vec<Uuid>> {
    if let Some(expert) = asked {
        let offers: Option<bool> = client
            .query_opt(
                "SELECT EXISTS (SELECT 1 FROM expert_services WHERE expert_id = e.id AND service_id = $2)
                 FROM experts e WHERE e.id = $1 AND e.is_active FOR KEY SHARE",
                &[&expert, &service],
            )
            .await?
            .map(|row| row.get(0));
        return match offers {
            None => Err(input::not_found("expert")),
            Some(false) => Err(AppError::invalid(
                "expertId",
                "This expert does not offer this service",
            )),
            Some(true) => Ok(vec![expert]),
        };
    }
    let rows = client
        .query(
            "SELECT e.id FROM experts e JOIN expert_services es ON es.expert_id = e.id
             WHERE es.service_id = $1 AND e.is_active AND NOT EXISTS (
                 SELECT 1 FROM appointments a WHERE a.expert_id = e.id
                   AND a.status IN ('reserved', 'confirmed') AND a.starts_at < $3 AND a.ends_at > $2)
             ORDER BY (SELECT count(*) FROM appointments a WHERE a.expert_id = e.id
                         AND a.status IN ('reserved', 'confirmed') AND a.starts_at >= $2 - interval '1 day'
                         AND a.starts_at < $3 + interval '1 day'), e.name, e.id
             FOR KEY SHARE OF e",
            &[&service, &span.0, &span.1],
        )
        .await?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}

#[post("/api/v1/appointments")]
async fn create(
    state: web::Data<AppState>,
    caller: SignedIn,
    body: web::Json<BookingBody>,
) -> AppResult<HttpResponse> {
    let booking = parse(&body)?;
    let settings = &state.settings.booking;
    let schedule = Schedule::new(settings);
    let mut client = state.db.get().await?;
    let mut tx = client.transaction().await?;
    let (minutes, price) =
        experts::length_and_price(&tx, booking.service, booking.sub_service).await?;
    let discount = match booking.offer {
        Some(offer) => offers::discount_now(&tx, offer).await?,
        None => 0,
    };
    let span = schedule.span(booking.date, booking.time, minutes, Utc::now())?;
    // The total after the discount, rounded down.
    let total = price * i64::from(100 - discount) / 100;
    let (status, payment) = if booking.pay_now {
        ("confirmed", "paid")
    } else {
        ("reserved", "unpaid")
    };
    // By the database's clock, the one every expiry and payment is judged by.
    let ttl_seconds = (!booking.pay_now).then_some(settings.reservation_ttl.as_secs_f64());
    let mut booked = None;
    for expert in candidates(&tx, booking.service, booking.expert, span).await? {
        // Each try in a savepoint: a slot taken meanwhile (the exclusion constraint) moves on to
        // the next free expert without losing the transaction.
        let attempt = tx.transaction().await?;
        let inserted = attempt
            .query_one(
                "INSERT INTO appointments (user_id, service_id, sub_service_id, expert_id, offer_id,
                     starts_at, ends_at, status, payment_status, total_price, currency, expires_at, notes)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11,
                         now() + make_interval(secs => $12::float8), $13) RETURNING id",
                &[&caller.id, &booking.service, &booking.sub_service, &expert, &booking.offer,
                  &span.0, &span.1, &status, &payment, &total, &settings.currency, &ttl_seconds, &booking.notes],
            )
            .await;
        match inserted {
            Ok(row) => {
                attempt.commit().await?;
                booked = Some(row.get::<_, Uuid>(0));
                break;
            }
            Err(error) if error.code() == Some(&SqlState::EXCLUSION_VIOLATION) => {
                attempt.rollback().await?;
                if booking.expert.is_some() {
                    return Err(error.into());
                }
            }
            Err(error) => return Err(error.into()),
        }
    }
    let id = booked.ok_or_else(|| {
        let message = match booking.expert {
            Some(_) => "This slot is already taken",
            None => "No expert is free at this time",
        };
        AppError::conflict(message).with_field("time", message)
    })?;
    let appointment = find(&tx, id)
        .await?
        .ok_or_else(|| input::not_found("appointment"))?;
    let expires_at: Option<DateTime<Utc>> = appointment["expiresAt"]
        .as_str()
        .and_then(|at| at.parse().ok());
    announce(&tx, "created", &appointment).await?;
    let about = mails::About::of(&appointment)
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("appointment without names")))?;
    let (letter, title) = match expires_at {
        None => (
            mails::confirmed(&about, settings.timezone),
            "Booking confirmed",
        ),
        Some(expires_at) => (
            mails::reserved(&about, expires_at, settings.timezone),
            "Reservation held",
        ),
    };
    notifications::notify(
        &tx,
        caller.id,
        "appointment_created",
        title,
        &letter.body,
        json!({ "appointmentId": id }),
    )
    .await?;
    let email = appointment["user"]["email"].as_str().unwrap_or_default();
    let mail = outbox::queue_mail(&tx, &letter.to(email)).await?;
    tx.commit().await?;
    outbox::wake(&state.queues, mail).await;
    if let Some(expires_at) = expires_at {
        schedule_expiry(&state.queues, id, expires_at).await;
    }
    let message = match expires_at {
        None => "Booking confirmed".to_owned(),
        Some(_) => format!(
            "Reservation held until {}",
            appointment["expiresAt"].as_str().unwrap_or_default()
        ),
    };
    Ok(envelope::created(
        &message,
        json!({ "appointment": appointment }),
    ))
}

#[derive(Deserialize)]
struct MineQuery {
    status: Option<String>,
    page: Option<String>,
    limit: Option<String>,
}

const STATUSES: [&str; 6] = [
    "reserved",
    "confirmed",
    "completed",
    "no_show",
    "expired",
    "cancelled",
];

pub fn status_filter(raw: Option<&str>) -> AppResult<Option<String>> {
    match raw.map(str::trim).filter(|status| !status.is_empty()) {
        None => Ok(None),
        Some(status) if STATUSES.contains(&status) => Ok(Some(status.to_owned())),
        Some(_) => Err(AppError::invalid(
            "status",
            format!("status is one of: {}", STATUSES.join(", ")),
        )),
    }
}

#[get("/api/v1/appointments/my")]
async fn mine(
    state: web::Data<AppState>,
    caller: SignedIn,
    query: web::Query<MineQuery>,
) -> AppResult<HttpResponse> {
    let page = Page::parse(&PageQuery {
        page: query.page.clone(),
        limit: query.limit.clone(),
    })?;
    let status = status_filter(query.status.as_deref())?;
    let client = state.db.get().await?;
    let filter = "a.user_id = $1 AND ($2::text IS NULL OR a.status = $2)";
    let listing = Listing {
        count_from: "appointments a",
        select: SELECT,
        filter,
        order: "a.created_at DESC, a.id DESC",
    };
    let items = page_of(&client, &listing, &[&caller.id, &status], page, appointment).await?;
    Ok(envelope::ok("Your appointments", items))
}

#[get("/api/v1/appointments/{id}")]
async fn one(
    state: web::Data<AppState>,
    caller: SignedIn,
    id: web::Path<Uuid>,
) -> AppResult<HttpResponse> {
    let client = state.db.get().await?;
    let appointment = find(&client, id.into_inner())
        .await?
        .filter(|appointment| {
            caller.role.is_admin() || appointment["user"]["id"] == json!(caller.id)
        })
        .ok_or_else(|| input::not_found("appointment"))?;
    Ok(envelope::ok(
        "Appointment",
        json!({ "appointment": appointment }),
    ))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListQuery {
    status: Option<String>,
    expert_id: Option<Uuid>,
    user_id: Option<Uuid>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    page: Option<String>,
    limit: Option<String>,
}

#[get("/api/v1/appointments")]
async fn list(
    state: web::Data<AppState>,
    _: Admin,
    query: web::Query<ListQuery>,
) -> AppResult<HttpResponse> {
    let page = Page::parse(&PageQuery {
        page: query.page.clone(),
        limit: query.limit.clone(),
    })?;
    let status = status_filter(query.status.as_deref())?;
    let client = state.db.get().await?;
    let filter = "($1::text IS NULL OR a.status = $1) AND ($2::uuid IS NULL OR a.expert_id = $2)
         AND ($3::uuid IS NULL OR a.user_id = $3) AND ($4::timestamptz IS NULL OR a.starts_at >= $4)
         AND ($5::timestamptz IS NULL OR a.starts_at < $5)";
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 5] = [
        &status,
        &query.expert_id,
        &query.user_id,
        &query.from,
        &query.to,
    ];
    let listing = Listing {
        count_from: "appointments a",
        select: SELECT,
        filter,
        order: "a.starts_at, a.id",
    };
    let items = page_of(&client, &listing, &params, page, appointment).await?;
    Ok(envelope::ok("Appointments", items))
}

/// Schedules the expiry job; a failure is logged, not returned: the row is the truth and the
/// sweep expires it anyway.
async fn schedule_expiry(queues: &Queues, appointment: Uuid, expires_at: DateTime<Utc>) {
    // apalis has whole seconds: schedule at the second that holds `expires_at` (up to a second
    // early); the handler waits for the exact time.
    let run_at = expires_at.timestamp().max(0) as u64;
    let job = ExpireReservation {
        appointment_id: appointment,
    };
    if let Err(error) = queues.expire_reservation(job, run_at).await {
        tracing::warn!(%error, %appointment, "expiry not scheduled; the sweep will expire it");
    }
}
