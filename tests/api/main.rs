//! Integration tests: the hub against real PostgreSQL, Redis and SMTP servers.

mod auth;
mod helpers;
mod ops;
mod plumbing;
mod services;
mod users;
