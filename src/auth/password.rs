//! bcrypt, always off the async threads, on a pool of its own whose threads run at a lower CPU
//! priority: a storm of logins then takes only the CPU that requests leave over, and `/health` or
//! a page of domains is not kept waiting behind it.

use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};

use crate::error::{AppError, AppResult};
use crate::users::types::Password;

type Job = Box<dyn FnOnce() + Send>;

/// The niceness of the hashing threads (0 is normal; 19 the lowest priority).
const NICENESS: i32 = 10;

fn pool() -> &'static Mutex<mpsc::Sender<Job>> {
    static POOL: OnceLock<Mutex<mpsc::Sender<Job>>> = OnceLock::new();
    POOL.get_or_init(|| {
        let (sender, receiver) = mpsc::channel::<Job>();
        let receiver = Arc::new(Mutex::new(receiver));
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
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
        Mutex::new(sender)
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

/// Runs `work` on the hashing pool.
async fn off_thread<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> AppResult<T> {
    let (done, result) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(move || {
        let _ = done.send(work());
    });
    pool()
        .lock()
        .map_err(|_| AppError::internal(anyhow::anyhow!("the hashing pool is poisoned")))?
        .send(job)
        .map_err(|_| AppError::internal(anyhow::anyhow!("the hashing pool stopped")))?;
    result.await.map_err(AppError::internal)
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
