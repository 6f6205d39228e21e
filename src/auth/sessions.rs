//! Starting sessions (a token pair) and ending them all (a password replaced).

use deadpool_postgres::GenericClient;
use uuid::Uuid;

use super::mails;
use super::store;
use super::tokens::{self, TokenType};
use crate::config::AuthSettings;
use crate::error::AppResult;
use crate::mail::outbox;
use crate::users::{store as users, User};

pub struct TokenPair {
    pub access: String,
    pub refresh: String,
}

/// Issues an access and a refresh token; the refresh token joins `family` or starts a new one.
pub async fn start(
    client: &impl GenericClient,
    auth: &AuthSettings,
    user: &User,
    family: Option<Uuid>,
) -> AppResult<TokenPair> {
    let version = users::token_version(client, user.id).await?;
    let family = family.unwrap_or_else(Uuid::new_v4);
    let access = tokens::issue(auth, TokenType::Access, user.id, user.role, version, family)?;
    let refresh = tokens::issue(
        auth,
        TokenType::Refresh,
        user.id,
        user.role,
        version,
        family,
    )?;
    store::store_refresh_token(
        client,
        refresh.jti,
        user.id,
        family,
        &refresh.token,
        refresh.expires_at,
    )
    .await?;
    Ok(TokenPair {
        access: access.token,
        refresh: refresh.token,
    })
}

/// Sets a new password hash, ends every session, voids the reset links still unused and queues the
/// notice; returns the user and the notice's mail id (to wake after commit).
pub async fn replace_password(
    client: &impl GenericClient,
    user: Uuid,
    hash: &str,
) -> AppResult<(User, Uuid)> {
    let user = users::set_password(client, user, hash).await?;
    store::end_all_sessions(client, user.id).await?;
    store::void_email_tokens(client, user.id, store::Purpose::ResetPassword).await?;
    // Read again: ending the sessions touched the row too, and its event carries the row as
    // committed.
    let user = users::find(client, user.id).await?.unwrap_or(user);
    let letter = mails::password_changed(user.greeting_name());
    let mail_id = outbox::queue_mail(client, &letter.to(&user.email)).await?;
    Ok((user, mail_id))
}
