//! A session's outbound bound. The broadcaster counts the frames it has handed a session and the
//! session has not yet taken. A session holding `max_pending` frames that has taken none for
//! [`STALL`] is closed with 1013, and so is one holding [`HARD_LIMIT_FACTOR`] times that at all:
//! a burst (one scan batch can announce thousands of changes) briefly fills the queue of a
//! healthy session too, and only a session that stopped draining is at fault.
//!
//! The count grows only while the connection stops polling the session (actix-web writes a
//! response body only as fast as the client reads), so the session itself cannot notice: the
//! broadcaster marks the outbox, and [`CloseOnOverflow`], the response body around the session,
//! ends the socket with a close frame the next time the connection asks for bytes.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::task::AtomicWaker;
use futures_util::Stream;

/// WebSocket close code 1013, "try again later".
pub const TRY_AGAIN_LATER: u16 = 1013;

/// How long a full session may go without taking a frame before it is closed.
pub const STALL: Duration = Duration::from_secs(1);
/// A session holding this many times `max_pending` is closed even while it drains.
pub const HARD_LIMIT_FACTOR: usize = 8;

fn millis_since_start() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_millis() as u64
}

#[derive(Debug)]
pub struct Outbox {
    pending: AtomicUsize,
    last_taken: AtomicU64,
    overflowed: AtomicBool,
    waker: AtomicWaker,
}

impl Default for Outbox {
    fn default() -> Self {
        Outbox {
            pending: AtomicUsize::new(0),
            last_taken: AtomicU64::new(millis_since_start()),
            overflowed: AtomicBool::new(false),
            waker: AtomicWaker::new(),
        }
    }
}

impl Outbox {
    /// Counts one more frame handed to the session; answers how many it now holds.
    pub fn push(&self) -> usize {
        let pending = self.pending.fetch_add(1, Ordering::AcqRel) + 1;
        if pending == 1 {
            // An idle session's stall is counted from the first frame it was given.
            self.last_taken
                .store(millis_since_start(), Ordering::Release);
        }
        pending
    }

    /// The session took a frame off its queue.
    pub fn taken(&self) {
        self.pending.fetch_sub(1, Ordering::AcqRel);
        self.last_taken
            .store(millis_since_start(), Ordering::Release);
    }

    /// Whether the session, allowed `max_pending` frames, reads too slowly.
    pub fn too_slow(&self, max_pending: usize) -> bool {
        let pending = self.pending();
        if pending >= max_pending.saturating_mul(HARD_LIMIT_FACTOR) {
            return true;
        }
        if pending < max_pending {
            // The common case, on the broadcaster's path for every frame: no clock read.
            return false;
        }
        let idle = millis_since_start().saturating_sub(self.last_taken.load(Ordering::Acquire));
        idle >= STALL.as_millis() as u64
    }

    pub fn pending(&self) -> usize {
        self.pending.load(Ordering::Acquire)
    }

    /// Marks the session as too slow; its socket is closed with 1013.
    pub fn overflow(&self) {
        self.overflowed.store(true, Ordering::Release);
        self.waker.wake();
    }

    pub fn overflowed(&self) -> bool {
        self.overflowed.load(Ordering::Acquire)
    }
}

/// The response body of a session: the session's own bytes until its outbox overflows, then a
/// close frame with code 1013, then the end of the connection.
pub struct CloseOnOverflow<S> {
    inner: Option<S>,
    outbox: std::sync::Arc<Outbox>,
}

impl<S> CloseOnOverflow<S> {
    pub fn new(inner: S, outbox: std::sync::Arc<Outbox>) -> Self {
        CloseOnOverflow {
            inner: Some(inner),
            outbox,
        }
    }
}

/// An unmasked server close frame carrying `code` and `reason` (at most 123 bytes).
pub fn close_frame(code: u16, reason: &str) -> Bytes {
    let reason = &reason.as_bytes()[..reason.len().min(123)];
    let mut frame = Vec::with_capacity(4 + reason.len());
    frame.push(0x88);
    frame.push((2 + reason.len()) as u8);
    frame.extend_from_slice(&code.to_be_bytes());
    frame.extend_from_slice(reason);
    Bytes::from(frame)
}

impl<S, E> Stream for CloseOnOverflow<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
{
    type Item = Result<Bytes, E>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(None);
        };
        this.outbox.waker.register(cx.waker());
        if this.outbox.overflowed() {
            // Dropping the session's stream stops the session actor.
            this.inner = None;
            let frame = close_frame(TRY_AGAIN_LATER, "too slow: reconnect and resume");
            return Poll::Ready(Some(Ok(frame)));
        }
        Pin::new(inner).poll_next(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_draining_session_may_exceed_the_bound_up_to_the_hard_limit() {
        let outbox = Outbox::default();
        for _ in 0..3 {
            outbox.push();
        }
        outbox.taken();
        assert_eq!(outbox.pending(), 2);
        assert!(!outbox.too_slow(2), "it took a frame just now");
        for _ in 0..14 {
            outbox.push();
        }
        assert!(outbox.too_slow(2));
    }

    #[test]
    fn a_close_frame_carries_its_code() {
        let frame = close_frame(TRY_AGAIN_LATER, "slow");
        assert_eq!(&frame[..], &[0x88, 6, 0x03, 0xF5, b's', b'l', b'o', b'w']);
    }
}
