//! An event as modules publish it, as the Redis stream `events` carries it, and as a WebSocket
//! frame carries it to clients.

use std::fmt;
use std::str::FromStr;

use bytestring::ByteString;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
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

/// A stream entry id (`<milliseconds>-<sequence>`): it orders every event of the hub.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventId {
    pub millis: u64,
    pub sequence: u64,
}

impl EventId {
    pub const ZERO: EventId = EventId {
        millis: 0,
        sequence: 0,
    };
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadEventId;

impl fmt::Display for BadEventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an event id looks like 1700000000000-0")
    }
}

impl FromStr for EventId {
    type Err = BadEventId;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (millis, sequence) = text.split_once('-').unwrap_or((text, "0"));
        Ok(EventId {
            millis: millis.parse().map_err(|_| BadEventId)?,
            sequence: sequence.parse().map_err(|_| BadEventId)?,
        })
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.millis, self.sequence)
    }
}

/// An event ready for the wire: serialized once, its text shared by every session it goes to.
#[derive(Debug)]
pub struct Frame {
    pub id: EventId,
    pub topic: String,
    pub name: String,
    pub text: ByteString,
}

impl Frame {
    /// `{"event", "topic", "id", "data"}`; `None` when `data` is not JSON (then nothing of ours
    /// wrote it, and it is not passed on).
    pub fn encode(id: EventId, topic: &str, name: &str, data: &str) -> Option<Frame> {
        let data: &RawValue = serde_json::from_str(data).ok()?;
        let text = format!(
            r#"{{"event":{},"topic":{},"id":"{id}","data":{}}}"#,
            Value::from(name),
            Value::from(topic),
            data.get()
        );
        Some(Frame {
            id,
            topic: topic.to_owned(),
            name: name.to_owned(),
            text: text.into(),
        })
    }
}

/// Published on `user:<id>` when that user's credentials stop holding (deleted, disabled, a new
/// password, another role): every process closes the user's open sessions (1008).
pub const SESSIONS_REVOKED: &str = "session:revoked";

/// A frame of the hub's own (`hello`, `resumed`, `subscribed`, `error`): `{"event", "data"}`.
pub fn control_frame(name: &str, data: Value) -> String {
    serde_json::json!({ "event": name, "data": data }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_order_by_time_then_sequence() {
        let a: EventId = "1700000000000-5".parse().unwrap();
        let b: EventId = "1700000000001-0".parse().unwrap();
        assert!(a < b);
        assert_eq!(a.to_string(), "1700000000000-5");
        assert_eq!(
            "17".parse::<EventId>(),
            Ok(EventId {
                millis: 17,
                sequence: 0
            })
        );
        assert!("x-1".parse::<EventId>().is_err());
    }

    #[test]
    fn a_frame_embeds_the_data_as_json() {
        let id = EventId {
            millis: 1,
            sequence: 2,
        };
        let frame = Frame::encode(id, "domains", "domain:created", r#"{"a":"\"q\""}"#).unwrap();
        let value: Value = serde_json::from_str(&frame.text).unwrap();
        assert_eq!(value["event"], "domain:created");
        assert_eq!(value["topic"], "domains");
        assert_eq!(value["id"], "1-2");
        assert_eq!(value["data"]["a"], "\"q\"");
        assert!(Frame::encode(id, "domains", "x", "not json").is_none());
    }
}
