//! Accounts and auth (seed 002): registration with email verification, login with lockout,
//! rotating refresh tokens, password reset and change.

pub mod extractor;
pub mod lockout;
pub mod mails;
pub mod password;
pub mod routes;
pub mod secrets;
pub mod sessions;
pub mod store;
pub mod tokens;

pub use extractor::{Admin, MaybeSignedIn, SignedIn};
