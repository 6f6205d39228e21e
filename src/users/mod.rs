//! Users: the accounts of both products, and their administration.

pub mod model;
pub mod store;
pub mod types;

pub use model::User;
pub use store::create_verified;
