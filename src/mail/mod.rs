//! Mail: every mail is a row in `mails` first (the outbox); a job on the `email` queue wakes the
//! worker to send it; the worker's sweep re-enqueues mails that are due but were never sent.

pub mod deliver;
pub mod outbox;
pub mod transport;

pub use outbox::{queue_mail, OutgoingMail};
