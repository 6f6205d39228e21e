//! bcrypt, always off the async threads.

use crate::error::{AppError, AppResult};
use crate::users::types::Password;

pub async fn hash(password: &Password, cost: u32) -> AppResult<String> {
    let plain = password.expose().to_owned();
    tokio::task::spawn_blocking(move || bcrypt::hash(plain, cost))
        .await
        .map_err(AppError::internal)?
        .map_err(AppError::internal)
}

/// Verifies `plain` against `stored`; with no stored hash (unknown account) it still spends the
/// same time, against a fixed hash of the configured cost, and answers false.
pub async fn verify(plain: &str, stored: Option<String>, cost: u32) -> AppResult<bool> {
    let plain = plain.to_owned();
    tokio::task::spawn_blocking(move || match stored {
        Some(hash) => bcrypt::verify(plain, &hash).unwrap_or(false),
        None => {
            let decoy = decoy_hash(cost);
            let _ = bcrypt::verify(plain, &decoy);
            false
        }
    })
    .await
    .map_err(AppError::internal)
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
