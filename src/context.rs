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

/// SIGTERM and SIGINT, caught from the moment this is made (not from the first wait), so a
/// signal that arrives early is not lost to the default action.
pub struct StopSignals {
    terminate: tokio::signal::unix::Signal,
    interrupt: tokio::signal::unix::Signal,
}

impl StopSignals {
    pub fn install() -> std::io::Result<StopSignals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(StopSignals {
            terminate: signal(SignalKind::terminate())?,
            interrupt: signal(SignalKind::interrupt())?,
        })
    }

    /// The next SIGTERM or SIGINT.
    pub async fn next(&mut self) {
        tokio::select! {
            _ = self.terminate.recv() => {}
            _ = self.interrupt.recv() => {}
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM (what a process manager sends).
pub async fn shutdown_signal() {
    match StopSignals::install() {
        Ok(mut signals) => signals.next().await,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
