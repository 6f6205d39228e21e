//! The `email` job handler: claim the row, send it, record the outcome. Claiming and recording are
//! conditional updates, so a re-run job never sends a mail that was sent, and two workers never
//! send the same mail at once.

use std::time::Duration;

use deadpool_postgres::GenericClient;
use hub_jobs::SendEmail;

use super::transport::StoredMail;
use crate::context::JobContext;

pub enum Delivery {
    Sent,
    /// Nothing to do: sent, failed for good, not yet due, or being sent by someone else.
    Skipped,
    Retrying {
        after: Duration,
        attempt: i32,
    },
    GaveUp,
}

pub async fn deliver(state: &JobContext, job: &SendEmail) -> anyhow::Result<Delivery> {
    let client = state.db.get().await?;
    let lease = state.settings.mail.lease.as_secs_f64();
    let claimed = client
        .query_opt(
            "UPDATE mails SET claimed_until = now() + make_interval(secs => $2), attempts = attempts + 1
             WHERE id = $1 AND status = 'pending' AND due_at <= now()
               AND (claimed_until IS NULL OR claimed_until < now())
             RETURNING to_address, subject, body_text, attempts",
            &[&job.mail_id, &lease],
        )
        .await?;
    let Some(row) = claimed else {
        return Ok(Delivery::Skipped);
    };
    let mail = StoredMail {
        id: job.mail_id,
        to: row.get(0),
        subject: row.get(1),
        body: row.get(2),
    };
    let attempt: i32 = row.get(3);
    match state.mailer.send(&mail).await {
        Ok(()) => {
            client
                .execute(
                    "UPDATE mails SET status = 'sent', sent_at = now(), claimed_until = NULL,
                     last_error = NULL WHERE id = $1",
                    &[&job.mail_id],
                )
                .await?;
            Ok(Delivery::Sent)
        }
        Err(error) => record_failure(&client, state, &mail, attempt, &format!("{error:#}")).await,
    }
}

async fn record_failure(
    client: &impl GenericClient,
    state: &JobContext,
    mail: &StoredMail,
    attempt: i32,
    error: &str,
) -> anyhow::Result<Delivery> {
    tracing::warn!(mail_id = %mail.id, attempt, %error, "sending mail failed");
    if attempt >= state.settings.mail.max_attempts {
        client
            .execute(
                "UPDATE mails SET status = 'failed', claimed_until = NULL, last_error = $2 WHERE id = $1",
                &[&mail.id, &error],
            )
            .await?;
        return Ok(Delivery::GaveUp);
    }
    let after = backoff(attempt);
    client
        .execute(
            "UPDATE mails SET claimed_until = NULL, last_error = $2,
                 due_at = now() + make_interval(secs => $3)
             WHERE id = $1",
            &[&mail.id, &error, &after.as_secs_f64()],
        )
        .await?;
    Ok(Delivery::Retrying { after, attempt })
}

/// 2 s, 4 s, 8 s … capped at 10 minutes.
pub fn backoff(attempt: i32) -> Duration {
    let exponent = attempt.clamp(1, 10) as u32;
    Duration::from_secs((1u64 << exponent).min(600))
}
