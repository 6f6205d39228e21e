//! Moving an appointment on: cancel (its user or an admin), the admin's status moves, and pay.
//! Each move is one statement that names the statuses it may leave, so of two racing moves (a
//! payment and the expiry, say) the first wins and the second changes nothing.

use actix_web::{delete, put, web, HttpResponse};
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use super::appointments::{announce, find, Appointment, OneAppointment};
use super::{input, mails, notifications};
use crate::auth::{Admin, SignedIn};
use crate::error::{AppError, AppResult, FailureBody};
use crate::http::envelope::{self, Success};
use crate::mail::outbox;
use crate::state::AppState;

/// This module's operations in the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(cancel, set_status, pay))]
pub struct ApiDoc;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(cancel).service(set_status).service(pay);
}

/// What a move sets, from which statuses, and what it tells.
struct Move {
    to: &'static str,
    from: &'static [&'static str],
    event: &'static str,
    /// The notification's title and kind, and whether a mail goes with it.
    notice: Option<(&'static str, &'static str)>,
    /// Extra SQL of the `SET` list.
    also: &'static str,
}

const CONFIRM: Move = Move {
    to: "confirmed",
    from: &["reserved"],
    event: "updated",
    notice: Some(("appointment_confirmed", "Booking confirmed")),
    also: ", payment_status = 'paid', expires_at = NULL",
};
const CANCEL: Move = Move {
    to: "cancelled",
    from: &["reserved", "confirmed"],
    event: "cancelled",
    notice: Some(("appointment_cancelled", "Appointment cancelled")),
    also: "",
};

fn admin_move(status: &str) -> AppResult<Move> {
    Ok(match status {
        "confirmed" => CONFIRM,
        "cancelled" => CANCEL,
        "completed" | "no_show" => Move {
            to: if status == "completed" {
                "completed"
            } else {
                "no_show"
            },
            from: &["confirmed"],
            event: "updated",
            notice: (status == "completed")
                .then_some(("appointment_completed", "Appointment completed")),
            also: "",
        },
        "expired" => Move {
            to: "expired",
            from: &["reserved"],
            event: "expired",
            notice: Some(("appointment_expired", "Reservation expired")),
            also: "",
        },
        // A status, but not one anything moves to.
        "reserved" => return Err(AppError::conflict("No appointment moves back to reserved")),
        _ => {
            return Err(AppError::invalid(
                "status",
                "status is one of: confirmed, completed, no_show, expired, cancelled",
            ))
        }
    })
}

/// Why a move changed nothing, in the words of the appointment's state.
fn refusal(current: &Appointment, change: &Move) -> AppError {
    let status = current.status.as_str();
    let past =
        |at: Option<chrono::DateTime<chrono::Utc>>| at.is_some_and(|at| at <= chrono::Utc::now());
    let message = if status == "reserved" && change.to == "confirmed" && past(current.expires_at) {
        "This reservation has expired; book again".to_owned()
    } else if change.from.contains(&status)
        && change.to == "cancelled"
        && past(Some(current.starts_at))
    {
        "An appointment that has started can no longer be cancelled".to_owned()
    } else if status == "confirmed" && change.to == "confirmed" {
        "This appointment is paid already".to_owned()
    } else {
        format!("A {status} appointment cannot become {}", change.to)
    };
    AppError::conflict(message)
}

/// Applies `change` to appointment `id` (visible to `caller`), answering the moved appointment.
async fn apply(
    state: &AppState,
    caller: &crate::auth::SignedIn,
    id: Uuid,
    change: &Move,
    condition: &str,
) -> AppResult<Appointment> {
    let mut client = state.db.get().await?;
    let tx = client.transaction().await?;
    let current = find(&tx, id)
        .await?
        .filter(|appointment| caller.role.is_admin() || appointment.user.id == caller.id)
        .ok_or_else(|| input::not_found("appointment"))?;
    let from: Vec<&str> = change.from.to_vec();
    let moved = tx
        .execute(
            &format!(
                "UPDATE appointments SET status = $2, updated_at = clock_timestamp(){} WHERE id = $1 AND status = ANY($3) {condition}",
                change.also
            ),
            &[&id, &change.to, &from],
        )
        .await?;
    if moved == 0 {
        return Err(refusal(&current, change));
    }
    let appointment = find(&tx, id)
        .await?
        .ok_or_else(|| input::not_found("appointment"))?;
    announce(&tx, change.event, &appointment).await?;
    let mut mail = None;
    if let Some((kind, title)) = change.notice {
        let about = appointment.about();
        let timezone = state.settings.booking.timezone;
        let letter = match change.to {
            "cancelled" => Some(mails::cancelled(&about, timezone)),
            "confirmed" => Some(mails::confirmed(&about, timezone)),
            "expired" => Some(mails::expired(&about, timezone)),
            _ => None,
        };
        let body = letter
            .as_ref()
            .map_or_else(|| title.to_owned(), |letter| letter.body.clone());
        notifications::notify(
            &tx,
            appointment.user.id,
            kind,
            title,
            &body,
            json!({ "appointmentId": id }),
        )
        .await?;
        if let Some(letter) = letter {
            mail = Some(outbox::queue_mail(&tx, &letter.to(&appointment.user.email)).await?);
        }
    }
    tx.commit().await?;
    if let Some(mail) = mail {
        outbox::wake(&state.queues, mail).await;
    }
    Ok(appointment)
}

