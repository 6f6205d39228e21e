//! Appointments: booking one (no double booking, in the database itself), and reading them.

use actix_web::{get, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use hub_jobs::{ExpireReservation, Queues};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio_postgres::error::SqlState;
use tokio_postgres::Row;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::schedule::{Schedule, Span};
use super::{experts, input, mails, notifications, offers, APPOINTMENTS};
use crate::auth::{Admin, SignedIn};
use crate::error::{AppError, AppResult, FailureBody};
use crate::http::envelope::{self, Success};
use crate::http::pagination::{page_of, Listing, Page, Paginated};
use crate::mail::outbox;
use crate::state::AppState;

/// This module's operations in the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(create, mine, list, one))]
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

/// Where an appointment stands. (A schema only: the rows hold text.)
#[derive(Clone, Copy, ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum AppointmentStatus {
    /// Held, unpaid, until `expiresAt`.
    Reserved,
    /// Paid.
    Confirmed,
    Completed,
    NoShow,
    /// Not paid in time.
    Expired,
    Cancelled,
}

/// Whether an appointment is paid. (A schema only: the rows hold text.)
#[derive(Clone, Copy, ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum PaymentStatus {
    Unpaid,
    Paid,
}

/// A user an appointment belongs to.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AppointmentUser {
    pub id: Uuid,
    pub name: String,
    pub email: String,
}

/// What an appointment names: a service, a sub-service, an expert.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AppointmentPart {
    pub id: Uuid,
    pub name: String,
}

/// An appointment with the names a client shows beside it; also the payload of the
/// `appointment:*` events.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Appointment {
    pub id: Uuid,
    pub user: AppointmentUser,
    pub service: AppointmentPart,
    /// `null` when none was booked (or it was deleted since).
    #[schema(required = true)]
    pub sub_service: Option<AppointmentPart>,
    pub expert: AppointmentPart,
    /// The offer whose discount `totalPrice` includes.
    #[schema(required = true)]
    pub offer_id: Option<Uuid>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    #[schema(value_type = AppointmentStatus)]
    pub status: String,
    #[schema(value_type = PaymentStatus)]
    pub payment_status: String,
    /// In the currency's smallest unit, after any discount.
    pub total_price: i64,
    pub currency: String,
    /// When an unpaid reservation expires; `null` once paid (or when booked paid).
    #[schema(required = true)]
    pub expires_at: Option<DateTime<Utc>>,
    #[schema(required = true)]
    pub notes: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Appointment {
    /// What a mail about it says.
    pub fn about(&self) -> mails::About<'_> {
        mails::About {
            name: &self.user.name,
            service: &self.service.name,
            expert: &self.expert.name,
            starts_at: self.starts_at,
            total_price: self.total_price,
            currency: &self.currency,
        }
    }
}

/// `data` of an answer about one appointment.
#[derive(Serialize, ToSchema)]
pub struct OneAppointment {
    pub appointment: Appointment,
}

pub fn appointment(row: &Row) -> Appointment {
    let sub_service = row
        .get::<_, Option<Uuid>>("sub_service_id")
        .zip(row.get::<_, Option<String>>("sub_service_name"))
        .map(|(id, name)| AppointmentPart { id, name });
    Appointment {
        id: row.get("id"),
        user: AppointmentUser {
            id: row.get("user_id"),
            name: row.get("user_name"),
            email: row.get("user_email"),
        },
        service: AppointmentPart {
            id: row.get("service_id"),
            name: row.get("service_name"),
        },
        sub_service,
        expert: AppointmentPart {
            id: row.get("expert_id"),
            name: row.get("expert_name"),
        },
        offer_id: row.get("offer_id"),
        starts_at: row.get("starts_at"),
        ends_at: row.get("ends_at"),
        status: row.get("status"),
        payment_status: row.get("payment_status"),
        total_price: row.get("total_price"),
        currency: row.get("currency"),
        expires_at: row.get("expires_at"),
        notes: row.get("notes"),
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
    }
}

pub async fn find(client: &impl GenericClient, id: Uuid) -> AppResult<Option<Appointment>> {
    let row = client
        .query_opt(&format!("{SELECT} WHERE a.id = $1"), &[&id])
        .await?;
    Ok(row.as_ref().map(appointment))
}

