//! Unpaid reservations expire at `expiresAt`: a `reservation-expiry` job scheduled for that time,
//! and the worker's sweep for any whose job was lost. Both expire with one statement that
//! re-checks the row (still reserved, unpaid, due), so a payment or cancellation that came first
//! wins, and a second run changes nothing.

use std::time::Duration;

use deadpool_postgres::GenericClient;
use hub_jobs::ExpireReservation;
use serde_json::json;
use uuid::Uuid;

use super::appointments::{announce, find};
use super::{mails, notifications};
use crate::context::JobContext;
use crate::mail::outbox;

/// Expires up to 500 reservations that are due, each with its event, notification and mail, in
/// one transaction; answers how many, and the mails to wake.
async fn expire_due(
    client: &mut deadpool_postgres::Client,
    context: &JobContext,
) -> anyhow::Result<(usize, Vec<Uuid>)> {
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
    for row in &rows {
        mails.extend(announce_expiry(&tx, row.get(0), context).await?);
    }
    tx.commit().await?;
    Ok((rows.len(), mails))
}

async fn announce_expiry(
    client: &impl GenericClient,
    id: Uuid,
    context: &JobContext,
) -> anyhow::Result<Option<Uuid>> {
    let appointment = find(client, id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("expired appointment {id} vanished"))?;
    announce(client, "expired", &appointment).await?;
    let letter = mails::expired(&appointment.about(), context.settings.booking.timezone);
    notifications::notify(
        client,
        appointment.user.id,
        "appointment_expired",
        "Reservation expired",
        &letter.body,
        json!({ "appointmentId": id }),
    )
    .await?;
    Ok(Some(
        outbox::queue_mail(client, &letter.to(&appointment.user.email)).await?,
    ))
}

/// How long until reservation `id` is due, by the database's clock (the clock every expiry and
/// payment is judged by); `None` when it is no longer an unpaid reservation.
async fn due_in(context: &JobContext, id: Uuid) -> anyhow::Result<Option<Duration>> {
    let client = context.db.get().await?;
    let row = client
        .query_opt(
            "SELECT GREATEST(EXTRACT(EPOCH FROM expires_at - clock_timestamp()), 0)::float8
             FROM appointments WHERE id = $1 AND status = 'reserved' AND payment_status = 'unpaid'
               AND expires_at IS NOT NULL",
            &[&id],
        )
        .await?;
    Ok(row.map(|row| Duration::from_secs_f64(row.get::<_, f64>(0))))
}

/// The `reservation-expiry` job: waits for the exact `expiresAt` (the job may start up to a second
/// early), then expires the appointment if it is still due, with every other reservation due by
/// then: when thousands fall due in one second, the first jobs to wake expire them all, and the
/// rest find nothing left to do. It holds no database connection while it waits.
pub async fn run(context: &JobContext, job: &ExpireReservation) -> anyhow::Result<bool> {
    let mut expired = 0;
    for _ in 0..3 {
        let Some(wait) = due_in(context, job.appointment_id).await? else {
            return Ok(expired > 0);
        };
        if wait > Duration::from_secs(5) {
            // Scheduled far too early: the sweep will see to it.
            tracing::warn!(appointment = %job.appointment_id, ?wait, "expiry job ran early");
            return Ok(false);
        }
        tokio::time::sleep(wait).await;
        let mut client = context.db.get().await?;
        expired += expire_all_due(&mut client, context).await?;
    }
    // Still reserved and due: its row was locked by a payment or cancellation that rolled back.
    // Failing lets apalis run the job again.
    anyhow::bail!(
        "appointment {} is still due after three passes",
        job.appointment_id
    )
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
        let (count, mails) = expire_due(client, context).await?;
        total += count;
        for mail in mails {
            outbox::wake(&context.queues, mail).await;
        }
        if count < 500 {
            return Ok(total);
        }
    }
}
