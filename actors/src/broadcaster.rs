//! The broadcaster: one per web process. It knows which session holds which topic and hands every
//! batch of events to each [`shard`](crate::shard) with sessions on their topics, once: the frames
//! with, for each, the slots of that shard's sessions on its topic. It never waits on a session.
//! Every [`CHECK_INTERVAL`] it closes the sessions whose client is too slow (1013), silent (1001)
//! or whose credentials expired (1008), and ends the connections that could not close.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;

use crate::event::{Cursor, Epoch, Frame, SESSIONS_REVOKED};
use crate::link::{Link, Verdict, POLICY_VIOLATION, STOPPING, TRY_AGAIN_LATER};
use crate::shard::{Deliver, Item, Place, Shard, Slot};

pub type SessionId = u64;

/// How often sessions are checked.
const CHECK_INTERVAL: Duration = Duration::from_millis(250);

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
    pub resyncs: AtomicU64,
    pub frames_queued: AtomicU64,
}

impl Stats {
    fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    fn bump(counter: &AtomicU64, by: u64) {
        counter.fetch_add(by, Ordering::Relaxed);
    }

    /// `(name, help, kind, value)` of every counter.
    pub fn snapshot(&self) -> [(&'static str, &'static str, &'static str, u64); 6] {
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
                "Event frames queued for sessions",
                "counter",
                Self::get(&self.frames_delivered),
            ),
            (
                "websocket_slow_sessions_closed_total",
                "Sessions closed with 1013 for reading too slowly",
                "counter",
                Self::get(&self.slow_sessions_closed),
            ),
            (
                "websocket_frames_queued",
                "Frames queued for sessions and not yet taken by their connections",
                "gauge",
                Self::get(&self.frames_queued),
            ),
            (
                "event_stream_resyncs_total",
                "Times the bridge could not prove it missed no event and told sessions to resync",
                "counter",
                Self::get(&self.resyncs),
            ),
        ]
    }
}

/// A session opens on `topics`: the broadcaster sends its `hello` (with the last event dispatched
/// before it joined) and from then on hands every event on those topics to its shard (`place`).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Join {
    pub session: SessionId,
    pub user_id: String,
    pub login_session: Option<String>,
    pub link: Arc<Link>,
    pub place: Place,
    pub topics: BTreeSet<String>,
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

/// The bridge starts reading after this event (`None`: an empty stream): where live delivery
/// begins.
#[derive(Message)]
#[rtype(result = "()")]
pub struct StartAt(pub Option<Cursor>);

/// The bridge cannot prove that no event was lost before the next (now of this epoch): every
/// session is told to reload.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Resync(pub Option<Epoch>);

struct Member {
    user_id: String,
    login_session: Option<String>,
    link: Arc<Link>,
    shard: usize,
    slot: Slot,
    topics: HashSet<String>,
}

/// The sessions on a topic: for each shard, the slots of its sessions there.
type Subscribers = Vec<Arc<Vec<Slot>>>;

pub struct Broadcaster {
    /// Set once the process stops: every session is closed, and so is any that joins after.
    stopping: bool,
    members: HashMap<SessionId, Member>,
    topics: HashMap<String, Subscribers>,
    /// Every shard a session joined from, by index.
    shards: Vec<Option<Addr<Shard>>>,
    last_dispatched: Option<Cursor>,
    /// Closed sessions whose connections are watched until they are gone.
    closing: Vec<Arc<Link>>,
    stats: Arc<Stats>,
}

impl Broadcaster {
    pub fn new(stats: Arc<Stats>) -> Self {
        Broadcaster {
            stopping: false,
            members: HashMap::new(),
            topics: HashMap::new(),
            shards: Vec::new(),
            last_dispatched: None,
            closing: Vec::new(),
            stats,
        }
    }

    fn subscribe(&mut self, session: SessionId, topics: impl IntoIterator<Item = String>) {
        let Some(member) = self.members.get_mut(&session) else {
            return;
        };
        for topic in topics {
            if !member.topics.insert(topic.clone()) {
                continue;
            }
            let shards = self.topics.entry(topic).or_default();
            // A batch still holding the list keeps its copy.
            Arc::make_mut(grown_to(shards, member.shard)).push(member.slot);
        }
    }

