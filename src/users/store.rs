//! SQL of the users table.

use deadpool_postgres::GenericClient;

use super::model::{User, USER_COLUMNS};
use super::types::{Email, Password, PersonName, Role};
use crate::auth::password;
use crate::config::AuthSettings;
use crate::error::{AppError, AppResult};
use crate::http::pagination::Page;
use uuid::Uuid;

/// An account that can sign in at once (no verification mail): for `hub create-user` and admins.
/// Announced as `user:created`.
pub async fn create_verified(
    client: &mut deadpool_postgres::Client,
    auth: &AuthSettings,
    email: &str,
    plain_password: &str,
    name: &str,
    role: &str,
) -> AppResult<User> {
    let email = Email::parse(email)?;
    let name = PersonName::parse(name)?;
    let role = Role::parse(role)?;
    let password = Password::parse(plain_password, "password")?;
    let hash = password::hash(&password, auth.bcrypt_cost).await?;
    let tx = client.transaction().await?;
    let row = tx
        .query_one(
            &format!(
                "INSERT INTO users (name, email, password_hash, role, email_verified_at)
                 VALUES ($1, $2, $3, $4, now()) RETURNING {USER_COLUMNS}"
            ),
            &[&name.as_str(), &email.as_str(), &hash, &role.as_str()],
        )
        .await?;
    let user = User::from_row(&row);
    super::record(&tx, "user:created", &user).await?;
    tx.commit().await?;
    Ok(user)
}

/// A registration: a new, unverified account, or, for an address whose earlier registration was
/// never verified and is older than 30 minutes, that registration replaced (name, phone
/// and password: whoever made it never proved the mailbox, and may not have been its owner). The
/// flag says a registration was replaced. A verified address, or a registration made within the
/// last 30 minutes, is a 409: its owner can still prove the mailbox with a password reset, and a
/// squatter cannot swap their password in under a link the owner just asked for.
pub async fn register(
    client: &impl GenericClient,
    name: &PersonName,
    email: &Email,
    phone: Option<&str>,
    password_hash: &str,
) -> AppResult<(User, bool)> {
    let row = client
        .query_opt(
            &format!(
                "INSERT INTO users AS u (name, email, phone, password_hash) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (email) DO UPDATE SET
                     name = EXCLUDED.name, phone = EXCLUDED.phone,
                     password_hash = EXCLUDED.password_hash, created_at = now(),
                     updated_at = clock_timestamp()
                 WHERE u.email_verified_at IS NULL AND u.created_at < now() - interval '30 minutes'
                 RETURNING {USER_COLUMNS}, (xmax <> 0) AS replaced"
            ),
            &[&name.as_str(), &email.as_str(), &phone, &password_hash],
        )
        .await?
        .ok_or_else(|| {
            AppError::conflict("This email is already registered")
                .with_field("email", "This email is already registered")
        })?;
    Ok((User::from_row(&row), row.get("replaced")))
}

/// As [`find`], locking the row until the transaction ends: the checks made on it hold for the
/// change that follows, and changes to one account are announced in the order they commit.
pub async fn find_for_update(client: &impl GenericClient, id: Uuid) -> AppResult<Option<User>> {
    find_where(client, id, "FOR UPDATE").await
}

/// As [`find`], holding the row against changes (a password reset) until the transaction ends.
pub async fn find_for_share(client: &impl GenericClient, id: Uuid) -> AppResult<Option<User>> {
    find_where(client, id, "FOR SHARE").await
}

pub async fn find(client: &impl GenericClient, id: Uuid) -> AppResult<Option<User>> {
    find_where(client, id, "").await
}

async fn find_where(client: &impl GenericClient, id: Uuid, lock: &str) -> AppResult<Option<User>> {
    let row = client
        .query_opt(
            &format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1 {lock}"),
            &[&id],
        )
        .await?;
    Ok(row.as_ref().map(User::from_row))
}

pub async fn find_by_email(client: &impl GenericClient, email: &Email) -> AppResult<Option<User>> {
    let row = client
        .query_opt(
            &format!("SELECT {USER_COLUMNS} FROM users WHERE email = $1"),
            &[&email.as_str()],
        )
        .await?;
    Ok(row.as_ref().map(User::from_row))
}

