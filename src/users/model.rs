//! A user as stored and as the API shows it.

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio_postgres::Row;
use utoipa::ToSchema;
use uuid::Uuid;

use super::types::Role;

/// The columns `User::from_row` reads, for `SELECT`/`RETURNING`.
pub const USER_COLUMNS: &str = "id, name, email, phone, role, email_verified_at, disabled, \
     last_login_at, created_at, updated_at";

/// An account as the API shows it: never its password.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: Uuid,
    pub name: String,
    /// Lower-case.
    pub email: String,
    #[schema(required = true)]
    pub phone: Option<String>,
    pub role: Role,
    /// Whether the owner of the address proved it (new accounts sign in only once it is).
    pub email_verified: bool,
    /// A disabled account cannot sign in.
    pub disabled: bool,
    #[schema(required = true)]
    pub last_login: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// `data` of an answer about one account.
#[derive(Debug, Serialize, ToSchema)]
pub struct OneUser {
    pub user: User,
}

impl User {
    pub fn from_row(row: &Row) -> Self {
        let role: String = row.get("role");
        User {
            id: row.get("id"),
            name: row.get("name"),
            email: row.get("email"),
            phone: row.get("phone"),
            role: Role::parse(&role).unwrap_or(Role::User),
            email_verified: row
                .get::<_, Option<DateTime<Utc>>>("email_verified_at")
                .is_some(),
            disabled: row.get("disabled"),
            last_login: row.get("last_login_at"),
            created_at: row.get("created_at"),
            updated_at: row.get("updated_at"),
        }
    }

    /// The name a mail may greet with: none until the mailbox's owner has verified it, since
    /// until then the name was typed by whoever registered the address.
    pub fn greeting_name(&self) -> Option<&str> {
        self.email_verified.then_some(self.name.as_str())
    }
}
