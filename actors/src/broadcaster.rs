//! The broadcaster: one per web process. It knows which session holds which topic and hands every
//! event to the sessions on its topic, as the same shared frame. It never waits on a session: one
//! that stopped reading (see [`crate::outbox`]) is dropped from every topic and closed with 1013.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use actix::prelude::*;

use crate::event::{EventId, Frame, SESSIONS_REVOKED};
use crate::outbox::Outbox;

pub type SessionId = u64;

/// How often sessions are checked for having stopped reading.
const CHECK_INTERVAL: std::time::Duration = std::time::Duration::from_millis(250);

/// Gives every session of the process its own id.
pub fn next_session_id() -> SessionId {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Counters for `/metrics`, readable from any thread.
#[derive(Debug, Default)]
pub struct Stats {
    pub sessions_open: AtomicU64,
    pub events_broadcast: AtomicU64,
    pub frames_delivered: AtomicU64,
    pub slow_sessions_closed: AtomicU64,
}

impl Stats {
    fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    /// `(name, help, kind, value)` of every counter.
    pub fn snapshot(&self) -> [(&'static str, &'static str, &'static str, u64); 4] {
        [
            (
                "websocket_sessions_open",
                "Open WebSocket sessions",
                "gauge",
                Self::get(&self.sessions_open),
            ),
            (
                "events_broadcast_total",
                "Events handed to the broadcaster",
                "counter",
                Self::get(&self.events_broadcast),
            ),
            (
                "websocket_frames_delivered_total",
                "Event frames handed to sessions",
                "counter",
                Self::get(&self.frames_delivered),
            ),
            (
                "websocket_slow_sessions_closed_total",
                "Sessions closed with 1013 for reading too slowly",
                "counter",
                Self::get(&self.slow_sessions_closed),
            ),
        ]
    }
}

/// An event for one session, as the broadcaster hands it over.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct Deliver(pub Arc<Frame>);

/// The session's user may no longer hold it: it closes.
#[derive(Message, Clone, Copy)]
#[rtype(result = "()")]
pub struct Revoked;

/// A session opens: it starts on `topics`. Answers the id of the last event dispatched before it
/// joined (`None` before the bridge has started): every later event reaches it live.
#[derive(Message)]
#[rtype(result = "Option<EventId>")]
pub struct Join {
    pub session: SessionId,
    pub user_id: String,
    pub deliver: Recipient<Deliver>,
    pub revoke: Recipient<Revoked>,
    pub outbox: Arc<Outbox>,
    pub topics: Vec<String>,
}

/// A session ends.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Leave {
    pub session: SessionId,
}

/// A session adds topics it may hold.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Subscribe {
    pub session: SessionId,
    pub topics: Vec<String>,
}

/// A session drops topics.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Unsubscribe {
    pub session: SessionId,
    pub topics: Vec<String>,
}

/// The bridge hands over events read from the stream, in stream order.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Dispatch(pub Vec<Arc<Frame>>);

/// The bridge starts reading after `EventId`: that is where live delivery begins.
#[derive(Message)]
#[rtype(result = "()")]
pub struct StartAt(pub EventId);

struct Member {
    user_id: String,
    deliver: Recipient<Deliver>,
    revoke: Recipient<Revoked>,
    outbox: Arc<Outbox>,
    topics: HashSet<String>,
}

pub struct Broadcaster {
    members: HashMap<SessionId, Member>,
    topics: HashMap<String, HashSet<SessionId>>,
    last_dispatched: Option<EventId>,
    max_pending: usize,
    stats: Arc<Stats>,
}

impl Broadcaster {
    pub fn new(max_pending: usize, stats: Arc<Stats>) -> Self {
        Broadcaster {
            members: HashMap::new(),
            topics: HashMap::new(),
            last_dispatched: None,
            max_pending: max_pending.max(1),
            stats,
        }
    }

    fn subscribe(&mut self, session: SessionId, topics: Vec<String>) {
        let Some(member) = self.members.get_mut(&session) else {
            return;
        };
        for topic in topics {
            self.topics
                .entry(topic.clone())
                .or_default()
                .insert(session);
            member.topics.insert(topic);
        }
    }

    fn unsubscribe(&mut self, session: SessionId, topics: &[String]) {
        let Some(member) = self.members.get_mut(&session) else {
            return;
        };
        for topic in topics {
            member.topics.remove(topic);
            if let Some(sessions) = self.topics.get_mut(topic) {
                sessions.remove(&session);
                if sessions.is_empty() {
                    self.topics.remove(topic);
                }
            }
        }
    }

