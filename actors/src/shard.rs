//! A delivery shard: one per HTTP worker thread, holding the links of the sessions whose
//! connections that thread serves. The broadcaster sends each shard one [`Deliver`] per batch of
//! events (the frames with, for each, the shard's sessions on its topic), so an event crosses
//! threads once per shard instead of once per session; the shard queues it on each link, and the
//! connections it wakes are tasks of the same thread.
//!
//! A session's place on its shard is a dense slot index, tagged with a generation so that an entry
//! the broadcaster still holds for a session gone from the slot never reaches the next one.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use actix::prelude::*;

use crate::broadcaster::Stats;
use crate::event::{Epoch, Frame};
use crate::link::{Link, Offered};

/// A session's place on its shard: its slot, and the generation of the slot when it took it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    pub index: u32,
    pub generation: u32,
}

/// Where a session's link lives: the shard of its thread, and its slot there.
#[derive(Clone)]
pub struct Place {
    pub shard: usize,
    pub slot: Slot,
    pub address: Addr<Shard>,
}

/// What a shard hands its sessions, in the order the broadcaster dispatched it.
pub enum Item {
    /// An event, for the sessions on its topic, as the broadcaster holds them (shared, not
    /// copied, until a subscription changes).
    Frame(Arc<Frame>, Arc<Vec<Slot>>),
    /// Events may have been lost: these sessions reload (see [`Link::resync`]).
    Resync(Option<Epoch>, Vec<Slot>),
}

/// A batch of events for a shard's sessions.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Deliver {
    pub items: Vec<Item>,
    pub stats: Arc<Stats>,
}

#[derive(Default)]
struct Slots {
    links: Vec<Option<Arc<Link>>>,
    generations: Vec<u32>,
    free: Vec<u32>,
}

impl Slots {
    fn take(&mut self, link: Arc<Link>) -> Slot {
        let index = match self.free.pop() {
            Some(index) => index,
            None => {
                self.links.push(None);
                self.generations.push(0);
                (self.links.len() - 1) as u32
            }
        };
        let at = index as usize;
        self.generations[at] = self.generations[at].wrapping_add(1);
        self.links[at] = Some(link);
        Slot {
            index,
            generation: self.generations[at],
        }
    }

    fn give_back(&mut self, slot: Slot) {
        let at = slot.index as usize;
        if self.generations.get(at) == Some(&slot.generation) && self.links[at].take().is_some() {
            self.free.push(slot.index);
        }
    }

    fn link(&self, slot: Slot) -> Option<&Arc<Link>> {
        let at = slot.index as usize;
        if *self.generations.get(at)? != slot.generation {
            return None;
        }
        self.links[at].as_ref()
    }
}

pub struct Shard {
    slots: Rc<RefCell<Slots>>,
}

impl Actor for Shard {
    type Context = Context<Self>;
}

impl Handler<Deliver> for Shard {
    type Result = ();

    fn handle(&mut self, deliver: Deliver, _: &mut Self::Context) {
        let slots = self.slots.borrow();
        let mut delivered = 0;
        for item in &deliver.items {
            match item {
                Item::Frame(frame, slots_on_topic) => {
                    for slot in slots_on_topic.iter() {
                        let link = slots.link(*slot);
                        if link.is_some_and(|link| link.offer(frame) == Offered::Queued) {
                            delivered += 1;
                        }
                    }
                }
                Item::Resync(epoch, resyncing) => {
                    for link in resyncing.iter().filter_map(|slot| slots.link(*slot)) {
                        link.resync(*epoch);
                    }
                }
            }
        }
        deliver
            .stats
            .frames_delivered
            .fetch_add(delivered, Ordering::Relaxed);
    }
}

/// The shard of the current thread, as the sessions of that thread reach it.
#[derive(Clone)]
struct Local {
    index: usize,
    slots: Rc<RefCell<Slots>>,
    address: Addr<Shard>,
}

thread_local! {
    static LOCAL: RefCell<Option<Local>> = const { RefCell::new(None) };
}

/// Gives every shard of the process its own index.
fn next_shard_index() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

fn local() -> Local {
    LOCAL.with(|cell| {
        cell.borrow_mut()
            .get_or_insert_with(|| {
                let slots = Rc::new(RefCell::new(Slots::default()));
                let address = Shard {
                    slots: slots.clone(),
                }
                .start();
                Local {
                    index: next_shard_index(),
                    slots,
                    address,
                }
            })
            .clone()
    })
}

