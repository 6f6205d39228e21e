//! Login throttling per email, kept for unknown emails too. An attempt is counted *before* the
//! password is checked, so parallel guesses cannot outrun the lock; `max_failed_logins` failures
//! in a row lock the email for `lockout`, doubling with each further lockout up to `max_lockout`.

use std::time::Duration;

use deadpool_postgres::GenericClient;

use crate::config::AuthSettings;
use crate::error::AppResult;

pub enum Gate {
    /// Go on and check the password; `failures` counts this attempt.
    Open {
        failures: i32,
    },
    Locked {
        seconds_left: u64,
    },
}

fn seconds_until(row: &tokio_postgres::Row, column: usize) -> u64 {
    let left: f64 = row.get(column);
    left.max(1.0).ceil() as u64
}

pub async fn enter(
    client: &impl GenericClient,
    email: &str,
    auth: &AuthSettings,
) -> AppResult<Gate> {
    let row = client
        .query_one(
            "INSERT INTO login_throttles AS t (email, failures) VALUES ($1, 1)
             ON CONFLICT (email) DO UPDATE SET
                 failures = CASE WHEN t.locked_until > now() THEN t.failures ELSE t.failures + 1 END,
                 updated_at = now()
             RETURNING failures, locked_until > now(),
                 COALESCE(EXTRACT(EPOCH FROM locked_until - now())::float8, 0)",
            &[&email],
        )
        .await?;
    let failures: i32 = row.get(0);
    let locked: Option<bool> = row.get(1);
    if locked == Some(true) {
        return Ok(Gate::Locked {
            seconds_left: seconds_until(&row, 2),
        });
    }
    if failures > auth.max_failed_logins as i32 {
        // Attempts beyond the budget (parallel guesses, or an attempt that died before recording
        // its outcome) lock the email without checking the password.
        let seconds_left = lock(client, email, auth).await?;
        return Ok(Gate::Locked { seconds_left });
    }
    Ok(Gate::Open { failures })
}

pub enum Verdict {
    Retry { attempts_remaining: i32 },
    Locked { seconds: u64 },
}

/// Records a wrong password for an attempt let in with `failures`.
pub async fn failed(
    client: &impl GenericClient,
    email: &str,
    failures: i32,
    auth: &AuthSettings,
) -> AppResult<Verdict> {
    let max = auth.max_failed_logins as i32;
    if failures < max {
        return Ok(Verdict::Retry {
            attempts_remaining: max - failures,
        });
    }
    let seconds = lock(client, email, auth).await?;
    Ok(Verdict::Locked { seconds })
}

/// Locks the email for its next lockout's length; returns that length in seconds.
async fn lock(client: &impl GenericClient, email: &str, auth: &AuthSettings) -> AppResult<u64> {
    let row = client
        .query_one(
            "UPDATE login_throttles SET failures = 0, lockouts = lockouts + 1, updated_at = now()
             WHERE email = $1 RETURNING lockouts",
            &[&email],
        )
        .await?;
    let lockouts: i32 = row.get(0);
    let seconds = lock_duration(auth, lockouts).as_secs_f64();
    client
        .execute(
            "UPDATE login_throttles SET locked_until = now() + make_interval(secs => $2) WHERE email = $1",
            &[&email, &seconds],
        )
        .await?;
    Ok(seconds.ceil() as u64)
}

/// The `n`th lockout lasts `lockout × 2^(n-1)`, at most `max_lockout`.
pub fn lock_duration(auth: &AuthSettings, lockouts: i32) -> Duration {
    let doublings = (lockouts.max(1) - 1).min(20) as u32;
    auth.lockout
        .saturating_mul(1u32 << doublings)
        .min(auth.max_lockout.max(auth.lockout))
}

/// A correct password clears the record.
pub async fn succeeded(client: &impl GenericClient, email: &str) -> AppResult<()> {
    client
        .execute("DELETE FROM login_throttles WHERE email = $1", &[&email])
        .await?;
    Ok(())
}