    fn remove(&mut self, session: SessionId) -> Option<Member> {
        let topics: Vec<String> = self.members.get(&session)?.topics.iter().cloned().collect();
        self.unsubscribe(session, &topics);
        let member = self.members.remove(&session);
        self.stats
            .sessions_open
            .store(self.members.len() as u64, Ordering::Relaxed);
        member
    }

    /// Closes the sessions of the user whose topic (`user:<id>`) carried a revocation. Rare
    /// enough that a scan of the members beats keeping an index by user.
    fn revoke(&mut self, topic: &str) {
        let Some(user_id) = topic.strip_prefix("user:") else {
            return;
        };
        let revoked: Vec<SessionId> = self
            .members
            .iter()
            .filter(|(_, member)| member.user_id == user_id)
            .map(|(session, _)| *session)
            .collect();
        for session in revoked {
            if let Some(member) = self.remove(session) {
                member.revoke.do_send(Revoked);
            }
        }
    }

    fn close_too_slow(&mut self, sessions: Vec<SessionId>) {
        for session in sessions {
            if let Some(member) = self.remove(session) {
                tracing::info!(
                    session,
                    pending = member.outbox.pending(),
                    "closing a session that reads too slowly (1013)"
                );
                self.stats
                    .slow_sessions_closed
                    .fetch_add(1, Ordering::Relaxed);
                member.outbox.overflow();
            }
        }
    }

    fn dispatch(&mut self, frame: &Arc<Frame>, too_slow: &mut Vec<SessionId>) {
        self.last_dispatched = Some(frame.id);
        self.stats.events_broadcast.fetch_add(1, Ordering::Relaxed);
        let Some(sessions) = self.topics.get(&frame.topic) else {
            return;
        };
        let mut delivered = 0;
        for session in sessions {
            let Some(member) = self.members.get(session) else {
                continue;
            };
            member.outbox.push();
            member.deliver.do_send(Deliver(frame.clone()));
            delivered += 1;
            if member.outbox.too_slow(self.max_pending) {
                too_slow.push(*session);
            }
        }
        self.stats
            .frames_delivered
            .fetch_add(delivered, Ordering::Relaxed);
    }
}

impl Actor for Broadcaster {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        // Sessions and the bridge wait on this mailbox: a deep one absorbs bursts of joins.
        ctx.set_mailbox_capacity(1024);
        // A session that stopped reading after the last event is found here, not at the next.
        ctx.run_interval(CHECK_INTERVAL, |broadcaster, _| {
            let max = broadcaster.max_pending;
            let too_slow: Vec<SessionId> = broadcaster
                .members
                .iter()
                .filter(|(_, member)| member.outbox.too_slow(max))
                .map(|(session, _)| *session)
                .collect();
            broadcaster.close_too_slow(too_slow);
        });
    }
}

impl Handler<Join> for Broadcaster {
    type Result = Option<EventId>;

    fn handle(&mut self, join: Join, _: &mut Self::Context) -> Self::Result {
        self.members.insert(
            join.session,
            Member {
                user_id: join.user_id,
                deliver: join.deliver,
                revoke: join.revoke,
                outbox: join.outbox,
                topics: HashSet::new(),
            },
        );
        self.subscribe(join.session, join.topics);
        self.stats
            .sessions_open
            .store(self.members.len() as u64, Ordering::Relaxed);
        self.last_dispatched
    }
}

impl Handler<Leave> for Broadcaster {
    type Result = ();

    fn handle(&mut self, leave: Leave, _: &mut Self::Context) {
        self.remove(leave.session);
    }
}

impl Handler<Subscribe> for Broadcaster {
    type Result = ();

    fn handle(&mut self, message: Subscribe, _: &mut Self::Context) {
        self.subscribe(message.session, message.topics);
    }
}

impl Handler<Unsubscribe> for Broadcaster {
    type Result = ();

    fn handle(&mut self, message: Unsubscribe, _: &mut Self::Context) {
        self.unsubscribe(message.session, &message.topics);
    }
}

impl Handler<Dispatch> for Broadcaster {
    type Result = ();

    fn handle(&mut self, Dispatch(frames): Dispatch, _: &mut Self::Context) {
        let mut too_slow = Vec::new();
        for frame in &frames {
            self.dispatch(frame, &mut too_slow);
            self.close_too_slow(std::mem::take(&mut too_slow));
            if frame.name == SESSIONS_REVOKED {
                self.revoke(&frame.topic);
            }
        }
    }
}

impl Handler<StartAt> for Broadcaster {
    type Result = ();

    fn handle(&mut self, StartAt(id): StartAt, _: &mut Self::Context) {
        if self.last_dispatched.is_none_or(|last| last < id) {
            self.last_dispatched = Some(id);
        }
    }
}
