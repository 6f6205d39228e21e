//! bcrypt, always off the async threads, on a pool of its own whose threads run at a lower CPU
//! priority: a storm of logins then takes only the CPU that requests leave over, and `/health` or
//! a page of domains is not kept waiting behind it. The pool's queue is bounded: when it is full a
//! request answers 503 at once instead of queueing work (and memory) without limit.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, OnceLock};

use crate::error::{AppError, AppResult};
use crate::users::types::Password;

type Job = Box<dyn FnOnce() + Send>;

/// The niceness of the hashing threads (0 is normal; 19 the lowest priority).
const NICENESS: i32 = 10;
/// Hashes waiting per hashing thread before requests are turned away.
const QUEUED_PER_THREAD: usize = 32;

/// Threads that run hashing jobs, fed through a bounded queue.
pub struct HashingPool {
    queue: SyncSender<Job>,
    /// Jobs sent and not yet started.
    waiting: Arc<AtomicUsize>,
    capacity: usize,
}

impl HashingPool {
    pub fn start(threads: usize, queued: usize) -> Self {
        let (queue, receiver) = mpsc::sync_channel::<Job>(queued);
        let receiver = Arc::new(Mutex::new(receiver));
        for n in 0..threads {
            let receiver = receiver.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("bcrypt-{n}"))
                .spawn(move || {
                    lower_priority();
                    loop {
                        let job = match receiver.lock() {
                            Ok(receiver) => receiver.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                });
            if let Err(error) = spawned {
                tracing::error!(%error, "starting a password hashing thread");
            }
        }
        HashingPool {
            queue,
            waiting: Arc::default(),
            capacity: queued,
        }
    }

    /// Whether a job sent now would be queued (a hint: others may fill the queue meanwhile).
    pub fn has_room(&self) -> bool {
        self.waiting.load(Ordering::Relaxed) < self.capacity
    }

    /// Runs `work` on the pool; 503 when its queue is full.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> AppResult<T> {
        let (done, result) = tokio::sync::oneshot::channel();
        let waiting = self.waiting.clone();
        waiting.fetch_add(1, Ordering::Relaxed);
        let started = waiting.clone();
        let job: Job = Box::new(move || {
            started.fetch_sub(1, Ordering::Relaxed);
            let _ = done.send(work());
        });
        self.queue.try_send(job).map_err(|error| {
            waiting.fetch_sub(1, Ordering::Relaxed);
            match error {
                TrySendError::Full(_) => busy(),
                TrySendError::Disconnected(_) => {
                    AppError::internal(anyhow::anyhow!("the hashing pool stopped"))
                }
            }
        })?;
        result.await.map_err(AppError::internal)
    }
}

fn busy() -> AppError {
    let mut busy =
        AppError::unavailable("Too many password checks are waiting; try again in a moment");
    busy.retry_after = Some(1);
    busy
}

/// 503 at once when the hashing queue is full: before an attempt is counted against a lockout,
/// so a flood of requests cannot spend other people's attempts.
pub fn ensure_room() -> AppResult<()> {
    if pool().has_room() {
        Ok(())
    } else {
        Err(busy())
    }
}

fn pool() -> &'static HashingPool {
    static POOL: OnceLock<HashingPool> = OnceLock::new();
    POOL.get_or_init(|| {
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        HashingPool::start(threads, threads * QUEUED_PER_THREAD)
    })
}

/// On Linux, `setpriority(PRIO_PROCESS, tid)` applies to that one thread.
fn lower_priority() {
    let tid = nix::unistd::gettid().as_raw() as nix::libc::id_t;
    // SAFETY: setpriority reads only its integer arguments.
    let result = unsafe { nix::libc::setpriority(nix::libc::PRIO_PROCESS, tid, NICENESS) };
    if result != 0 {
        tracing::warn!("could not lower the priority of a password hashing thread");
    }
}

async fn off_thread<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> AppResult<T> {
    pool().run(work).await
}

pub async fn hash(password: &Password, cost: u32) -> AppResult<String> {
    let plain = password.expose().to_owned();
    off_thread(move || bcrypt::hash(plain, cost))
        .await?
        .map_err(AppError::internal)
}

/// Verifies `plain` against `stored`; with no stored hash (unknown account) it still spends the
/// same time, against a fixed hash of the configured cost, and answers false.
pub async fn verify(plain: &str, stored: Option<String>, cost: u32) -> AppResult<bool> {
    let plain = plain.to_owned();
    off_thread(move || match stored {
        Some(hash) => bcrypt::verify(plain, &hash).unwrap_or(false),
        None => {
            let decoy = decoy_hash(cost);
            let _ = bcrypt::verify(plain, &decoy);
            false
        }
    })
    .await
}

fn decoy_hash(cost: u32) -> String {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    static DECOYS: OnceLock<Mutex<HashMap<u32, String>>> = OnceLock::new();
    let decoys = DECOYS.get_or_init(|| Mutex::new(HashMap::new()));
    let mut decoys = decoys
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    decoys
        .entry(cost)
        .or_insert_with(|| {
            bcrypt::hash("decoy password for unknown accounts", cost).unwrap_or_default()
        })
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_web::test]
    async fn a_full_queue_answers_503_at_once() {
        let pool: &'static HashingPool = Box::leak(Box::new(HashingPool::start(1, 1)));
        let (release, held) = std::sync::mpsc::channel::<()>();
        let (started, running) = tokio::sync::oneshot::channel();
        let busy = tokio::spawn(pool.run(move || {
            let _ = started.send(());
            let _ = held.recv();
        }));
        let _ = running.await;
        // The thread is busy; one job may wait, the next is refused.
        assert!(pool.has_room());
        let (waited, waited_done) = tokio::sync::oneshot::channel();
        let waiting = tokio::spawn(pool.run(move || {
            let _ = waited.send(());
        }));
        while pool.has_room() {
            tokio::task::yield_now().await;
        }
        let refused = pool.run(|| ()).await.unwrap_err();
        assert_eq!(refused.status, 503);
        assert_eq!(refused.retry_after, Some(1));
        release.send(()).unwrap();
        assert!(busy.await.unwrap().is_ok());
        waited_done.await.unwrap();
        assert!(waiting.await.unwrap().is_ok());
        assert!(pool.has_room());
        assert!(pool.run(|| 7).await.is_ok_and(|n| n == 7));
    }
}