/// Cancels an appointment: its owner before it starts, an admin at any time.
#[utoipa::path(
    responses(
        (status = 200, body = Success<OneAppointment>),
        (status = 409, body = FailureBody, description = "Not reserved or confirmed, or (to its owner) already started"),
    ),
    security(("bearer" = []))
)]
#[delete("/api/v1/appointments/{id}/cancel")]
async fn cancel(
    state: web::Data<AppState>,
    caller: SignedIn,
    id: web::Path<Uuid>,
) -> AppResult<HttpResponse> {
    // A user cancels only before the appointment starts; an admin at any time.
    let condition = if caller.role.is_admin() {
        ""
    } else {
        "AND starts_at > now()"
    };
    let appointment = apply(&state, &caller, id.into_inner(), &CANCEL, condition).await?;
    Ok(envelope::ok(
        "Appointment cancelled",
        OneAppointment { appointment },
    ))
}

/// The status to move an appointment to.
#[derive(Deserialize, ToSchema)]
struct MoveBody {
    /// `confirmed` (and paid) from `reserved` before it expires; `completed` or `no_show` from
    /// `confirmed`; `expired` from `reserved`; `cancelled` from `reserved` or `confirmed`.
    /// (`reserved` is refused with 409.)
    #[serde(default)]
    #[schema(value_type = MoveStatus, required = true)]
    status: String,
}

/// The statuses an admin moves an appointment to. (A schema only: the handler reads text.)
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
enum MoveStatus {
    Confirmed,
    Completed,
    NoShow,
    Expired,
    Cancelled,
}

/// Moves an appointment to another status (admins).
#[utoipa::path(
    request_body = MoveBody,
    responses(
        (status = 200, body = Success<OneAppointment>),
        (status = 403, body = FailureBody, description = "Not an admin"),
        (status = 409, body = FailureBody, description = "Its present status does not allow the move (or the reservation has expired)"),
    ),
    security(("bearer" = []))
)]
#[put("/api/v1/appointments/{id}/status")]
async fn set_status(
    state: web::Data<AppState>,
    Admin(caller): Admin,
    id: web::Path<Uuid>,
    body: web::Json<MoveBody>,
) -> AppResult<HttpResponse> {
    let change = admin_move(body.status.trim())?;
    // A reservation whose time to pay has run out is expired, not confirmed.
    let condition = if change.to == "confirmed" {
        "AND (expires_at IS NULL OR expires_at > now())"
    } else {
        ""
    };
    let appointment = apply(&state, &caller, id.into_inner(), &change, condition).await?;
    Ok(envelope::ok(
        "Status updated",
        OneAppointment { appointment },
    ))
}

/// Pays an unpaid reservation before it expires, confirming it (its owner or an admin).
#[utoipa::path(
    responses(
        (status = 200, body = Success<OneAppointment>),
        (status = 409, body = FailureBody, description = "Paid already, expired, or no longer reserved"),
    ),
    security(("bearer" = []))
)]
#[put("/api/v1/appointments/{id}/pay")]
async fn pay(
    state: web::Data<AppState>,
    caller: SignedIn,
    id: web::Path<Uuid>,
) -> AppResult<HttpResponse> {
    let paying = Move {
        event: "paid",
        ..CONFIRM
    };
    let condition = "AND payment_status = 'unpaid' AND (expires_at IS NULL OR expires_at > now())";
    let appointment = apply(&state, &caller, id.into_inner(), &paying, condition).await?;
    Ok(envelope::ok(
        "Payment recorded; the booking is confirmed",
        OneAppointment { appointment },
    ))
}
