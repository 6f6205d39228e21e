//! An event as modules record it, as the Redis stream `events` carries it, and as a WebSocket
//! frame carries it to clients.

use std::fmt;
use std::str::FromStr;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;

/// The stream's key, under the hub's Redis namespace.
pub const STREAM_KEY: &str = "events";
/// A hash beside the stream: its `epoch`, the count `n` of entries added in that epoch, and the
/// `fence` term of the active relay.
pub const META_KEY: &str = "events:meta";

/// Field names of a stream entry.
pub const FIELD_TOPIC: &str = "topic";
pub const FIELD_NAME: &str = "event";
pub const FIELD_DATA: &str = "data";
pub const FIELD_EPOCH: &str = "epoch";
/// The entry's number in its epoch: 1, 2, 3… with no gaps, so a reader can tell it missed some.
pub const FIELD_NUMBER: &str = "n";
/// The outbox row the entry was relayed from.
pub const FIELD_UID: &str = "uid";

/// A state change for live clients: `name` (e.g. `domain:nawala-updated`) on `topic` (e.g.
/// `domains`), with its JSON `data`. Its id is given by the stream when it is relayed.
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

/// A stream entry id (`<milliseconds>-<sequence>`): it orders the events of one epoch.
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
        f.write_str("an event id looks like 9f3a61c2:1700000000000-0")
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

/// One life of the stream. A stream created anew (deleted, flushed, or lost with a Redis restart)
/// gets a new epoch, so ids from before can be told apart from ids after.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Epoch(pub u64);

impl fmt::Display for Epoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:08x}", self.0)
    }
}

impl FromStr for Epoch {
    type Err = BadEventId;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        u64::from_str_radix(text, 16)
            .map(Epoch)
            .map_err(|_| BadEventId)
    }
}

/// An event's id as clients see it, `<epoch>:<stream id>`: where it is, and in which life of
/// the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cursor {
    pub epoch: Epoch,
    pub id: EventId,
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.epoch, self.id)
    }
}

impl FromStr for Cursor {
    type Err = BadEventId;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (epoch, id) = text.split_once(':').ok_or(BadEventId)?;
        Ok(Cursor {
            epoch: epoch.parse()?,
            id: id.parse()?,
        })
    }
}

/// An event ready for the wire: encoded once as a WebSocket text frame, its bytes shared by every
/// session it goes to.
#[derive(Debug)]
pub struct Frame {
    pub cursor: Cursor,
    pub topic: String,
    pub name: String,
    pub wire: Bytes,
    /// For `session:revoked` naming one sign-in session (`data.sessionId`): only the sockets
    /// opened with that session's tokens close; without it, every socket of the user does.
    pub revokes_session: Option<String>,
}

impl Frame {
    /// `{"event", "topic", "id", "data"}`; `None` when `data` is not JSON (then nothing of ours
    /// wrote it, and it is not passed on).
    pub fn encode(cursor: Cursor, topic: &str, name: &str, data: &str) -> Option<Frame> {
        let data: &RawValue = serde_json::from_str(data).ok()?;
        let text = format!(
            r#"{{"event":{},"topic":{},"id":"{cursor}","data":{}}}"#,
            Value::from(name),
            Value::from(topic),
            data.get()
        );
        let revokes_session = (name == SESSIONS_REVOKED)
            .then(|| serde_json::from_str::<Value>(data.get()).ok())
            .flatten()
            .and_then(|data| data.get("sessionId")?.as_str().map(str::to_owned));
        Some(Frame {
            cursor,
            topic: topic.to_owned(),
            name: name.to_owned(),
            wire: text_frame(&text),
            revokes_session,
        })
    }

    pub fn id(&self) -> EventId {
        self.cursor.id
    }
}

/// Published on `user:<id>` when that user's credentials stop holding (deleted, disabled, a new
/// password, another role): every process closes the user's open sessions (1008).
pub const SESSIONS_REVOKED: &str = "session:revoked";

/// A frame of the hub's own (`hello`, `resumed`, `subscribed`, `resync`, `error`):
/// `{"event", "data"}`, as a WebSocket text frame.
pub fn control_frame(name: &str, data: Value) -> Bytes {
    text_frame(&serde_json::json!({ "event": name, "data": data }).to_string())
}

/// An unmasked, unfragmented server text frame.
pub fn text_frame(text: &str) -> Bytes {
    frame_with(0x81, text.as_bytes())
}

/// An unmasked server close frame carrying `code` and `reason` (cut to 123 bytes).
pub fn close_frame(code: u16, reason: &str) -> Bytes {
    let reason = &reason.as_bytes()[..reason.len().min(123)];
    let mut payload = Vec::with_capacity(2 + reason.len());
    payload.extend_from_slice(&code.to_be_bytes());
    payload.extend_from_slice(reason);
    frame_with(0x88, &payload)
}

fn frame_with(first_byte: u8, payload: &[u8]) -> Bytes {
    let mut frame = Vec::with_capacity(payload.len() + 10);
    frame.push(first_byte);
    match payload.len() {
        len @ 0..=125 => frame.push(len as u8),
        len @ 126..=0xFFFF => {
            frame.push(126);
            frame.extend_from_slice(&(len as u16).to_be_bytes());
        }
        len => {
            frame.push(127);
            frame.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(payload);
    Bytes::from(frame)
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
        assert!("x-1".parse::<EventId>().is_err());
    }

    #[test]
    fn a_cursor_names_its_epoch() {
        let cursor: Cursor = "00c0ffee:1700000000000-5".parse().unwrap();
        assert_eq!(cursor.epoch, Epoch(0xc0ffee));
        assert_eq!(cursor.to_string(), "00c0ffee:1700000000000-5");
        assert!("1700000000000-5".parse::<Cursor>().is_err());
        assert!("zz:1-0".parse::<Cursor>().is_err());
    }

    fn payload_of(frame: &[u8]) -> &[u8] {
        match frame[1] {
            126 => &frame[4..],
            127 => &frame[10..],
            _ => &frame[2..],
        }
    }

    #[test]
    fn a_frame_embeds_the_data_as_json() {
        let cursor = Cursor {
            epoch: Epoch(1),
            id: EventId {
                millis: 1,
                sequence: 2,
            },
        };
        let frame = Frame::encode(cursor, "domains", "domain:created", r#"{"a":"\"q\""}"#).unwrap();
        assert_eq!(frame.wire[0], 0x81);
        let value: Value = serde_json::from_slice(payload_of(&frame.wire)).unwrap();
        assert_eq!(value["event"], "domain:created");
        assert_eq!(value["topic"], "domains");
        assert_eq!(value["id"], "00000001:1-2");
        assert_eq!(value["data"]["a"], "\"q\"");
        assert!(Frame::encode(cursor, "domains", "x", "not json").is_none());
    }

    #[test]
    fn frame_lengths_use_the_right_header() {
        for len in [0, 125, 126, 65_535, 65_536] {
            let frame = text_frame(&"x".repeat(len));
            assert_eq!(payload_of(&frame).len(), len, "{len}");
        }
        let close = close_frame(1013, "slow");
        assert_eq!(&close[..], &[0x88, 6, 0x03, 0xF5, b's', b'l', b'o', b'w']);
    }
}
