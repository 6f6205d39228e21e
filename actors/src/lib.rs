//! The hub's real-time layer. It knows events, topics and sessions, nothing of the business.
//!
//! Events flow one way: a module publishes to the Redis stream `events`; each web process's
//! [`bridge`] reads the stream and hands the events to its [`Broadcaster`], which hands each to the
//! [`Session`]s holding its topic.

pub mod bridge;
pub mod broadcaster;
pub mod event;
pub mod outbox;
pub mod session;
pub mod topics;

pub use bridge::EventLog;
pub use broadcaster::{Broadcaster, Stats};
pub use event::{Event, EventId, Frame, STREAM_KEY};
pub use session::{Session, SessionSettings};
pub use topics::Grants;
