//! Integration tests: the hub against real PostgreSQL, Redis and SMTP servers.

mod auth;
mod booking;
mod booking_more;
mod bulk;
mod dashboard;
mod delivery;
mod demo;
mod domains;
mod drills;
mod helpers;
mod hostile_input;
mod limits;
mod live;
mod nginx;
mod ops;
mod page;
mod plumbing;
mod production;
mod realtime;
mod refusals;
mod relay;
mod services;
mod sessions;
mod slow_clients;
mod users;
