//! The `scan-ingest` job: applies a stored scan batch in a few set-based statements (not one round
//! trip per result), and in the same transaction records its events: the domains whose status
//! changed, in chunks of at most [`CHANGES_PER_EVENT`], then the batch's completion.
//! The batch row is the truth: a job that finds it applied does nothing, and the sweep re-queues
//! batches whose job was lost.

use std::time::Duration;

use anyhow::Context;
use deadpool_postgres::GenericClient;
use hub_actors::Event;
use hub_jobs::{IngestScan, Queues};
use serde_json::json;
use uuid::Uuid;

use super::{in_chunks, status_change, DOMAINS};
use crate::context::JobContext;

/// A batch that failed this many times is kept as `failed`, with its last error.
const MAX_ATTEMPTS: i32 = 5;

#[derive(Debug, PartialEq, Eq)]
pub enum Ingested {
    Applied {
        changed: usize,
    },
    /// Applied before, or given up on.
    Skipped,
}

/// Resolves every result to a domain (by id, else by name), in one statement.
const RESOLVE: &str = "CREATE TEMP TABLE scan_input ON COMMIT DROP AS \
     SELECT COALESCE(by_id.id, by_name.id) AS domain_id, i.status, i.checked_at, i.detail, i.ord \
     FROM (SELECT (e->>'domainId')::uuid AS domain_id, e->>'domain' AS name, e->>'status' AS status, \
             (e->>'checkedAt')::timestamptz AS checked_at, e->'detail' AS detail, r.ord \
           FROM scan_batches b, jsonb_array_elements(b.results) WITH ORDINALITY AS r(e, ord) \
           WHERE b.id = $1) i \
     LEFT JOIN domains by_id ON by_id.id = i.domain_id \
     LEFT JOIN domains by_name ON by_name.domain = i.name";

const RECORD_HISTORY: &str = "INSERT INTO domain_scans (domain_id, batch_id, status, checked_at, detail) \
     SELECT domain_id, $1, status, checked_at, detail FROM scan_input WHERE domain_id IS NOT NULL ORDER BY ord";

/// Batches apply one at a time: APPLY then reads the statuses another batch committed, and two
/// batches cannot deadlock on each other's rows. (Locking the batch's rows instead writes each
/// of them once more.)
const ONE_BATCH_AT_A_TIME: &str = "SELECT pg_advisory_xact_lock(hashtext('hub:scan-ingest'))";

/// Each domain takes its newest non-error result, unless it was checked later already; the
/// self-join reads the row as it was, to tell whether the status changed.
const APPLY: &str = "WITH latest AS ( \
       SELECT DISTINCT ON (domain_id) domain_id, checked_at, \
         CASE status WHEN 'blocked' THEN 'ada' ELSE 'tidak ada' END AS nawala_status \
       FROM scan_input WHERE domain_id IS NOT NULL AND status <> 'error' \
       ORDER BY domain_id, checked_at DESC, ord DESC), \
     applied AS ( \
       UPDATE domains d SET nawala_status = l.nawala_status, last_checked = l.checked_at, \
         nawala_blocked_id = 'scan_' || (extract(epoch FROM l.checked_at) * 1000)::bigint, \
         status_since = CASE WHEN old.nawala_status IS DISTINCT FROM l.nawala_status \
                        THEN l.checked_at ELSE d.status_since END, \
         updated_at = clock_timestamp() \
       FROM latest l JOIN domains old ON old.id = l.domain_id \
       WHERE d.id = l.domain_id AND (d.last_checked IS NULL OR d.last_checked <= l.checked_at) \
       RETURNING d.*, old.nawala_status IS DISTINCT FROM d.nawala_status AS changed) \
     SELECT * FROM applied WHERE changed";

const FINISH: &str =
    "UPDATE scan_batches b SET state = 'done', finished_at = now(), failure = NULL, \
       results = '[]', changed = $2, \
       applied = c.applied, unknown = b.total - c.applied, errors = c.errors \
     FROM (SELECT count(*) FILTER (WHERE domain_id IS NOT NULL)::int AS applied, \
             count(*) FILTER (WHERE domain_id IS NOT NULL AND status = 'error')::int AS errors \
           FROM scan_input) c \
     WHERE b.id = $1 \
     RETURNING b.total, b.applied, b.changed, b.unknown, b.errors, b.finished_at";

