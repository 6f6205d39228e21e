//! SQL of emailed tokens and refresh tokens.

use std::time::Duration;

use deadpool_postgres::GenericClient;
use uuid::Uuid;

use super::secrets::{digest, random_token};
use crate::error::AppResult;

#[derive(Debug, Clone, Copy)]
pub enum Purpose {
    VerifyEmail,
    ResetPassword,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::VerifyEmail => "verify_email",
            Purpose::ResetPassword => "reset_password",
        }
    }

    fn lifetime(self) -> Duration {
        match self {
            Purpose::VerifyEmail => Duration::from_secs(24 * 3600),
            Purpose::ResetPassword => Duration::from_secs(3600),
        }
    }
}

/// Creates a single-use token for `user`; returns the token itself (only its digest is kept).
pub async fn create_email_token(
    client: &impl GenericClient,
    user: Uuid,
    purpose: Purpose,
) -> AppResult<String> {
    let token = random_token();
    client
        .execute(
            "INSERT INTO email_tokens (user_id, purpose, token_hash, expires_at)
             VALUES ($1, $2, $3, now() + make_interval(secs => $4))",
            &[
                &user,
                &purpose.as_str(),
                &digest(&token),
                &purpose.lifetime().as_secs_f64(),
            ],
        )
        .await?;
    Ok(token)
}

/// The user of a valid token, without using it up.
pub async fn email_token_user(
    client: &impl GenericClient,
    token: &str,
    purpose: Purpose,
) -> AppResult<Option<Uuid>> {
    let row = client
        .query_opt(
            "SELECT user_id FROM email_tokens
             WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > now()",
            &[&digest(token), &purpose.as_str()],
        )
        .await?;
    Ok(row.map(|row| row.get(0)))
}

/// Makes every unused token of `user` for `purpose` unusable.
pub async fn void_email_tokens(
    client: &impl GenericClient,
    user: Uuid,
    purpose: Purpose,
) -> AppResult<()> {
    client
        .execute(
            "UPDATE email_tokens SET used_at = now()
             WHERE user_id = $1 AND purpose = $2 AND used_at IS NULL",
            &[&user, &purpose.as_str()],
        )
        .await?;
    Ok(())
}

/// Uses up a valid token; returns its user, or `None` for an unknown, used or expired token.
pub async fn consume_email_token(
    client: &impl GenericClient,
    token: &str,
    purpose: Purpose,
) -> AppResult<Option<Uuid>> {
    let row = client
        .query_opt(
            "UPDATE email_tokens SET used_at = now()
             WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > now()
             RETURNING user_id",
            &[&digest(token), &purpose.as_str()],
        )
        .await?;
    Ok(row.map(|row| row.get(0)))
}

pub async fn store_refresh_token(
    client: &impl GenericClient,
    jti: Uuid,
    user: Uuid,
    family: Uuid,
    token: &str,
    expires_at: chrono::DateTime<chrono::Utc>,
) -> AppResult<()> {
    client
        .execute(
            "INSERT INTO refresh_tokens (id, user_id, family_id, token_hash, expires_at)
             VALUES ($1, $2, $3, $4, $5)",
            &[&jti, &user, &family, &digest(token), &expires_at],
        )
        .await?;
    Ok(())
}

pub enum Rotation {
    /// The token was live and is now rotated; issue its successor in `family`.
    Rotated {
        user: Uuid,
        family: Uuid,
    },
    /// The token was already rotated or revoked: its whole family is now revoked.
    Reused,
    Unknown,
}

