//! `hub worker`: the apalis workers of every queue, the periodic sweep that re-enqueues what
//! PostgreSQL says is due but not done, and the periodic vacuum of finished jobs in Redis.

use std::sync::Arc;
use std::time::Duration;

use apalis::prelude::*;
use apalis_core::backend::Vacuum;
use hub_jobs::{
    queue, record_outcome, storage_for, worker_name, ExpireReservation, IngestScan, Outcome,
    Queues, SendEmail,
};
use tokio::sync::watch;

use crate::config::Settings;
use crate::context::{tuning, JobContext};
use crate::mail::deliver::{deliver, Delivery};
use crate::mail::transport::Transport;

type Shared = Arc<JobContext>;

async fn email_job(job: SendEmail, state: Data<Shared>) -> Result<(), BoxDynError> {
    let outcome = deliver(&state, &job).await;
    let counted = match &outcome {
        Ok(Delivery::Sent) => Some(Outcome::Succeeded),
        Ok(Delivery::GaveUp) | Err(_) => Some(Outcome::Failed),
        Ok(Delivery::Retrying { .. } | Delivery::Skipped) => None,
    };
    if let Some(counted) = counted {
        record_outcome(
            &state.redis,
            &state.settings.redis.namespace,
            queue::EMAIL,
            counted,
        )
        .await;
    }
    // A failed send is recorded on the row and retried by the sweep; only a failure to reach the
    // database is handed back to apalis to retry.
    outcome.map(|_| ()).map_err(Into::into)
}

async fn scan_job(job: IngestScan, state: Data<Shared>) -> Result<(), BoxDynError> {
    let outcome = crate::domains::ingest::ingest(&state, &job).await;
    let counted = match &outcome {
        Ok(crate::domains::ingest::Ingested::Applied { changed }) => {
            tracing::info!(batch_id = %job.batch_id, changed, "scan batch applied");
            Some(Outcome::Succeeded)
        }
        Ok(crate::domains::ingest::Ingested::Skipped) => None,
        Err(error) => {
            tracing::warn!(batch_id = %job.batch_id, error = %format!("{error:#}"), "scan batch failed");
            Some(Outcome::Failed)
        }
    };
    if let Some(counted) = counted {
        record_outcome(
            &state.redis,
            &state.settings.redis.namespace,
            queue::SCAN_INGEST,
            counted,
        )
        .await;
    }
    outcome.map(|_| ()).map_err(Into::into)
}

async fn expiry_job(job: ExpireReservation, state: Data<Shared>) -> Result<(), BoxDynError> {
    let outcome = crate::booking::expiry::run(&state, &job).await;
    let counted = match &outcome {
        Ok(true) => Some(Outcome::Succeeded),
        Ok(false) => None,
        Err(error) => {
            tracing::warn!(appointment = %job.appointment_id, error = %format!("{error:#}"), "expiry failed");
            Some(Outcome::Failed)
        }
    };
    if let Some(counted) = counted {
        record_outcome(
            &state.redis,
            &state.settings.redis.namespace,
            queue::RESERVATION_EXPIRY,
            counted,
        )
        .await;
    }
    outcome.map(|_| ()).map_err(Into::into)
}

pub async fn run(settings: Settings) -> anyhow::Result<()> {
    // Caught from the start: a SIGTERM while the worker connects still stops it cleanly.
    let mut signals = crate::context::StopSignals::install()?;
    let settings = Arc::new(settings);
    let db = crate::db::connect(&settings.database.url, settings.database.pool_size)?;
    let redis = crate::redis_client::connect(&settings.redis)?;
    let tuning = tuning(&settings);
    let namespace = settings.redis.namespace.clone();
    let state: Shared = Arc::new(JobContext {
        queues: Queues::new(redis.clone(), &namespace, tuning),
        mailer: Transport::from_settings(&settings.smtp, &settings.mail)?,
        settings: settings.clone(),
        db,
        redis: redis.clone(),
    });
    // Events the worker's handlers record go out through a relay, this process's or another's.
    let relay = tokio::spawn(crate::events::relay::Relay::new(&settings, redis.clone()).run());
    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = move || {
        let mut stop_rx = stop_rx.clone();
        async move {
            let _ = stop_rx.wait_for(|stop| *stop).await;
            Ok::<(), std::io::Error>(())
        }
    };

    let email = supervise(queue::EMAIL, stopped.clone(), || {
        WorkerBuilder::new(worker_name(queue::EMAIL))
            .backend(
                storage_for::<SendEmail>(redis.clone(), &namespace, queue::EMAIL, tuning)
                    .poll_with_interval(tuning.poll_interval),
            )
            .data(state.clone())
            .concurrency(tuning.concurrency)
            .build(email_job)
            .run_until(stopped())
    });

    let scans = supervise(queue::SCAN_INGEST, stopped.clone(), || {
        WorkerBuilder::new(worker_name(queue::SCAN_INGEST))
            .backend(
                storage_for::<IngestScan>(redis.clone(), &namespace, queue::SCAN_INGEST, tuning)
                    .poll_with_interval(tuning.poll_interval),
            )
            .data(state.clone())
            .concurrency(tuning.concurrency)
            .build(scan_job)
            .run_until(stopped())
    });

    let expiry = supervise(queue::RESERVATION_EXPIRY, stopped.clone(), || {
        WorkerBuilder::new(worker_name(queue::RESERVATION_EXPIRY))
            .backend(
                storage_for::<ExpireReservation>(
                    redis.clone(),
                    &namespace,
                    queue::RESERVATION_EXPIRY,
                    tuning,
                )
                .poll_with_interval(tuning.poll_interval),
            )
            .data(state.clone())
            // Each job may wait up to a second for its exact time: many at once.
            .concurrency(tuning.concurrency.max(64))
            .build(expiry_job)
            .run_until(stopped())
    });

    tracing::info!(queues = ?queue::ALL, "worker started");
    let housekeeping = housekeeping(state.clone(), stopped());
    let signal = async {
        signals.next().await;
        tracing::info!("worker stopping");
        let _ = stop_tx.send(true);
    };
    tokio::join!(email, scans, expiry, housekeeping, signal);
    relay.abort();
    Ok(())
}