pub async fn ingest(state: &JobContext, job: &IngestScan) -> anyhow::Result<Ingested> {
    let mut client = state.db.get().await.context("connecting to PostgreSQL")?;
    let claimed = client
        .query_opt(
            "UPDATE scan_batches SET state = 'processing', attempts = attempts + 1, started_at = now() \
             WHERE id = $1 AND state IN ('queued', 'processing') RETURNING attempts",
            &[&job.batch_id],
        )
        .await?;
    let Some(attempts) = claimed.map(|row| row.get::<_, i32>(0)) else {
        return Ok(Ingested::Skipped);
    };
    if attempts > MAX_ATTEMPTS {
        give_up(&client, job.batch_id, attempts).await?;
        return Ok(Ingested::Skipped);
    }
    match apply(&mut client, job.batch_id).await {
        Ok(Some(changed)) => Ok(Ingested::Applied { changed }),
        Ok(None) => Ok(Ingested::Skipped),
        Err(error) => {
            // The chain (SQL text included) goes to the worker's log as the job fails; the
            // checker who reads the batch learns only that it failed.
            client
                .execute(
                    "UPDATE scan_batches SET failure = $2 WHERE id = $1",
                    &[&job.batch_id, &APPLY_FAILED],
                )
                .await?;
            Err(error)
        }
    }
}

/// What a batch's `failure` says when applying it failed (the details are in the worker's log).
const APPLY_FAILED: &str =
    "The batch could not be applied; it is retried, and the details are in the worker's log";

/// Applies the batch and records its events in one transaction; answers how many domains
/// changed, or `None` when another job applied it first.
async fn apply(
    client: &mut deadpool_postgres::Object,
    batch_id: Uuid,
) -> anyhow::Result<Option<usize>> {
    let tx = client.transaction().await?;
    // A second job for the same batch waits here, then finds it done.
    let state: Option<String> = tx
        .query_opt(
            "SELECT state FROM scan_batches WHERE id = $1 FOR UPDATE",
            &[&batch_id],
        )
        .await?
        .map(|row| row.get(0));
    if state.as_deref() != Some("processing") {
        return Ok(None);
    }
    tx.execute(RESOLVE, &[&batch_id])
        .await
        .context("resolving results")?;
    tx.execute(RECORD_HISTORY, &[&batch_id])
        .await
        .context("recording history")?;
    tx.execute(ONE_BATCH_AT_A_TIME, &[])
        .await
        .context("waiting for another batch")?;
    let changed = tx.query(APPLY, &[]).await.context("updating domains")?;
    let changed_count = changed.len() as i32;
    let summary = tx
        .query_one(FINISH, &[&batch_id, &changed_count])
        .await
        .context("closing the batch")?;
    let changes: Vec<serde_json::Value> = changed.iter().map(status_change).collect();
    let fields = json!({ "batchId": batch_id });
    let mut events = in_chunks("domains:nawala-changed", fields, "changes", &changes);
    let finished_at: chrono::DateTime<chrono::Utc> = summary.get("finished_at");
    events.push(Event::new(
        DOMAINS,
        "scan:completed",
        json!({
            "batchId": batch_id,
            "total": summary.get::<_, i32>("total"),
            "applied": summary.get::<_, i32>("applied"),
            "changed": summary.get::<_, i32>("changed"),
            "unknown": summary.get::<_, i32>("unknown"),
            "errors": summary.get::<_, i32>("errors"),
            "checkedAt": finished_at,
        }),
    ));
    crate::events::record_all(&tx, &events)
        .await
        .context("recording the batch's events")?;
    tx.commit().await?;
    Ok(Some(changed.len()))
}

async fn give_up(client: &impl GenericClient, batch_id: Uuid, attempts: i32) -> anyhow::Result<()> {
    tracing::error!(%batch_id, attempts, "giving up on a scan batch");
    client
        .execute(
            "UPDATE scan_batches SET state = 'failed', finished_at = now(), \
             failure = COALESCE(failure, $2) WHERE id = $1",
            &[&batch_id, &APPLY_FAILED],
        )
        .await?;
    Ok(())
}

/// Re-queues batches still queued after `grace`, and batches whose worker has held them longer
/// than `lease` (it died, or its job was lost). Returns how many it queued.
pub async fn sweep(
    client: &impl GenericClient,
    queues: &Queues,
    grace: Duration,
    lease: Duration,
) -> anyhow::Result<usize> {
    let rows = client
        .query(
            "SELECT id, attempts FROM scan_batches \
             WHERE (state = 'queued' AND created_at < now() - make_interval(secs => $1)) \
                OR (state = 'processing' AND started_at < now() - make_interval(secs => $2)) \
             ORDER BY created_at LIMIT 1000",
            &[&grace.as_secs_f64(), &lease.as_secs_f64()],
        )
        .await?;
    for row in &rows {
        let job = IngestScan {
            batch_id: row.get(0),
        };
        queues.ingest_scan(job, row.get(1)).await?;
    }
    Ok(rows.len())
}
