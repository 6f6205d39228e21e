//! The typed enqueue API and the storage each queue's workers are built on.

use std::time::Duration;

use apalis::prelude::{TaskBuilder, TaskId, TaskSink};
use apalis_redis::{Config, RedisStorage};
use redis::aio::ConnectionManager;
use redis::AsyncCommands;
use serde::{de::DeserializeOwned, Serialize};

use crate::counters::{self, record_outcome, Outcome};
use crate::payloads::{ExpireReservation, IngestScan, SendEmail};
use crate::queue;

/// How workers poll and how soon a dead worker's jobs are taken over.
#[derive(Debug, Clone, Copy)]
pub struct Tuning {
    pub poll_interval: Duration,
    pub heartbeat_interval: Duration,
    pub missed_heartbeats: usize,
    pub concurrency: usize,
}

#[derive(Debug, thiserror::Error)]
#[error("enqueueing on `{queue}`: {message}")]
pub struct EnqueueError {
    pub queue: &'static str,
    pub message: String,
}

/// The storage of one queue, namespaced so that several hubs (or tests) can share a Redis.
pub fn storage_for<J>(
    redis: ConnectionManager,
    namespace: &str,
    name: &str,
    tuning: Tuning,
) -> RedisStorage<J>
where
    J: Serialize + DeserializeOwned + Send + Sync + Unpin + 'static,
{
    let config = Config::default()
        .queue(format!("{namespace}{name}"))
        .heartbeat_interval(tuning.heartbeat_interval)
        .missed_heartbeats(tuning.missed_heartbeats)
        .batch_size(tuning.concurrency.max(1));
    RedisStorage::new(redis).with_config(config)
}

/// A worker name unique to this process, so a restarted worker is never refused as "still active".
pub fn worker_name(queue: &str) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .unwrap_or_else(|_| "host".into());
    format!("{queue}@{host}-{}", std::process::id())
}

/// The queues the web process and the worker's sweeps push onto.
///
/// A job's id is its row and the row's attempt count: the sweep may push the same wake-up again
/// while the first is still queued, and apalis ignores an id it already holds; a new attempt gets a
/// new id and is queued.
#[derive(Clone)]
pub struct Queues {
    redis: ConnectionManager,
    namespace: String,
    email: RedisStorage<SendEmail>,
    scan_ingest: RedisStorage<IngestScan>,
    reservation_expiry: RedisStorage<ExpireReservation>,
}

impl Queues {
    pub fn new(redis: ConnectionManager, namespace: &str, tuning: Tuning) -> Self {
        Queues {
            email: storage_for(redis.clone(), namespace, queue::EMAIL, tuning),
            scan_ingest: storage_for(redis.clone(), namespace, queue::SCAN_INGEST, tuning),
            reservation_expiry: storage_for(
                redis.clone(),
                namespace,
                queue::RESERVATION_EXPIRY,
                tuning,
            ),
            redis,
            namespace: namespace.to_owned(),
        }
    }

    /// Wakes the worker for mail `job.mail_id`, whose row has recorded `attempt` attempts so far.
    pub async fn send_email(&self, job: SendEmail, attempt: i32) -> Result<(), EnqueueError> {
        let id = format!("mail-{}-{attempt}", job.mail_id);
        self.push(self.email.clone(), queue::EMAIL, job, id).await
    }

    /// Wakes the worker for scan batch `job.batch_id`, whose row has recorded `attempt` attempts.
    pub async fn ingest_scan(&self, job: IngestScan, attempt: i32) -> Result<(), EnqueueError> {
        let id = format!("scan-{}-{attempt}", job.batch_id);
        self.push(self.scan_ingest.clone(), queue::SCAN_INGEST, job, id)
            .await
    }

    /// Schedules the expiry of a reservation at `run_at` (whole seconds since the epoch: apalis
    /// runs it up to a second early, so the handler waits for the exact time). The id is the
    /// appointment's: scheduling it twice queues it once.
    pub async fn expire_reservation(
        &self,
        job: ExpireReservation,
        run_at: u64,
    ) -> Result<(), EnqueueError> {
        let id = format!("expire-{}", job.appointment_id);
        let task = TaskBuilder::new(job)
            .task_id(TaskId::from_string(id))
            .run_at_timestamp(run_at)
            .build();
        self.push_built(
            self.reservation_expiry.clone(),
            queue::RESERVATION_EXPIRY,
            task,
        )
        .await
    }

    async fn push<J>(
        &self,
        storage: RedisStorage<J>,
        queue: &'static str,
        job: J,
        id: String,
    ) -> Result<(), EnqueueError>
    where
        J: Serialize + DeserializeOwned + Send + Sync + Unpin + 'static,
    {
        let task = TaskBuilder::new(job)
            .task_id(TaskId::from_string(id))
            .build();
        self.push_built(storage, queue, task).await
    }

    async fn push_built<J>(
        &self,
        mut storage: RedisStorage<J>,
        queue: &'static str,
        task: apalis::prelude::Task<J>,
    ) -> Result<(), EnqueueError>
    where
        J: Serialize + DeserializeOwned + Send + Sync + Unpin + 'static,
    {
        storage
            .push_task(task)
            .await
            .map_err(|error| EnqueueError {
                queue,
                message: error.to_string(),
            })?;
        record_outcome(&self.redis, &self.namespace, queue, Outcome::Enqueued).await;
        Ok(())
    }

    /// `(queue, outcome, count)` for every counter recorded so far.
    pub async fn counts(&self) -> redis::RedisResult<Vec<(String, String, u64)>> {
        let mut redis = self.redis.clone();
        let raw: Vec<(String, u64)> = redis.hgetall(counters::key(&self.namespace)).await?;
        let mut counts: Vec<(String, String, u64)> = raw
            .into_iter()
            .filter_map(|(field, count)| {
                let (queue, outcome) = field.rsplit_once(':')?;
                Some((queue.to_owned(), outcome.to_owned(), count))
            })
            .collect();
        counts.sort();
        Ok(counts)
    }
}
