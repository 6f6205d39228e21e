//! Users: the accounts of both products, and their administration.

pub mod model;
pub mod routes;
pub mod store;
pub mod types;

pub use model::User;
pub use store::create_verified;

use crate::state::AppState;

/// Announces a change to an account on the `users` topic (admins' dashboards).
pub async fn publish(state: &AppState, name: &str, user: &User) {
    let data = serde_json::to_value(user).unwrap_or_default();
    state
        .events
        .publish_logged(hub_actors::Event::new("users", name, data))
        .await;
}