    fn unsubscribe(&mut self, session: SessionId, topics: &[String]) {
        let Some(member) = self.members.get_mut(&session) else {
            return;
        };
        for topic in topics {
            if !member.topics.remove(topic) {
                continue;
            }
            let Some(shards) = self.topics.get_mut(topic) else {
                continue;
            };
            if let Some(slots) = shards.get_mut(member.shard) {
                if let Some(at) = slots.iter().position(|slot| *slot == member.slot) {
                    Arc::make_mut(slots).swap_remove(at);
                }
            }
            if shards.iter().all(|slots| slots.is_empty()) {
                self.topics.remove(topic);
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

    /// Closes `session` and watches its connection until it is gone.
    fn close(&mut self, session: SessionId, verdict: Verdict) {
        if let Some(member) = self.remove(session) {
            self.count_if_slow(session, verdict.0);
            self.retire(member.link, verdict);
        }
    }

    fn count_if_slow(&self, session: SessionId, code: u16) {
        if code == TRY_AGAIN_LATER {
            tracing::info!(session, "closing a session that reads too slowly (1013)");
            Stats::bump(&self.stats.slow_sessions_closed, 1);
        }
    }

    /// Ends `link`'s socket with `verdict`, and watches the connection until it is gone.
    fn retire(&mut self, link: Arc<Link>, verdict: Verdict) {
        link.terminate(verdict);
        self.closing.push(link);
    }

    /// Closes the sockets of the user whose topic (`user:<id>`) carried a revocation, or only
    /// those of one sign-in session. Rare enough that a scan of the members beats keeping an
    /// index by user.
    fn revoke(&mut self, topic: &str, only: Option<&str>) {
        let Some(user_id) = topic.strip_prefix("user:") else {
            return;
        };
        let revoked: Vec<SessionId> = self
            .members
            .iter()
            .filter(|(_, member)| member.user_id == user_id)
            .filter(|(_, member)| only.is_none() || member.login_session.as_deref() == only)
            .map(|(session, _)| *session)
            .collect();
        for session in revoked {
            self.close(session, (POLICY_VIOLATION, "signed out: sign in again"));
        }
    }

    /// Adds `frame` to the batch of every shard with sessions on its topic.
    fn dispatch(&mut self, frame: &Arc<Frame>, batches: &mut Batches) {
        self.last_dispatched = Some(frame.cursor);
        Stats::bump(&self.stats.events_broadcast, 1);
        let Some(shards) = self.topics.get(&frame.topic) else {
            return;
        };
        for (shard, slots) in shards.iter().enumerate() {
            if !slots.is_empty() {
                batches.add(shard, Item::Frame(frame.clone(), slots.clone()));
            }
        }
    }

    /// Sends every shard its batch. A session that overflows on its shard closes itself; the
    /// next check, or its leaving, removes it (see [`Link::offer`]).
    fn send_batches(&self, batches: Batches) {
        for (shard, items) in batches.0.into_iter().enumerate() {
            if items.is_empty() {
                continue;
            }
            if let Some(Some(address)) = self.shards.get(shard) {
                address.do_send(Deliver {
                    items,
                    stats: self.stats.clone(),
                });
            }
        }
    }

    /// Closes the sessions whose client is too slow, silent, or whose credentials expired, and
    /// ends the connections that did not manage to close.
    fn check(&mut self) {
        let mut verdicts = Vec::new();
        let mut queued = 0;
        for (session, member) in &self.members {
            queued += member.link.pending() as u64;
            verdicts.extend(member.link.verdict().map(|verdict| (*session, verdict)));
        }
        self.stats.frames_queued.store(queued, Ordering::Relaxed);
        for (session, verdict) in verdicts {
            self.close(session, verdict);
        }
        self.closing.retain(|link| link.end_if_stuck());
    }
}

/// What each shard is to be sent, by shard index.
#[derive(Default)]
struct Batches(Vec<Vec<Item>>);

impl Batches {
    fn add(&mut self, shard: usize, item: Item) {
        grown_to(&mut self.0, shard).push(item);
    }
}

/// `items[index]`, the vector grown with defaults to hold it: lists kept by shard index.
fn grown_to<T: Default>(items: &mut Vec<T>, index: usize) -> &mut T {
    if items.len() <= index {
        items.resize_with(index + 1, T::default);
    }
    &mut items[index]
}

impl Actor for Broadcaster {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        // Sessions and the bridge wait on this mailbox: a deep one absorbs bursts of joins.
        ctx.set_mailbox_capacity(1024);
        ctx.run_interval(CHECK_INTERVAL, |broadcaster, _| broadcaster.check());
    }
}

/// The process is stopping: close every session with 1012 so its client reconnects to another
/// instance and resumes; sessions that join from now on are closed the same way.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Stop;

impl Handler<Stop> for Broadcaster {
    type Result = ();

    fn handle(&mut self, _: Stop, _: &mut Self::Context) {
        self.stopping = true;
        // Nothing is dispatched from now on: forgetting every subscription at once spares each
        // close a scan of its topics' lists.
        self.topics.clear();
        for member in self.members.values_mut() {
            member.topics.clear();
        }
        let sessions: Vec<SessionId> = self.members.keys().copied().collect();
        tracing::info!(
            sessions = sessions.len(),
            "stopping: closing every session (1012)"
        );
        for session in sessions {
            self.close(session, STOPPING);
        }
    }
}

impl Handler<Join> for Broadcaster {
    type Result = ();

    fn handle(&mut self, join: Join, _: &mut Self::Context) {
        if self.stopping {
            self.retire(join.link, STOPPING);
            return;
        }
        join.link.open(&join.topics, self.last_dispatched);
        let Place {
            shard,
            slot,
            address,
        } = join.place;
        grown_to(&mut self.shards, shard).get_or_insert(address);
        self.members.insert(
            join.session,
            Member {
                user_id: join.user_id,
                login_session: join.login_session,
                link: join.link,
                shard,
                slot,
                topics: HashSet::new(),
            },
        );
        self.subscribe(join.session, join.topics);
        self.stats
            .sessions_open
            .store(self.members.len() as u64, Ordering::Relaxed);
    }
}

impl Handler<Leave> for Broadcaster {
    type Result = ();

    fn handle(&mut self, leave: Leave, _: &mut Self::Context) {
        let Some(member) = self.remove(leave.session) else {
            return;
        };
        // It closed itself (it overflowed on its shard) before a check closed it: count it, and
        // watch its connection as a close of ours.
        if let Some(code) = member.link.closing_code() {
            self.count_if_slow(leave.session, code);
            self.closing.push(member.link);
        }
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
        let mut batches = Batches::default();
        for frame in &frames {
            self.dispatch(frame, &mut batches);
            if frame.name == SESSIONS_REVOKED {
                // Its sessions close at once: a close goes out before any frame still queued.
                self.revoke(&frame.topic, frame.revokes_session.as_deref());
            }
        }
        self.send_batches(batches);
    }
}

impl Handler<StartAt> for Broadcaster {
    type Result = ();

    fn handle(&mut self, StartAt(cursor): StartAt, _: &mut Self::Context) {
        if self.last_dispatched.is_none() {
            self.last_dispatched = cursor;
        }
    }
}

impl Handler<Resync> for Broadcaster {
    type Result = ();

    fn handle(&mut self, Resync(epoch): Resync, _: &mut Self::Context) {
        Stats::bump(&self.stats.resyncs, 1);
        self.last_dispatched = None;
        // Through the shards, so that it reaches each session after the events dispatched before.
        let mut slots: Vec<Vec<Slot>> = vec![Vec::new(); self.shards.len()];
        for member in self.members.values() {
            slots[member.shard].push(member.slot);
        }
        let mut batches = Batches::default();
        for (shard, slots) in slots.into_iter().enumerate() {
            batches.add(shard, Item::Resync(epoch, slots));
        }
        self.send_batches(batches);
    }
}
