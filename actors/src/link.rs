//! A session's link to its client: the frames queued for it, in order, and the response body that
//! hands them to the connection.
//!
//! The shard of the session's thread queues event frames here (no actor message per frame), and
//! the connection takes them as fast as the client accepts them: actix-web writes a response body
//! only as fast as the client reads (above the queue sit only actix's write buffer and the
//! kernel's socket buffers, both bounded). So the queue is what the client has not accepted,
//! and the rule for a client too slow is judged on it: a session holding `max_pending` frames
//! that the connection has not taken one of for [`STALL`] is closed with 1013, and a frame that
//! would make it hold [`HARD_LIMIT_FACTOR`] times that closes it at once. A session that falls
//! behind because the server is busy keeps being drained, and is not closed.
//!
//! Every close the hub makes goes through [`Link::terminate`]: the body writes the close frame
//! and ends; if the connection is still there [`CLOSE_GRACE`] later (its client reads nothing),
//! its socket is shut.

use std::collections::{BTreeSet, VecDeque};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::task::AtomicWaker;
use futures_util::Stream;
use serde_json::json;

use crate::bridge::Replay;
use crate::event::{close_frame, control_frame, Cursor, Epoch, Frame};
use crate::socket::Socket;

/// WebSocket close codes the hub uses.
pub const TRY_AGAIN_LATER: u16 = 1013;
pub const POLICY_VIOLATION: u16 = 1008;
pub const GOING_AWAY: u16 = 1001;
pub const SERVICE_RESTART: u16 = 1012;
/// The process is stopping: the client reconnects (to another instance) and resumes.
pub const STOPPING: Verdict = (SERVICE_RESTART, "service restart: reconnect and resume");

/// How long a full session may go without the connection taking a frame before it is closed.
pub const STALL: Duration = Duration::from_secs(1);
/// A session holding this many times `max_pending` is closed even while it drains.
pub const HARD_LIMIT_FACTOR: usize = 8;
/// How long a closing connection may take to write its close frame before its socket is shut.
pub const CLOSE_GRACE: Duration = Duration::from_secs(1);

fn now_millis() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_millis() as u64
}

struct Closing {
    code: u16,
    reason: &'static str,
    since: u64,
}

#[derive(Default)]
struct Queue {
    frames: VecDeque<Bytes>,
    /// The newest event sent or skipped: nothing at or before it goes out again.
    delivered: Option<Cursor>,
    /// The first event sent live: the live ones since form one unbroken run.
    first_live: Option<Cursor>,
    /// Live events held back while a replay is read, so that the client sees them in order.
    held: Option<Vec<Arc<Frame>>>,
    /// A resync came while a replay was read: the replay may straddle lost events.
    replay_void: bool,
    closing: Option<Closing>,
    ended: bool,
}

impl Queue {
    fn is_new(&self, cursor: Cursor) -> bool {
        match self.delivered {
            Some(delivered) if delivered.epoch == cursor.epoch => cursor.id > delivered.id,
            _ => true,
        }
    }

    fn advance(&mut self, cursor: Cursor) {
        if self.is_new(cursor) {
            self.delivered = Some(cursor);
        }
    }

    fn sent_live(&self, cursor: Cursor) -> bool {
        let same = |other: Option<Cursor>| other.filter(|other| other.epoch == cursor.epoch);
        same(self.first_live).is_some_and(|first| cursor.id >= first.id)
            && same(self.delivered).is_some_and(|last| cursor.id <= last.id)
    }
}

/// What [`Link::offer`] did with an event.
#[derive(Debug, PartialEq, Eq)]
pub enum Offered {
    Queued,
    /// Already sent, held for after a replay, or the session is closing.
    NotQueued,
    /// The session would have held more than its bound: it is closing (1013).
    Overflowed,
}

/// How a session's client is judged.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Frames a session may hold before it is judged (see the module's documentation).
    pub max_pending: usize,
    /// A client silent this long is closed.
    pub client_timeout: Duration,
}

impl Limits {
    /// The most frames a session may hold at all.
    fn hard_limit(&self) -> usize {
        self.max_pending.max(1).saturating_mul(HARD_LIMIT_FACTOR)
    }
}