/// The user with their password hash, for login.
pub async fn find_credentials(
    client: &impl GenericClient,
    email: &Email,
) -> AppResult<Option<(User, String)>> {
    let row = client
        .query_opt(
            &format!("SELECT {USER_COLUMNS}, password_hash FROM users WHERE email = $1"),
            &[&email.as_str()],
        )
        .await?;
    Ok(row.map(|row| (User::from_row(&row), row.get("password_hash"))))
}

pub async fn password_hash(client: &impl GenericClient, id: Uuid) -> AppResult<String> {
    let row = client
        .query_opt("SELECT password_hash FROM users WHERE id = $1", &[&id])
        .await?
        .ok_or_else(|| AppError::unauthorized("Sign in first"))?;
    Ok(row.get(0))
}

pub async fn token_version(client: &impl GenericClient, id: Uuid) -> AppResult<i32> {
    let row = client
        .query_one("SELECT token_version FROM users WHERE id = $1", &[&id])
        .await?;
    Ok(row.get(0))
}

async fn update_returning(client: &impl GenericClient, sql_set: &str, id: Uuid) -> AppResult<User> {
    let row = client
        .query_opt(
            &format!("UPDATE users SET {sql_set}, updated_at = clock_timestamp() WHERE id = $1 RETURNING {USER_COLUMNS}"),
            &[&id],
        )
        .await?
        .ok_or_else(|| AppError::not_found("No such user"))?;
    Ok(User::from_row(&row))
}

pub async fn mark_verified(client: &impl GenericClient, id: Uuid) -> AppResult<User> {
    update_returning(
        client,
        "email_verified_at = COALESCE(email_verified_at, now())",
        id,
    )
    .await
}

pub async fn record_login(client: &impl GenericClient, id: Uuid) -> AppResult<User> {
    update_returning(client, "last_login_at = now()", id).await
}

pub async fn set_password(client: &impl GenericClient, id: Uuid, hash: &str) -> AppResult<User> {
    let row = client
        .query_opt(
            &format!(
                "UPDATE users SET password_hash = $2, updated_at = clock_timestamp() WHERE id = $1 RETURNING {USER_COLUMNS}"
            ),
            &[&id, &hash],
        )
        .await?
        .ok_or_else(|| AppError::not_found("No such user"))?;
    Ok(User::from_row(&row))
}

/// Changes the given fields (those `Some`).
pub async fn update(
    client: &impl GenericClient,
    id: Uuid,
    name: Option<&str>,
    phone: Option<Option<&str>>,
    role: Option<Role>,
    disabled: Option<bool>,
) -> AppResult<User> {
    let role = role.map(Role::as_str);
    let row = client
        .query_opt(
            &format!(
                "UPDATE users SET
                     name = COALESCE($2, name),
                     phone = CASE WHEN $3 THEN $4 ELSE phone END,
                     role = COALESCE($5, role),
                     disabled = COALESCE($6, disabled),
                     -- Disabling ends every token: re-enabling must not revive old sessions.
                     token_version = token_version + (COALESCE($6, false) AND NOT disabled)::int,
                     updated_at = clock_timestamp()
                 WHERE id = $1 RETURNING {USER_COLUMNS}"
            ),
            &[
                &id,
                &name,
                &phone.is_some(),
                &phone.flatten(),
                &role,
                &disabled,
            ],
        )
        .await?
        .ok_or_else(|| AppError::not_found("No such user"))?;
    Ok(User::from_row(&row))
}

pub async fn delete(client: &impl GenericClient, id: Uuid) -> AppResult<bool> {
    Ok(client
        .execute("DELETE FROM users WHERE id = $1", &[&id])
        .await?
        == 1)
}

pub async fn list(
    client: &impl GenericClient,
    search: Option<&str>,
    role: Option<Role>,
    page: Page,
) -> AppResult<(Vec<User>, i64)> {
    let pattern = search.map(crate::db::contains_pattern);
    let role = role.map(Role::as_str);
    let filter =
        "($1::text IS NULL OR name ILIKE $1 OR email ILIKE $1) AND ($2::text IS NULL OR role = $2)";
    let total: i64 = client
        .query_one(
            &format!("SELECT count(*) FROM users WHERE {filter}"),
            &[&pattern, &role],
        )
        .await?
        .get(0);
    let rows = client
        .query(
            &format!(
                "SELECT {USER_COLUMNS} FROM users WHERE {filter}
                 ORDER BY created_at DESC, id LIMIT $3 OFFSET $4"
            ),
            &[&pattern, &role, &page.limit, &page.offset()],
        )
        .await?;
    Ok((rows.iter().map(User::from_row).collect(), total))
}
