//! Accounts and auth (seed 002).

pub mod password;
