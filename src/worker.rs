//! `hub worker`: the apalis workers of every queue, plus the periodic sweep that re-enqueues what
//! PostgreSQL says is due but not done, and the periodic vacuum of finished jobs.

use hub_jobs::Tuning;

use crate::config::Settings;

pub fn tuning(settings: &Settings) -> Tuning {
    Tuning {
        poll_interval: settings.worker.poll_interval,
        heartbeat_interval: settings.worker.heartbeat_interval,
        missed_heartbeats: settings.worker.missed_heartbeats,
        concurrency: settings.worker.concurrency,
    }
}

pub async fn run(_settings: Settings) -> anyhow::Result<()> {
    anyhow::bail!("not yet")
}
