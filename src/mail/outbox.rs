//! Writing mails into the outbox, and the sweep that finds the ones whose wake-up was lost.

use deadpool_postgres::GenericClient;
use hub_jobs::{Queues, SendEmail};
use uuid::Uuid;

use crate::error::AppResult;

pub struct OutgoingMail<'a> {
    pub to: &'a str,
    pub subject: &'a str,
    pub body: &'a str,
    /// What the mail is for (`verify_email`, `reset_password`, …), for logs and tests.
    pub kind: &'a str,
}

/// Stores the mail in the caller's transaction; enqueue its wake-up with [`wake`] after commit.
pub async fn queue_mail(client: &impl GenericClient, mail: &OutgoingMail<'_>) -> AppResult<Uuid> {
    let row = client
        .query_one(
            "INSERT INTO mails (to_address, subject, body_text, kind) VALUES ($1, $2, $3, $4)
             RETURNING id",
            &[&mail.to, &mail.subject, &mail.body, &mail.kind],
        )
        .await?;
    Ok(row.get(0))
}

/// Pushes the wake-up for a stored mail. A failure is logged, not returned: the mail is safe in
/// PostgreSQL and the worker's sweep will send it.
pub async fn wake(queues: &Queues, mail_id: Uuid) {
    if let Err(error) = queues.send_email(SendEmail { mail_id }, 0).await {
        tracing::warn!(%error, %mail_id, "mail stored, wake-up not queued; the sweep will send it");
    }
}

/// Deletes mails sent more than 7 days ago and failed ones older than 30 days (long enough to
/// look into); pending mails are never pruned.
pub async fn prune(client: &impl GenericClient) -> anyhow::Result<u64> {
    Ok(client
        .execute(
            "DELETE FROM mails
             WHERE (status = 'sent' AND created_at < now() - interval '7 days')
                OR (status = 'failed' AND created_at < now() - interval '30 days')",
            &[],
        )
        .await?)
}

/// Re-enqueues every mail that is due, pending and not being sent right now.
pub async fn sweep(client: &impl GenericClient, queues: &Queues) -> anyhow::Result<usize> {
    let rows = client
        .query(
            "SELECT id, attempts FROM mails
             WHERE status = 'pending' AND due_at <= now()
               AND (claimed_until IS NULL OR claimed_until < now())
             ORDER BY due_at LIMIT 1000",
            &[],
        )
        .await?;
    for row in &rows {
        queues
            .send_email(
                SendEmail {
                    mail_id: row.get(0),
                },
                row.get(1),
            )
            .await?;
    }
    Ok(rows.len())
}
