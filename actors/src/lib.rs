//! The hub's real-time layer. It knows events, topics and sessions, nothing of the business.
//!
//! Events flow one way: the hub's relay appends them to the Redis stream `events`; each web
//! process's [`bridge`] reads the stream and hands the events to its [`Broadcaster`], which
//! hands each batch once to every [`shard`] (one per HTTP worker thread) with sessions on their
//! topics; the shard queues each event on the [`link`] of every such [`Session`] of its thread.

pub mod bridge;
pub mod broadcaster;
pub mod event;
pub mod link;
pub mod recent;
pub mod session;
pub mod shard;
pub mod socket;
pub mod topics;

pub use bridge::EventLog;
pub use broadcaster::{Broadcaster, Stats};
pub use event::{Cursor, Epoch, Event, EventId, Frame, META_KEY, STREAM_KEY};
pub use link::{Limits, Link};
pub use session::{Session, SessionSettings};
pub use topics::Grants;