/// Rotates a presented refresh token, detecting reuse.
pub async fn rotate_refresh_token(
    client: &impl GenericClient,
    jti: Uuid,
    token: &str,
) -> AppResult<Rotation> {
    let rotated = client
        .query_opt(
            "UPDATE refresh_tokens SET rotated_at = now()
             WHERE id = $1 AND token_hash = $2 AND rotated_at IS NULL AND revoked_at IS NULL
               AND expires_at > now()
               -- A session ended (signed out, reuse detected) while this token was being rotated.
               AND NOT EXISTS (SELECT 1 FROM refresh_tokens ended
                               WHERE ended.family_id = refresh_tokens.family_id
                                 AND ended.revoked_at IS NOT NULL)
             RETURNING user_id, family_id",
            &[&jti, &digest(token)],
        )
        .await?;
    if let Some(row) = rotated {
        return Ok(Rotation::Rotated {
            user: row.get(0),
            family: row.get(1),
        });
    }
    let known = client
        .query_opt(
            "SELECT family_id FROM refresh_tokens WHERE id = $1 AND token_hash = $2",
            &[&jti, &digest(token)],
        )
        .await?;
    let Some(row) = known else {
        return Ok(Rotation::Unknown);
    };
    let family: Uuid = row.get(0);
    client
        .execute(
            "UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = $1 AND revoked_at IS NULL",
            &[&family],
        )
        .await?;
    Ok(Rotation::Reused)
}

/// Ends the session (refresh-token family) of the refresh token `jti`: its refresh tokens stop
/// working, and so do the access tokens issued with them. Answers the session's id.
pub async fn end_session(
    client: &impl GenericClient,
    jti: Uuid,
    user: Uuid,
) -> AppResult<Option<Uuid>> {
    let family = client
        .query_opt(
            "SELECT family_id FROM refresh_tokens WHERE id = $1 AND user_id = $2",
            &[&jti, &user],
        )
        .await?
        .map(|row| row.get::<_, Uuid>(0));
    if let Some(family) = family {
        client
            .execute(
                "UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = $1 AND revoked_at IS NULL",
                &[&family],
            )
            .await?;
    }
    Ok(family)
}

/// What the prune removed, per table.
#[derive(Debug, Default)]
pub struct Pruned {
    pub login_throttles: u64,
    pub email_tokens: u64,
    pub refresh_tokens: u64,
}

/// Deletes the rows that can no longer matter: throttles idle a day and not locked, emailed
/// tokens a day past use or expiry, refresh tokens expired longer than an access token lives
/// (an access token is refused while a revoked row of its session remains, so a row goes only
/// once every access token issued beside it has expired too).
pub async fn prune(client: &impl GenericClient, access_ttl: Duration) -> AppResult<Pruned> {
    let login_throttles = client
        .execute(
            "DELETE FROM login_throttles
             WHERE updated_at < now() - interval '1 day'
               AND (locked_until IS NULL OR locked_until < now())",
            &[],
        )
        .await?;
    let email_tokens = client
        .execute(
            "DELETE FROM email_tokens
             WHERE expires_at < now() - interval '1 day' OR used_at < now() - interval '1 day'",
            &[],
        )
        .await?;
    let refresh_tokens = client
        .execute(
            "DELETE FROM refresh_tokens WHERE expires_at < now() - make_interval(secs => $1)",
            &[&access_ttl.as_secs_f64()],
        )
        .await?;
    Ok(Pruned {
        login_throttles,
        email_tokens,
        refresh_tokens,
    })
}

/// Revokes every refresh token of `user`.
pub async fn revoke_refresh_tokens(client: &impl GenericClient, user: Uuid) -> AppResult<()> {
    client
        .execute(
            "UPDATE refresh_tokens SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL",
            &[&user],
        )
        .await?;
    Ok(())
}

/// Ends every session of `user`: refresh tokens revoked, access tokens outdated.
pub async fn end_all_sessions(client: &impl GenericClient, user: Uuid) -> AppResult<i32> {
    revoke_refresh_tokens(client, user).await?;
    let row = client
        .query_one(
            "UPDATE users SET token_version = token_version + 1, updated_at = clock_timestamp() WHERE id = $1
             RETURNING token_version",
            &[&user],
        )
        .await?;
    Ok(row.get(0))
}
