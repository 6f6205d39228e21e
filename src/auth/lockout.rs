//! Attempt throttling per key: an email for logins (kept for unknown emails too), `user:<id>` for
//! password changes. An attempt is counted *before* the password is checked, so parallel guesses
//! cannot outrun the lock; `max_failed_logins` failures in a row lock the key for `lockout`,
//! doubling with each further lockout up to `max_lockout`. Each step is one statement on one row,
//! so a burst of attempts (also the moment a lock runs out) gets exactly the budget, never more.

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

/// The throttle key of a password change by `user` (no email contains a colon before its `@`).
pub fn user_key(user: uuid::Uuid) -> String {
    format!("user:{user}")
}

/// The lock a key earns now, as SQL over the row `t`: `lockout × 2^lockouts`, at most
/// `max_lockout` ($2 and $3, in seconds).
const NEXT_LOCK: &str =
    "now() + make_interval(secs => LEAST($2 * power(2, LEAST(t.lockouts, 20)), $3))";

fn seconds(duration: Duration) -> f64 {
    duration.as_secs_f64()
}

fn seconds_left(row: &tokio_postgres::Row) -> u64 {
    let left: f64 = row.get("seconds_left");
    left.max(1.0).ceil() as u64
}

/// Counts an attempt. The attempt past the budget (parallel guesses, or an attempt that died
/// before recording its outcome) locks the key in the same statement, without a password check.
pub async fn enter(client: &impl GenericClient, key: &str, auth: &AuthSettings) -> AppResult<Gate> {
    let sql = format!(
        "INSERT INTO login_throttles AS t (email, failures) VALUES ($1, 1)
         ON CONFLICT (email) DO UPDATE SET
             failures = CASE WHEN t.locked_until > now() THEN t.failures
                             WHEN t.failures + 1 > $4 THEN 0
                             ELSE t.failures + 1 END,
             lockouts = CASE WHEN t.locked_until <= now() OR t.locked_until IS NULL
                             THEN t.lockouts + (t.failures + 1 > $4)::int
                             ELSE t.lockouts END,
             locked_until = CASE WHEN (t.locked_until <= now() OR t.locked_until IS NULL)
                                      AND t.failures + 1 > $4 THEN {NEXT_LOCK}
                                 ELSE t.locked_until END,
             updated_at = now()
         RETURNING failures, COALESCE(locked_until > now(), false) AS locked,
             COALESCE(EXTRACT(EPOCH FROM locked_until - now())::float8, 0) AS seconds_left"
    );
    let row = client
        .query_one(
            &sql,
            &[
                &key,
                &seconds(auth.lockout),
                &seconds(auth.max_lockout.max(auth.lockout)),
                &(auth.max_failed_logins as i32),
            ],
        )
        .await?;
    if row.get::<_, bool>("locked") {
        return Ok(Gate::Locked {
            seconds_left: seconds_left(&row),
        });
    }
    Ok(Gate::Open {
        failures: row.get("failures"),
    })
}

pub enum Verdict {
    Retry { attempts_remaining: i32 },
    Locked { seconds: u64 },
}

/// Records a wrong password for an attempt let in with `failures`: the last one the budget allows
/// locks the key (unless a parallel attempt already did; that lock stands).
pub async fn failed(
    client: &impl GenericClient,
    key: &str,
    failures: i32,
    auth: &AuthSettings,
) -> AppResult<Verdict> {
    let max = auth.max_failed_logins as i32;
    if failures < max {
        return Ok(Verdict::Retry {
            attempts_remaining: max - failures,
        });
    }
    let sql = format!(
        "UPDATE login_throttles AS t SET
             failures = 0,
             lockouts = CASE WHEN t.locked_until > now() THEN t.lockouts ELSE t.lockouts + 1 END,
             locked_until = CASE WHEN t.locked_until > now() THEN t.locked_until ELSE {NEXT_LOCK} END,
             updated_at = now()
         WHERE email = $1
         RETURNING COALESCE(EXTRACT(EPOCH FROM locked_until - now())::float8, 0) AS seconds_left"
    );
    let row = client
        .query_opt(
            &sql,
            &[
                &key,
                &seconds(auth.lockout),
                &seconds(auth.max_lockout.max(auth.lockout)),
            ],
        )
        .await?;
    Ok(match row {
        Some(row) => Verdict::Locked {
            seconds: seconds_left(&row),
        },
        // A correct password cleared the record meanwhile: this guess starts a new count.
        None => Verdict::Retry {
            attempts_remaining: max,
        },
    })
}

/// A correct password clears the record.
pub async fn succeeded(client: &impl GenericClient, key: &str) -> AppResult<()> {
    client
        .execute("DELETE FROM login_throttles WHERE email = $1", &[&key])
        .await?;
    Ok(())
}
