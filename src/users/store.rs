//! SQL of the users table.

use deadpool_postgres::GenericClient;

use super::model::{User, USER_COLUMNS};
use super::types::{Email, Password, PersonName, Role};
use crate::auth::password;
use crate::config::AuthSettings;
use crate::error::AppResult;

/// An account that can sign in at once (no verification mail): for `hub create-user` and admins.
pub async fn create_verified(
    client: &impl GenericClient,
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
    let row = client
        .query_one(
            &format!(
                "INSERT INTO users (name, email, password_hash, role, email_verified_at)
                 VALUES ($1, $2, $3, $4, now()) RETURNING {USER_COLUMNS}"
            ),
            &[&name.as_str(), &email.as_str(), &hash, &role.as_str()],
        )
        .await?;
    Ok(User::from_row(&row))
}
