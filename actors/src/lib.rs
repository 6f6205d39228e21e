//! The hub's real-time layer. It knows events, topics and sessions, nothing of the business.
//!
//! Events flow one way: the hub's relay appends them to the Redis stream `events`; each web
//! process's [`bridge`] reads the stream and hands the events to its [`Broadcaster`], which
//! queues each on the [`link`] of every [`Session`] holding its topic.

pub mod bridge;
pub mod broadcaster;
pub mod event;
pub mod link;
pub mod session;
pub mod socket;
pub mod topics;

pub use bridge::EventLog;
pub use broadcaster::{Broadcaster, Stats};
pub use event::{Cursor, Epoch, Event, EventId, Frame, META_KEY, STREAM_KEY};
pub use link::{Limits, Link};
pub use session::{Session, SessionSettings};
pub use topics::Grants;