/// Runs a worker until the stop signal, rebuilding it after any error: an apalis-redis 1.0 worker
/// stops for good on a Redis error (a restart, a timeout, a lost heartbeat registration).
async fn supervise<Stop, StopFuture, Make, Run, E>(queue: &str, stopped: Stop, make: Make)
where
    Stop: Fn() -> StopFuture,
    StopFuture: std::future::Future,
    Make: Fn() -> Run,
    Run: std::future::Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    loop {
        match make().await {
            Ok(()) => return,
            Err(error) => tracing::warn!(queue, %error, "worker failed; restarting in 1 s"),
        }
        tokio::select! {
            _ = stopped() => return,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

/// The sweep (every `worker.sweep_interval`), the vacuum of the queues (every
/// `worker.vacuum_interval`) and the prune of stale rows (every `worker.prune_interval`).
async fn housekeeping<T>(state: Shared, stopped: impl std::future::Future<Output = T>) {
    let sweep_every = state.settings.worker.sweep_interval;
    let vacuum_every = state.settings.worker.vacuum_interval;
    let prune_every = state.settings.worker.prune_interval;
    let mut sweep = tokio::time::interval(sweep_every);
    let mut vacuum = tokio::time::interval(vacuum_every.unwrap_or(Duration::from_secs(3600)));
    let mut prune = tokio::time::interval(prune_every.unwrap_or(Duration::from_secs(3600)));
    tokio::pin!(stopped);
    loop {
        tokio::select! {
            _ = &mut stopped => return,
            _ = sweep.tick() => sweep_once(&state).await,
            _ = vacuum.tick(), if vacuum_every.is_some() => vacuum_once(&state).await,
            _ = prune.tick(), if prune_every.is_some() => prune_once(&state).await,
        }
    }
}

async fn sweep_once(state: &JobContext) {
    let client = match state.db.get().await {
        Ok(client) => client,
        Err(error) => {
            tracing::warn!(%error, "sweep: database unavailable");
            return;
        }
    };
    match crate::mail::outbox::sweep(&client, &state.queues).await {
        Ok(0) => {}
        Ok(count) => tracing::info!(count, "sweep: mails re-enqueued"),
        Err(error) => tracing::warn!(error = %format!("{error:#}"), "sweep: mails"),
    }
    let grace = state.settings.worker.sweep_interval;
    let lease = state.settings.checker.batch_lease;
    match crate::domains::ingest::sweep(&client, &state.queues, grace, lease).await {
        Ok(0) => {}
        Ok(count) => tracing::info!(count, "sweep: scan batches re-enqueued"),
        Err(error) => tracing::warn!(error = %format!("{error:#}"), "sweep: scan batches"),
    }
    match crate::booking::expiry::sweep(state).await {
        Ok(0) => {}
        Ok(count) => tracing::info!(count, "sweep: reservations expired"),
        Err(error) => tracing::warn!(error = %format!("{error:#}"), "sweep: reservations"),
    }
}

async fn prune_once(state: &JobContext) {
    let client = match state.db.get().await {
        Ok(client) => client,
        Err(error) => {
            tracing::warn!(%error, "prune: database unavailable");
            return;
        }
    };
    match crate::auth::store::prune(&client, state.settings.auth.access_ttl).await {
        Ok(pruned) => tracing::debug!(?pruned, "prune: accounts"),
        Err(error) => tracing::warn!(%error, "prune: accounts"),
    }
    match crate::mail::outbox::prune(&client).await {
        Ok(count) => tracing::debug!(count, "prune: mails"),
        Err(error) => tracing::warn!(error = %format!("{error:#}"), "prune: mails"),
    }
}

async fn vacuum_once(state: &JobContext) {
    let namespace = &state.settings.redis.namespace;
    let tuning = tuning(&state.settings);
    let redis = state.redis.clone();
    let email = storage_for::<SendEmail>(redis.clone(), namespace, queue::EMAIL, tuning);
    let scans = storage_for::<IngestScan>(redis.clone(), namespace, queue::SCAN_INGEST, tuning);
    let expiry =
        storage_for::<ExpireReservation>(redis, namespace, queue::RESERVATION_EXPIRY, tuning);
    vacuum_queue(queue::EMAIL, email).await;
    vacuum_queue(queue::SCAN_INGEST, scans).await;
    vacuum_queue(queue::RESERVATION_EXPIRY, expiry).await;
}

/// Removes jobs finished an hour ago: plain `vacuum()` also removes a failed job awaiting its
/// retry, and the worker that then fetches the missing id stops.
async fn vacuum_queue<J>(name: &str, mut storage: apalis_redis::RedisStorage<J>)
where
    apalis_redis::RedisStorage<J>: Vacuum,
{
    match storage.vacuum_before(Duration::from_secs(3600)).await {
        Ok(removed) => tracing::debug!(removed, queue = name, "vacuum"),
        Err(error) => tracing::warn!(%error, queue = name, "vacuum"),
    }
}
