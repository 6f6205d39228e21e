//! An event as modules publish it and as the Redis stream `events` carries it.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The stream's key, under the hub's Redis namespace.
pub const STREAM_KEY: &str = "events";

/// Field names of a stream entry.
pub const FIELD_TOPIC: &str = "topic";
pub const FIELD_NAME: &str = "event";
pub const FIELD_DATA: &str = "data";

/// A state change for live clients: `name` (e.g. `domain:nawala-updated`) on `topic` (e.g.
/// `domains`), with its JSON `data`. Its id is given by the stream when it is published.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub topic: String,
    pub name: String,
    pub data: Value,
}

impl Event {
    pub fn new(topic: impl Into<String>, name: impl Into<String>, data: Value) -> Self {
        Event {
            topic: topic.into(),
            name: name.into(),
            data,
        }
    }
}
