//! What a job handler can reach: the settings, the database, Redis, the queues and the mailer.
//! `hub worker` builds one and wires queues to handlers; handlers take it and know nothing of the
//! process that runs them.

use std::sync::Arc;

use deadpool_postgres::Pool;
use hub_jobs::{Queues, Tuning};
use redis::aio::ConnectionManager;

use crate::config::Settings;
use crate::mail::transport::Transport;

pub struct JobContext {
    pub settings: Arc<Settings>,
    pub db: Pool,
    pub redis: ConnectionManager,
    pub queues: Queues,
    pub mailer: Transport,
}

/// The queues' polling and liveness settings.
pub fn tuning(settings: &Settings) -> Tuning {
    Tuning {
        poll_interval: settings.worker.poll_interval,
        heartbeat_interval: settings.worker.heartbeat_interval,
        missed_heartbeats: settings.worker.missed_heartbeats,
        concurrency: settings.worker.concurrency,
    }
}

/// Resolves on Ctrl-C or SIGTERM (what a process manager sends).
pub async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut terminate) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
