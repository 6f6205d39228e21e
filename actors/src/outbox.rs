//! A session's outbound bound. The broadcaster counts the frames it has handed a session and the
//! session has not yet written; past `max_pending` the session is closed with 1013.
//!
//! The count grows only while the connection stops polling the session (actix-web writes a
//! response body only as fast as the client reads), so the session itself cannot notice: the
//! broadcaster marks the outbox, and [`CloseOnOverflow`], the response body around the session,
//! ends the socket with a close frame the next time the connection asks for bytes.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::task::AtomicWaker;
use futures_util::Stream;

/// WebSocket close code 1013, "try again later".
pub const TRY_AGAIN_LATER: u16 = 1013;

#[derive(Debug, Default)]
pub struct Outbox {
    pending: AtomicUsize,
    overflowed: AtomicBool,
    waker: AtomicWaker,
}

impl Outbox {
    /// Counts one more frame for the session; false (and nothing counted) when it holds `max`.
    pub fn reserve(&self, max: usize) -> bool {
        if self.pending.fetch_add(1, Ordering::AcqRel) >= max {
            self.pending.fetch_sub(1, Ordering::AcqRel);
            return false;
        }
        true
    }

    /// The session took a frame off its queue.
    pub fn taken(&self) {
        self.pending.fetch_sub(1, Ordering::AcqRel);
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
    fn the_outbox_holds_at_most_max() {
        let outbox = Outbox::default();
        assert!(outbox.reserve(2));
        assert!(outbox.reserve(2));
        assert!(!outbox.reserve(2));
        assert_eq!(outbox.pending(), 2);
        outbox.taken();
        assert!(outbox.reserve(2));
    }

    #[test]
    fn a_close_frame_carries_its_code() {
        let frame = close_frame(TRY_AGAIN_LATER, "slow");
        assert_eq!(&frame[..], &[0x88, 6, 0x03, 0xF5, b's', b'l', b'o', b'w']);
    }
}
