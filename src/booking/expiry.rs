//! Unpaid reservations expire at `expiresAt`: a `reservation-expiry` job scheduled for that time,
//! and the worker's sweep for any whose job was lost. Both expire with one statement that
//! re-checks the row (still reserved, unpaid, due), so a payment or cancellation that came first
//! wins, and a second run changes nothing.

use std::time::Duration;

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use hub_jobs::{ExpireReservation, Queues};
use serde_json::json;
use uuid::Uuid;

use super::appointments::{announce, find};
use super::{mails, notifications};
use crate::context::JobContext;
use crate::mail::outbox;

/// Schedules the expiry job; a failure is logged, not returned: the row is the truth and the
/// sweep expires it anyway.
pub async fn schedule(queues: &Queues, appointment: Uuid, expires_at: DateTime<Utc>) {
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

/// Expires up to 500 reservations that are due, each with its event, notification and mail, in
/// one transaction; answers the mails to wake.
async fn expire_due(
    client: &mut deadpool_postgres::Client,
    context: &JobContext,
) -> anyhow::Result<Vec<Uuid>> {
    let tx = client.transaction().await?;
    let rows = tx
        .query(
            "UPDATE appointments SET status = 'expired', updated_at = clock_timestamp()
             WHERE id IN (SELECT id FROM appointments
                          WHERE status = 'reserved' AND payment_status = 'unpaid' AND expires_at <= now()
                          ORDER BY expires_at LIMIT 500 FOR UPDATE SKIP LOCKED)
               AND status = 'reserved' AND payment_status = 'unpaid' AND expires_at <= now()
             RETURNING id",
            &[],
        )
        .await?;
    let mut mails = Vec::with_capacity(rows.len());
    for row in rows {
        let id: Uuid = row.get(0);
        mails.extend(announce_expiry(&tx, id, context).await?);
    }
    tx.commit().await?;
    Ok(mails)
}

async fn announce_expiry(
    client: &impl GenericClient,
    id: Uuid,
    context: &JobContext,
) -> anyhow::Result<Option<Uuid>> {
    let Some(appointment) = find(client, id).await? else {
        return Ok(None);
    };
    announce(client, "expired", &appointment).await?;
    let Some(about) = mails::About::of(&appointment) else {
        return Ok(None);
    };
    let letter = mails::expired(&about, context.settings.booking.timezone);
    let owner: Uuid = appointment["user"]["id"]
        .as_str()
        .unwrap_or_default()
        .parse()?;
    notifications::notify(
        client,
        owner,
        "appointment_expired",
        "Reservation expired",
        &letter.body,
        json!({ "appointmentId": id }),
    )
    .await?;
    let email = appointment["user"]["email"].as_str().unwrap_or_default();
    Ok(Some(outbox::queue_mail(client, &letter.to(email)).await?))
}

/// The `reservation-expiry` job: waits for the exact `expiresAt` (the job may start up to a second
/// early), then expires the appointment if it is still due, with every other reservation due by
/// then: when thousands fall due in one second, the first jobs to wake expire them all, and the
/// rest find nothing left to do.
pub async fn run(context: &JobContext, job: &ExpireReservation) -> anyhow::Result<bool> {
    let mut client = context.db.get().await?;
    let due: Option<Option<DateTime<Utc>>> = client
        .query_opt(
            "SELECT expires_at FROM appointments WHERE id = $1 AND status = 'reserved' AND payment_status = 'unpaid'",
            &[&job.appointment_id],
        )
        .await?
        .map(|row| row.get(0));
    let Some(Some(expires_at)) = due else {
        return Ok(false);
    };
    let wait = (expires_at - Utc::now()).to_std().unwrap_or(Duration::ZERO);
    if wait > Duration::from_secs(5) {
        // Scheduled far too early (or `expiresAt` moved): the sweep will see to it.
        tracing::warn!(appointment = %job.appointment_id, ?wait, "expiry job ran early");
        return Ok(false);
    }
    tokio::time::sleep(wait).await;
    Ok(expire_all_due(&mut client, context).await? > 0)
}

/// The sweep: expires every reservation past due whose job was lost (Redis flushed, a worker
/// dead); answers how many.
pub async fn sweep(context: &JobContext) -> anyhow::Result<usize> {
    let mut client = context.db.get().await?;
    expire_all_due(&mut client, context).await
}

/// Expires every reservation due now, 500 to a transaction; answers how many.
async fn expire_all_due(
    client: &mut deadpool_postgres::Client,
    context: &JobContext,
) -> anyhow::Result<usize> {
    let mut total = 0;
    loop {
        let mails = expire_due(client, context).await?;
        total += mails.len();
        let full = mails.len() >= 500;
        for mail in mails {
            outbox::wake(&context.queues, mail).await;
        }
        if !full {
            return Ok(total);
        }
    }
}