/// Why the hub closes a session: a WebSocket close code and its reason.
pub type Verdict = (u16, &'static str);

/// A client that accepts frames too slowly.
pub const TOO_SLOW: Verdict = (TRY_AGAIN_LATER, "too slow: reconnect and resume");

pub struct Link {
    queue: Mutex<Queue>,
    limits: Limits,
    /// Frames queued, readable without the lock.
    queued: AtomicUsize,
    last_taken: AtomicU64,
    last_heard: AtomicU64,
    expires_at: Option<u64>,
    waker: AtomicWaker,
    socket: Option<Socket>,
}

impl Link {
    /// `socket`: the connection's, to end it when it is stuck; `expires_after`: when the session's
    /// credentials stop holding.
    pub fn new(socket: Option<Socket>, limits: Limits, expires_after: Option<Duration>) -> Self {
        let now = now_millis();
        Link {
            queue: Mutex::new(Queue::default()),
            limits,
            queued: AtomicUsize::new(0),
            last_taken: AtomicU64::new(now),
            last_heard: AtomicU64::new(now),
            expires_at: expires_after.map(|after| now.saturating_add(after.as_millis() as u64)),
            waker: AtomicWaker::new(),
            socket,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn push(&self, queue: &mut Queue, frame: Bytes) {
        if queue.frames.is_empty() {
            // A session's stall is counted from the first frame it was given since it was empty.
            self.last_taken.store(now_millis(), Ordering::Release);
        }
        queue.frames.push_back(frame);
        self.queued.store(queue.frames.len(), Ordering::Release);
    }

    fn send_live(&self, queue: &mut Queue, frame: &Frame) -> bool {
        if !queue.is_new(frame.cursor) {
            return false;
        }
        queue.delivered = Some(frame.cursor);
        queue.first_live.get_or_insert(frame.cursor);
        self.push(queue, frame.wire.clone());
        true
    }

    /// Starts the session: `hello` with its topics and the last event before it joined, from
    /// which on every event reaches it live.
    pub fn open(&self, topics: &BTreeSet<String>, last: Option<Cursor>) {
        let mut queue = self.lock();
        queue.delivered = last;
        let hello = json!({ "topics": topics, "lastEventId": last.map(|id| id.to_string()) });
        self.push(&mut queue, control_frame("hello", hello));
        drop(queue);
        self.waker.wake();
    }

    /// An event for the session, live from the broadcaster; a session that would hold more than
    /// its hard limit (queued, or held during a replay) is closed instead.
    pub fn offer(&self, frame: &Arc<Frame>) -> Offered {
        let mut queue = self.lock();
        if queue.closing.is_some() || queue.ended {
            return Offered::NotQueued;
        }
        let holding = queue.held.as_ref().map_or(queue.frames.len(), Vec::len);
        if holding >= self.limits.hard_limit() {
            drop(queue);
            self.terminate(TOO_SLOW);
            return Offered::Overflowed;
        }
        if let Some(held) = &mut queue.held {
            held.push(frame.clone());
            return Offered::NotQueued;
        }
        if !self.send_live(&mut queue, frame) {
            return Offered::NotQueued;
        }
        drop(queue);
        self.waker.wake();
        Offered::Queued
    }

    /// One of the hub's own frames (`subscribed`, `error`…), in order with the events.
    pub fn send_control(&self, name: &str, data: serde_json::Value) {
        let mut queue = self.lock();
        if queue.ended {
            return;
        }
        self.push(&mut queue, control_frame(name, data));
        drop(queue);
        self.waker.wake();
    }

    /// Holds live events until [`finish_replay`](Self::finish_replay); false when a replay is
    /// already under way.
    pub fn begin_replay(&self) -> bool {
        let mut queue = self.lock();
        if queue.held.is_some() {
            return false;
        }
        queue.held = Some(Vec::new());
        true
    }

    /// Sends what was read after `since` (on `topics`, not already sent live), `resumed`, then
    /// the events held meanwhile. `None`: nothing could be read (or `since` was no id of ours).
    pub fn finish_replay(
        &self,
        read: Option<(Cursor, Replay)>,
        topics: &BTreeSet<String>,
        history: usize,
    ) {
        let mut queue = self.lock();
        let mut replayed = 0;
        let void = std::mem::take(&mut queue.replay_void);
        let missed = |queue: &Queue, frame: &Frame| {
            !queue.sent_live(frame.cursor) && topics.contains(&frame.topic)
        };
        // A missed event older than one already sent live could only go out of order.
        let late = |queue: &Queue, frame: &Frame| {
            queue
                .first_live
                .is_some_and(|first| first.epoch == frame.cursor.epoch && frame.id() < first.id)
                && missed(queue, frame)
        };
        // A replay the session could not hold would close it (1013), and the client would
        // resume into the same replay again: it reloads instead.
        let fits = |replay: &Replay| {
            replay.frames.len() <= history
                && queue.frames.len() + replay.frames.len() < self.limits.hard_limit()
        };
        let complete = !void
            && read.as_ref().is_some_and(|(_, replay)| {
                replay.since_kept
                    && fits(replay)
                    && !replay.frames.iter().any(|frame| late(&queue, frame))
            });
        if let (true, Some((since, replay))) = (complete, read) {
            for frame in &replay.frames {
                if missed(&queue, frame) {
                    self.push(&mut queue, frame.wire.clone());
                    replayed += 1;
                }
            }
            let newest = replay.frames.last().map_or(since, |frame| frame.cursor);
            queue.advance(newest);
        }
        let resumed = json!({ "replayed": replayed, "complete": complete });
        self.push(&mut queue, control_frame("resumed", resumed));
        for frame in queue.held.take().unwrap_or_default() {
            self.send_live(&mut queue, &frame);
        }
        drop(queue);
        self.waker.wake();
    }

    /// Events may have been lost between the last the session got and the next (the stream was
    /// trimmed past the bridge, or reset): the client reloads over REST.
    pub fn resync(&self, epoch: Option<Epoch>) {
        let mut queue = self.lock();
        if queue.closing.is_some() {
            return;
        }
        queue.delivered = None;
        queue.first_live = None;
        if queue.held.is_some() {
            // What was held and what the replay reads may straddle the gap: drop both.
            queue.held = Some(Vec::new());
            queue.replay_void = true;
        }
        let data = json!({ "epoch": epoch.map(|epoch| epoch.to_string()) });
        self.push(&mut queue, control_frame("resync", data));
        drop(queue);
        self.waker.wake();
    }

    /// Closes the session with `code`; the first close asked for wins.
    pub fn terminate(&self, (code, reason): Verdict) {
        let mut queue = self.lock();
        if queue.closing.is_none() && !queue.ended {
            queue.closing = Some(Closing {
                code,
                reason,
                since: now_millis(),
            });
        }
        drop(queue);
        self.waker.wake();
    }

    /// The close code asked for, while the connection has not ended.
    pub fn closing_code(&self) -> Option<u16> {
        let queue = self.lock();
        queue
            .closing
            .as_ref()
            .filter(|_| !queue.ended)
            .map(|closing| closing.code)
    }

    /// The client sent something (a pong, a request).
    pub fn heard(&self) {
        self.last_heard.store(now_millis(), Ordering::Release);
    }

    pub fn pending(&self) -> usize {
        self.queued.load(Ordering::Acquire)
    }

    /// Why the session must close now, if it must: its client accepts frames too slowly (1013),
    /// has said nothing, not even a pong, for the client timeout (1001), or the credentials it
    /// was opened with expired (1008).
    pub fn verdict(&self) -> Option<Verdict> {
        let now = now_millis();
        let since = |at: &AtomicU64| now.saturating_sub(at.load(Ordering::Acquire));
        if self.too_slow(since(&self.last_taken)) {
            Some(TOO_SLOW)
        } else if since(&self.last_heard) >= self.limits.client_timeout.as_millis() as u64 {
            Some((GOING_AWAY, "no answer to pings"))
        } else if self.expires_at.is_some_and(|at| now >= at) {
            Some((POLICY_VIOLATION, "token expired: sign in again"))
        } else {
            None
        }
    }

    /// Whether a client that has taken no frame for `idle` ms accepts them too slowly.
    fn too_slow(&self, idle: u64) -> bool {
        let pending = self.pending();
        pending >= self.limits.hard_limit()
            || (pending >= self.limits.max_pending && idle >= STALL.as_millis() as u64)
    }

    /// Shuts the socket of a connection that has not managed to close within [`CLOSE_GRACE`];
    /// answers whether the link needs watching any longer.
    pub fn end_if_stuck(&self) -> bool {
        let queue = self.lock();
        let Some(since) = queue.closing.as_ref().map(|closing| closing.since) else {
            return !queue.ended;
        };
        let gone = match &self.socket {
            Some(socket) => socket.released(),
            None => queue.ended,
        };
        drop(queue);
        if gone {
            return false;
        }
        if now_millis().saturating_sub(since) < CLOSE_GRACE.as_millis() as u64 {
            return true;
        }
        if self.socket.as_ref().is_some_and(Socket::kill) {
            tracing::info!("reset the connection of a session that could not close");
        }
        false
    }

    /// The next frame for the connection: a close frame once the session closes.
    fn take(&self) -> Option<(Bytes, bool)> {
        let mut queue = self.lock();
        if let Some(closing) = &queue.closing {
            return Some((close_frame(closing.code, closing.reason), true));
        }
        let frame = queue.frames.pop_front()?;
        self.queued.store(queue.frames.len(), Ordering::Release);
        self.last_taken.store(now_millis(), Ordering::Release);
        Some((frame, false))
    }

    fn end(&self) {
        let mut queue = self.lock();
        queue.ended = true;
        queue.frames.clear();
        queue.held = None;
        self.queued.store(0, Ordering::Release);
    }
}

/// Wakes a session's body on the actor's behalf, and notes that it did: the body polls the actor
/// only then, not on every frame the broadcaster queues.
struct ActorWake {
    woken: AtomicBool,
    /// Its waker is the body's.
    link: Arc<Link>,
}

impl Wake for ActorWake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.link.waker.wake();
    }
}

/// The response body of a session: the session actor's own frames (pings, pongs, its closes) and
/// the link's queue, until either ends.
pub struct LinkBody<S> {
    actor: Option<S>,
    link: Arc<Link>,
    actor_wake: Arc<ActorWake>,
}

impl<S> LinkBody<S> {
    pub fn new(actor: S, link: Arc<Link>) -> Self {
        LinkBody {
            actor: Some(actor),
            actor_wake: Arc::new(ActorWake {
                woken: AtomicBool::new(true),
                link: link.clone(),
            }),
            link,
        }
    }
}

impl<S> Drop for LinkBody<S> {
    fn drop(&mut self) {
        self.link.end();
    }
}

impl<S, E> Stream for LinkBody<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
{
    type Item = Result<Bytes, E>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let Some(actor) = this.actor.as_mut() else {
            return Poll::Ready(None);
        };
        this.link.waker.register(cx.waker());
        if this.actor_wake.woken.swap(false, Ordering::AcqRel) {
            let waker = Waker::from(this.actor_wake.clone());
            match Pin::new(actor).poll_next(&mut Context::from_waker(&waker)) {
                Poll::Ready(Some(item)) => {
                    // It may have more ready: poll it again next time.
                    this.actor_wake.woken.store(true, Ordering::Release);
                    return Poll::Ready(Some(item));
                }
                Poll::Ready(None) => {
                    this.actor = None;
                    return Poll::Ready(None);
                }
                Poll::Pending => {}
            }
        }
        match this.link.take() {
            Some((frame, last)) => {
                if last {
                    // Dropping the actor's stream stops the session actor.
                    this.actor = None;
                }
                Poll::Ready(Some(Ok(frame)))
            }
            None => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventId;

    fn frame(millis: u64) -> Arc<Frame> {
        let cursor = Cursor {
            epoch: Epoch(7),
            id: EventId {
                millis,
                sequence: 0,
            },
        };
        Arc::new(Frame::encode(cursor, "domains", "test", "{}").unwrap())
    }

    fn limits(max_pending: usize) -> Limits {
        Limits {
            max_pending,
            client_timeout: Duration::from_secs(60),
        }
    }

    #[test]
    fn a_draining_session_may_exceed_the_bound_up_to_the_hard_limit() {
        let link = Link::new(None, limits(2), None);
        for millis in 1..=3 {
            assert_eq!(link.offer(&frame(millis)), Offered::Queued);
        }
        assert!(link.take().is_some());
        assert_eq!(link.pending(), 2);
        assert_eq!(link.verdict(), None, "it took a frame just now");
        for millis in 4..=17 {
            link.offer(&frame(millis));
        }
        assert_eq!(link.verdict(), Some(TOO_SLOW));
    }

    #[test]
    fn an_event_goes_out_once() {
        let link = Link::new(None, limits(100), None);
        assert_eq!(link.offer(&frame(5)), Offered::Queued);
        assert_eq!(link.offer(&frame(5)), Offered::NotQueued);
        assert_eq!(link.offer(&frame(4)), Offered::NotQueued);
        link.resync(Some(Epoch(8)));
        assert_eq!(link.offer(&frame(4)), Offered::Queued, "after a resync");
    }

    fn drain(link: &Link) -> Vec<String> {
        std::iter::from_fn(|| link.take())
            .map(|(bytes, _)| String::from_utf8_lossy(&bytes[2..]).into_owned())
            .collect()
    }

    #[test]
    fn a_replay_goes_out_in_order_or_says_it_is_incomplete() {
        let topics: BTreeSet<String> = ["domains".to_owned()].into();
        let link = Link::new(None, limits(100), None);
        link.open(&topics, Some(frame(1).cursor));
        assert!(link.begin_replay());
        link.offer(&frame(4));
        let replay = Replay {
            since_kept: true,
            frames: vec![frame(2), frame(3)],
        };
        link.finish_replay(Some((frame(1).cursor, replay)), &topics, 100);
        let sent = drain(&link);
        assert_eq!(sent.len(), 5, "{sent:?}");
        assert!(sent[1].contains(":2-0") && sent[2].contains(":3-0") && sent[4].contains(":4-0"));
        assert!(sent[3].contains(r#""complete":true"#), "{}", sent[3]);

        // Joined after 3; 4 went out live before the client asked to resume from 1: 2 and 3
        // would come after 4.
        let link = Link::new(None, limits(100), None);
        link.open(&topics, Some(frame(3).cursor));
        link.offer(&frame(4));
        assert!(link.begin_replay());
        let replay = Replay {
            since_kept: true,
            frames: vec![frame(2), frame(3), frame(4)],
        };
        link.finish_replay(Some((frame(1).cursor, replay)), &topics, 100);
        let sent = drain(&link);
        assert_eq!(sent.len(), 3, "{sent:?}");
        assert!(sent[2].contains(r#""complete":false"#), "{}", sent[2]);
    }

    #[test]
    fn a_replay_larger_than_the_session_may_hold_is_incomplete() {
        let topics: BTreeSet<String> = ["domains".to_owned()].into();
        let link = Link::new(None, limits(2), None);
        link.open(&topics, Some(frame(1).cursor));
        assert!(link.begin_replay());
        let replay = Replay {
            since_kept: true,
            frames: (2..=20).map(frame).collect(),
        };
        link.finish_replay(Some((frame(1).cursor, replay)), &topics, 100);
        let sent = drain(&link);
        assert_eq!(sent.len(), 2, "hello and resumed only");
        assert!(sent[1].contains(r#""complete":false"#), "{}", sent[1]);
        assert_eq!(link.verdict(), None, "not closed");
    }

    #[test]
    fn a_closing_link_hands_out_its_close_frame() {
        let link = Link::new(None, limits(100), None);
        link.offer(&frame(1));
        link.terminate((TRY_AGAIN_LATER, "slow"));
        link.terminate((POLICY_VIOLATION, "later closes lose"));
        let (bytes, last) = link.take().unwrap();
        assert!(last);
        assert_eq!(&bytes[..], &close_frame(TRY_AGAIN_LATER, "slow")[..]);
    }
}
