//! The hub: a real-time hub with a job queue, serving the domain block dashboard (seed 001) and
//! the booking backend (seed 002).

pub mod auth;
pub mod booking;
pub mod cli;
pub mod config;
pub mod context;
pub mod dashboard;
pub mod db;
pub mod dev;
pub mod domains;
pub mod embedded;
pub mod error;
pub mod events;
pub mod http;
pub mod mail;
pub mod metrics;
pub mod openapi;
pub mod ops;
pub mod realtime;
pub mod redis_client;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod users;
pub mod worker;

/// Every route of the web process.
pub fn routes(cfg: &mut actix_web::web::ServiceConfig) {
    cfg.configure(ops::routes)
        .configure(auth::routes::routes)
        .configure(users::routes::routes)
        .configure(domains::routes)
        .configure(booking::routes)
        .configure(openapi::routes)
        .configure(realtime::routes)
        .configure(dashboard::routes);
}