/// Records `appointment:<action>` on `appointments` and on the owner's topic.
pub async fn announce(
    client: &impl GenericClient,
    action: &str,
    appointment: &Appointment,
) -> AppResult<()> {
    let name = format!("appointment:{action}");
    let data = json!({ "appointment": appointment });
    let owner = format!("user:{}", appointment.user.id);
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

/// A booking: a service (and sub-service) on a local date and time, with a named expert or the
/// least busy free one.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct BookingBody {
    #[schema(value_type = Uuid, required = true)]
    service_id: Option<Uuid>,
    /// A sub-service of `serviceId`: its minutes and price add to the service's.
    sub_service_id: Option<Uuid>,
    /// The expert wanted; left out, the least busy free expert who offers the service.
    expert_id: Option<Uuid>,
    /// The local date (`booking.timezone`), `YYYY-MM-DD`.
    #[schema(value_type = String, format = Date, required = true, example = "2030-01-02")]
    date: Option<String>,
    /// The local start time, `HH:MM`: on the slot grid from opening, the whole appointment
    /// within opening hours, not past.
    #[schema(
        value_type = String,
        required = true,
        pattern = "^([01][0-9]|2[0-3]):[0-5][0-9]$",
        example = "10:00"
    )]
    time: Option<String>,
    /// `true` books it paid and confirmed; `false` (the default) holds an unpaid reservation
    /// until it expires.
    #[serde(default)]
    pay_now: bool,
    /// An offer active now: its discount applies.
    offer_id: Option<Uuid>,
    /// Up to 2000 characters; blank is none.
    #[schema(max_length = 2000)]
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

/// Books an appointment for the caller, paid or held as a reservation (anyone signed in).
#[utoipa::path(
    request_body = BookingBody,
    responses(
        (status = 201, body = Success<OneAppointment>, description = "Booked, or held until `expiresAt`"),
        (status = 404, body = FailureBody, description = "No such service, sub-service of this service, expert or offer"),
        (status = 409, body = FailureBody, description = "The slot is taken, or no expert is free at this time"),
    ),
    security(("bearer" = []))
)]
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
    let expires_at = appointment.expires_at;
    announce(&tx, "created", &appointment).await?;
    let about = appointment.about();
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
    let mail = outbox::queue_mail(&tx, &letter.to(&appointment.user.email)).await?;
    tx.commit().await?;
    outbox::wake(&state.queues, mail).await;
    if let Some(expires_at) = expires_at {
        schedule_expiry(&state.queues, id, expires_at).await;
    }
    let message = match expires_at {
        None => "Booking confirmed".to_owned(),
        // As the JSON shows it.
        Some(at) => format!(
            "Reservation held until {}",
            at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
        ),
    };
    Ok(envelope::created(&message, OneAppointment { appointment }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct MineQuery {
    /// Only appointments in this status.
    #[param(value_type = Option<AppointmentStatus>)]
    status: Option<String>,
    #[param(value_type = Option<i64>, minimum = 1, maximum = 1_000_000_000)]
    page: Option<String>,
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100)]
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
    // Absent is every status; present must be one of them (`?status=` is a 400, as documented).
    match raw {
        None => Ok(None),
        Some(status) if STATUSES.contains(&status) => Ok(Some(status.to_owned())),
        Some(_) => Err(AppError::invalid(
            "status",
            format!("status is one of: {}", STATUSES.join(", ")),
        )),
    }
}

/// The caller's own appointments, newest booking first (anyone signed in).
#[utoipa::path(
    params(MineQuery),
    responses((status = 200, body = Success<Paginated<Appointment>>)),
    security(("bearer" = []))
)]
#[get("/api/v1/appointments/my")]
async fn mine(
    state: web::Data<AppState>,
    caller: SignedIn,
    query: web::Query<MineQuery>,
) -> AppResult<HttpResponse> {
    let page = Page::of(query.page.as_deref(), query.limit.as_deref())?;
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

/// One appointment (its owner or an admin; to anyone else it does not exist).
#[utoipa::path(
    responses((status = 200, body = Success<OneAppointment>)),
    security(("bearer" = []))
)]
#[get("/api/v1/appointments/{id}")]
async fn one(
    state: web::Data<AppState>,
    caller: SignedIn,
    id: web::Path<Uuid>,
) -> AppResult<HttpResponse> {
    let client = state.db.get().await?;
    let appointment = find(&client, id.into_inner())
        .await?
        .filter(|appointment| caller.role.is_admin() || appointment.user.id == caller.id)
        .ok_or_else(|| input::not_found("appointment"))?;
    Ok(envelope::ok("Appointment", OneAppointment { appointment }))
}

#[derive(Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Only appointments in this status.
    #[param(value_type = Option<AppointmentStatus>)]
    status: Option<String>,
    /// Only this expert's.
    expert_id: Option<Uuid>,
    /// Only this user's.
    user_id: Option<Uuid>,
    /// Only those starting at or after this time.
    from: Option<DateTime<Utc>>,
    /// Only those starting before this time.
    to: Option<DateTime<Utc>>,
    #[param(value_type = Option<i64>, minimum = 1, maximum = 1_000_000_000)]
    page: Option<String>,
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100)]
    limit: Option<String>,
}

/// Every appointment, by start time, filtered (admins).
#[utoipa::path(
    params(ListQuery),
    responses(
        (status = 200, body = Success<Paginated<Appointment>>),
        (status = 403, body = FailureBody, description = "Not an admin"),
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/appointments")]
async fn list(
    state: web::Data<AppState>,
    _: Admin,
    query: web::Query<ListQuery>,
) -> AppResult<HttpResponse> {
    let page = Page::of(query.page.as_deref(), query.limit.as_deref())?;
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
