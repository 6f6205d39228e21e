//! Users: the accounts of both products, and their administration.

pub mod model;
pub mod routes;
pub mod store;
pub mod types;

pub use model::User;
pub use store::create_verified;

use deadpool_postgres::GenericClient;

/// The topic of account events (admins' dashboards).
pub const USERS: &str = "users";

/// Records a change to an account on the `users` topic, in the change's transaction.
pub async fn record(
    client: &impl GenericClient,
    name: &str,
    user: &User,
) -> Result<(), tokio_postgres::Error> {
    let data = serde_json::to_value(user).unwrap_or_default();
    crate::events::record(client, &hub_actors::Event::new(USERS, name, data)).await
}
