//! The newest events the bridge handed on, in memory, so that a session resuming a little behind
//! is answered without reading its events from Redis (one entry is read, to prove that the stream
//! is still the one they came from), and every frame it replays is the one already encoded.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use crate::bridge::{Entry, Replay};
use crate::event::Cursor;

/// At most this many bytes of frames are kept, however many events that is.
const MAX_BYTES: usize = 32 << 20;

/// An unbroken run of the stream's newest entries: each follows the one before, so one found
/// here has everything after it here too.
#[derive(Default)]
struct Run {
    entries: VecDeque<Entry>,
    bytes: usize,
}

/// The run, shared by the bridge (which appends) and the sessions (which replay from it).
#[derive(Clone)]
pub struct Recent {
    run: Arc<Mutex<Run>>,
    capacity: usize,
}

fn frame_bytes(entry: &Entry) -> usize {
    entry.frame.as_ref().map_or(0, |frame| frame.wire.len())
}

impl Recent {
    /// Keeps up to `capacity` entries.
    pub fn new(capacity: usize) -> Self {
        Recent {
            run: Arc::default(),
            capacity,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Run> {
        self.run.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Appends `entry`; the run starts again from it when it does not follow the newest.
    pub fn push(&self, entry: &Entry) {
        let mut run = self.lock();
        if run
            .entries
            .back()
            .is_some_and(|last| !last.followed_by(entry))
        {
            run.entries.clear();
            run.bytes = 0;
        }
        run.bytes += frame_bytes(entry);
        run.entries.push_back(entry.clone());
        while run.entries.len() > self.capacity.max(1) || run.bytes > MAX_BYTES {
            let Some(oldest) = run.entries.pop_front() else {
                break;
            };
            run.bytes -= frame_bytes(&oldest);
        }
    }

    /// Forgets every entry (the stream was reset).
    pub fn clear(&self) {
        let mut run = self.lock();
        run.entries.clear();
        run.bytes = 0;
    }

    /// Up to `limit` events after `since`, when `since` is in the run: then nothing after it was
    /// lost. `None` when it is not (older, newer, or of another epoch).
    pub fn replay(&self, since: Cursor, limit: usize) -> Option<Replay> {
        let run = self.lock();
        let (front, back) = (run.entries.front()?, run.entries.back()?);
        if front.cursor.epoch != since.epoch
            || since.id < front.cursor.id
            || since.id > back.cursor.id
        {
            return None;
        }
        let at = run
            .entries
            .binary_search_by(|entry| entry.cursor.id.cmp(&since.id))
            .ok()?;
        let frames = run
            .entries
            .range(at + 1..)
            .filter_map(|entry| entry.frame.clone())
            .take(limit)
            .collect();
        Some(Replay {
            since_kept: true,
            frames,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Epoch, EventId, Frame};

    fn entry(number: u64) -> Entry {
        let cursor = Cursor {
            epoch: Epoch(3),
            id: EventId {
                millis: 100 + number,
                sequence: 0,
            },
        };
        Entry {
            cursor,
            number,
            frame: Frame::encode(cursor, "domains", "test", "{}").map(Arc::new),
        }
    }

    #[test]
    fn a_resume_within_the_run_is_answered_from_memory() {
        let recent = Recent::new(3);
        for number in 1..=4 {
            recent.push(&entry(number));
        }
        assert!(
            recent.replay(entry(1).cursor, 10).is_none(),
            "dropped: capacity 3"
        );
        let replay = recent.replay(entry(2).cursor, 10).expect("kept");
        assert!(replay.since_kept);
        let ids: Vec<String> = replay
            .frames
            .iter()
            .map(|frame| frame.cursor.to_string())
            .collect();
        assert_eq!(
            ids,
            [entry(3).cursor.to_string(), entry(4).cursor.to_string()]
        );
        assert_eq!(
            recent
                .replay(entry(2).cursor, 1)
                .map(|replay| replay.frames.len()),
            Some(1)
        );
        assert_eq!(
            recent
                .replay(entry(4).cursor, 10)
                .map(|replay| replay.frames.len()),
            Some(0)
        );
        assert!(recent.replay(entry(5).cursor, 10).is_none(), "not read yet");
    }

    #[test]
    fn a_gap_starts_the_run_again() {
        let recent = Recent::new(10);
        recent.push(&entry(1));
        recent.push(&entry(2));
        recent.push(&entry(4));
        assert!(recent.replay(entry(2).cursor, 10).is_none(), "3 is missing");
        assert!(recent.replay(entry(4).cursor, 10).is_some());
        recent.clear();
        assert!(recent.replay(entry(4).cursor, 10).is_none());
    }
}
