//! The hub's real-time layer. It knows events, topics and sessions, nothing of the business.

pub mod event;

pub use event::{Event, STREAM_KEY};