/// Puts `link` on the current thread's shard (started on first use, on the thread's arbiter);
/// it stays there until [`leave`].
pub fn join(link: Arc<Link>) -> Place {
    let shard = local();
    let slot = shard.slots.borrow_mut().take(link);
    Place {
        shard: shard.index,
        slot,
        address: shard.address,
    }
}

/// Takes the session at `place` off its shard (from the thread it joined on).
pub fn leave(place: &Place) {
    LOCAL.with(|cell| {
        if let Some(shard) = cell.borrow().as_ref() {
            if shard.index == place.shard {
                shard.slots.borrow_mut().give_back(place.slot);
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broadcaster::{Broadcaster, Dispatch, Join};
    use crate::event::{Cursor, EventId};
    use crate::link::Limits;
    use std::time::Duration;

    fn link() -> Arc<Link> {
        let limits = Limits {
            max_pending: 10,
            client_timeout: Duration::from_secs(60),
        };
        Arc::new(Link::new(None, limits, None))
    }

    #[test]
    fn a_slot_given_back_answers_no_more_to_its_old_generation() {
        let mut slots = Slots::default();
        let first = slots.take(link());
        assert!(slots.link(first).is_some());
        slots.give_back(first);
        assert!(slots.link(first).is_none());
        let second = slots.take(link());
        assert_eq!(second.index, first.index, "the slot is reused");
        assert!(
            slots.link(first).is_none(),
            "an old entry misses the new session"
        );
        assert!(slots.link(second).is_some());
        slots.give_back(first);
        assert!(
            slots.link(second).is_some(),
            "a stale give-back frees nothing"
        );
    }

    fn frame_on(topic: &str, millis: u64) -> Arc<Frame> {
        let cursor = Cursor {
            epoch: Epoch(1),
            id: EventId {
                millis,
                sequence: 0,
            },
        };
        Arc::new(Frame::encode(cursor, topic, "test", "{}").unwrap())
    }

    /// A session overflows on its shard, closes itself, and its actor stops (its connection took
    /// the close frame) before the broadcaster's next check: it is still counted as a slow client
    /// closed, and its connection watched until it goes.
    #[actix::test]
    async fn a_session_that_overflowed_and_left_before_a_check_is_counted() {
        let stats = Arc::new(Stats::default());
        let broadcaster = Broadcaster::new(stats.clone()).start();
        let limits = Limits {
            max_pending: 1,
            client_timeout: Duration::from_secs(60),
        };
        let slow = Arc::new(Link::new(None, limits, None));
        let place = join(slow.clone());
        let joined = Join {
            session: 7,
            user_id: "slow".into(),
            login_session: None,
            link: slow.clone(),
            place: place.clone(),
            topics: ["domains".to_owned()].into(),
        };
        broadcaster.send(joined).await.unwrap();
        let frames = (1..=20).map(|millis| frame_on("domains", millis)).collect();
        broadcaster.send(Dispatch(frames)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert_eq!(slow.closing_code(), Some(crate::link::TRY_AGAIN_LATER));
        leave(&place);
        broadcaster
            .send(crate::broadcaster::Leave { session: 7 })
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(stats.slow_sessions_closed.load(Ordering::Relaxed), 1);
    }

    /// A session's connection goes and the next one on the thread takes its slot before the
    /// broadcaster has heard of it: the broadcaster still lists the slot on the first session's
    /// topics, and nothing of theirs may reach the second.
    #[actix::test]
    async fn an_event_for_a_session_gone_from_its_slot_misses_the_next_one_there() {
        let broadcaster = Broadcaster::new(Arc::default()).start();
        let admin = link();
        let place = join(admin.clone());
        let topics = ["users".to_owned()].into();
        let joined = Join {
            session: 1,
            user_id: "admin".into(),
            login_session: None,
            link: admin.clone(),
            place: place.clone(),
            topics,
        };
        broadcaster.send(joined).await.unwrap();
        assert_eq!(admin.pending(), 1, "its hello");

        leave(&place);
        let user = link();
        let taken = join(user.clone());
        assert_eq!(taken.slot.index, place.slot.index, "the slot is reused");
        broadcaster
            .send(Dispatch(vec![frame_on("users", 1)]))
            .await
            .unwrap();
        // The shard's delivery is a message of its own, handled on this thread.
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(user.pending(), 0, "the admin's event reached the user");
    }
}
