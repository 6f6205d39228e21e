//! The hub's job queues on Redis (apalis): queue names, payloads, the typed enqueue API, and the
//! settings every worker of `hub worker` is built with. Nothing here knows the business: a job
//! names a row in PostgreSQL, and the handler (in the `hub` crate) does the work.

mod counters;
mod payloads;
mod queues;

pub use counters::{record_outcome, Outcome};
pub use payloads::{ExpireReservation, IngestScan, SendEmail};
pub use queues::{storage_for, worker_name, EnqueueError, Queues, Tuning};

/// Queue names, as API.md lists them.
pub mod queue {
    pub const EMAIL: &str = "email";
    pub const SCAN_INGEST: &str = "scan-ingest";
    pub const RESERVATION_EXPIRY: &str = "reservation-expiry";
    pub const ALL: [&str; 3] = [EMAIL, SCAN_INGEST, RESERVATION_EXPIRY];
}
