//! One actor per WebSocket. It joins the broadcaster on the topics its user may hold, answers the
//! client's `subscribe`, `unsubscribe` and `resume`, and pings. Its frames go through its
//! [`Link`], in order with the events its thread's shard queues there; the broadcaster closes it
//! when its client is too slow, silent, or signed out.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use actix_web::{web, HttpRequest, HttpResponse};
use actix_web_actors::ws::{self, CloseCode, CloseReason};
use serde::Deserialize;
use serde_json::json;

use crate::bridge::EventLog;
use crate::broadcaster::{self, Broadcaster, Join, Leave, SessionId};
use crate::event::Cursor;
use crate::link::{Link, LinkBody};
use crate::shard::{self, Place};
use crate::topics::Grants;

const MAX_TOPICS: usize = 256;

#[derive(Debug, Clone, Copy)]
pub struct SessionSettings {
    pub ping_interval: Duration,
    /// How many events a `resume` may replay; further behind answers `complete: false`.
    pub history: usize,
}

/// What a client may ask for.
#[derive(Debug, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
enum Request {
    Subscribe { topics: Vec<String> },
    Unsubscribe { topics: Vec<String> },
    Resume { since: String },
}

pub struct Session {
    id: SessionId,
    grants: Grants,
    broadcaster: Addr<Broadcaster>,
    log: EventLog,
    settings: SessionSettings,
    link: Arc<Link>,
    /// Its link's place on the shard of its thread, from when it starts.
    place: Option<Place>,
    topics: BTreeSet<String>,
    /// A resume asked for when connecting, done before any live event is sent.
    resume_on_join: Option<String>,
    /// Whatever the owner wants kept for exactly as long as the session lives (a slot in a
    /// per-user count, say); dropped with it.
    _held: Option<Box<dyn Send>>,
}

impl Session {
    pub fn new(
        grants: Grants,
        broadcaster: Addr<Broadcaster>,
        log: EventLog,
        settings: SessionSettings,
        link: Link,
    ) -> Self {
        Session {
            id: broadcaster::next_session_id(),
            topics: grants.initial_topics().into_iter().collect(),
            grants,
            broadcaster,
            log,
            settings,
            link: Arc::new(link),
            place: None,
            resume_on_join: None,
            _held: None,
        }
    }

    /// Keeps `ticket` until the session ends.
    pub fn holding(mut self, ticket: impl Send + 'static) -> Self {
        self._held = Some(Box::new(ticket));
        self
    }

    /// Replays what came after `since` (if given) before any live event reaches the client.
    pub fn resuming(mut self, since: Option<String>) -> Self {
        self.resume_on_join = since;
        self
    }

    /// Completes the upgrade of `req`: the 101 answer whose body is this session.
    pub fn start(
        self,
        req: &HttpRequest,
        payload: web::Payload,
    ) -> actix_web::Result<HttpResponse> {
        let mut response = ws::handshake(req)?;
        let link = self.link.clone();
        // The codec refuses client frames over 64 KiB.
        let actor = ws::WebsocketContext::create(self, payload);
        Ok(response.streaming(LinkBody::new(Box::pin(actor), link)))
    }

    fn refuse(&self, message: &str, topics: Option<&[String]>) {
        let mut data = json!({ "message": message });
        if let Some(topics) = topics {
            data["topics"] = json!(topics);
        }
        self.link.send_control("error", data);
    }

    fn close(ctx: &mut ws::WebsocketContext<Self>, code: CloseCode, description: &str) {
        ctx.close(Some(CloseReason {
            code,
            description: Some(description.to_owned()),
        }));
        ctx.stop();
    }

    fn on_text(&mut self, text: &str, ctx: &mut ws::WebsocketContext<Self>) {
        match serde_json::from_str::<Request>(text) {
            Ok(Request::Subscribe { topics }) => self.subscribe(topics, ctx),
            Ok(Request::Unsubscribe { topics }) => self.unsubscribe(topics),
            Ok(Request::Resume { since }) => self.resume(&since, ctx),
            Err(error) => self.refuse(
                &format!(
                    "Expected {{\"op\": \"subscribe\" | \"unsubscribe\" | \"resume\", …}}: {error}"
                ),
                None,
            ),
        }
    }

    fn subscribe(&mut self, topics: Vec<String>, ctx: &mut ws::WebsocketContext<Self>) {
        let (allowed, refused): (Vec<String>, Vec<String>) = topics
            .into_iter()
            .partition(|topic| self.grants.may_hold(topic));
        if !refused.is_empty() {
            self.refuse("You may not subscribe to these topics", Some(&refused));
        }
        let added: Vec<String> = allowed
            .into_iter()
            .filter(|topic| self.topics.len() < MAX_TOPICS && self.topics.insert(topic.clone()))
            .collect();
        let message = broadcaster::Subscribe {
            session: self.id,
            topics: added,
        };
        // Answer only once the broadcaster holds the topics, so that `subscribed` means it.
        self.broadcaster
            .send(message)
            .into_actor(self)
            .map(|_, session, _| session.confirm_topics())
            .wait(ctx);
    }

    fn unsubscribe(&mut self, topics: Vec<String>) {
        let removed: Vec<String> = topics
            .into_iter()
            .filter(|topic| self.topics.remove(topic))
            .collect();
        self.broadcaster.do_send(broadcaster::Unsubscribe {
            session: self.id,
            topics: removed,
        });
        self.confirm_topics();
    }

    fn confirm_topics(&self) {
        self.link
            .send_control("subscribed", json!({ "topics": self.topics }));
    }

    fn resume(&mut self, since: &str, ctx: &mut ws::WebsocketContext<Self>) {
        if !self.link.begin_replay() {
            return self.refuse("A resume is already under way", None);
        }
        self.replay(since, ctx);
    }

    /// Reads what came after `since` and hands it to the link, which holds live events until
    /// then ([`Link::begin_replay`]).
    fn replay(&mut self, since: &str, ctx: &mut ws::WebsocketContext<Self>) {
        let history = self.settings.history;
        let Ok(since) = since.parse::<Cursor>() else {
            // Not an id this hub issued (an older form, or none): nothing can be proven.
            return self.link.finish_replay(None, &self.topics, history);
        };
        let log = self.log.clone();
        async move { log.replay(since, history + 1).await }
            .into_actor(self)
            .map(move |read, session, _| {
                let replay = read
                    .inspect_err(
                        |error| tracing::warn!(%error, "reading the event history for a resume"),
                    )
                    .ok()
                    .map(|replay| (since, replay));
                session.link.finish_replay(replay, &session.topics, history);
            })
            .spawn(ctx);
    }
}

impl Actor for Session {
    type Context = ws::WebsocketContext<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(self.settings.ping_interval, |_, ctx| ctx.ping(b""));
        let place = shard::join(self.link.clone());
        self.place = Some(place.clone());
        let join = Join {
            session: self.id,
            user_id: self.grants.user_id.clone(),
            login_session: self.grants.login_session.clone(),
            link: self.link.clone(),
            place,
            topics: self.topics.clone(),
        };
        // Live events are held from the first, so that the replay goes out before them.
        let resume = self.resume_on_join.take();
        if resume.is_some() {
            self.link.begin_replay();
        }
        // `wait`: no client request is handled before the broadcaster has sent `hello`.
        self.broadcaster
            .send(join)
            .into_actor(self)
            .map(move |joined, session, ctx| match (joined, resume) {
                (Err(_), _) => Self::close(ctx, CloseCode::Restart, "the hub is restarting"),
                (Ok(_), Some(since)) => session.replay(&since, ctx),
                (Ok(_), None) => {}
            })
            .wait(ctx);
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        if let Some(place) = &self.place {
            shard::leave(place);
        }
        self.broadcaster.do_send(Leave { session: self.id });
    }
}

impl StreamHandler<Result<ws::Message, ws::ProtocolError>> for Session {
    fn handle(&mut self, message: Result<ws::Message, ws::ProtocolError>, ctx: &mut Self::Context) {
        self.link.heard();
        match message {
            Ok(ws::Message::Text(text)) => self.on_text(&text, ctx),
            Ok(ws::Message::Ping(bytes)) => ctx.pong(&bytes),
            Ok(ws::Message::Pong(_) | ws::Message::Nop) => {}
            Ok(ws::Message::Binary(_) | ws::Message::Continuation(_)) => {
                self.refuse("Send each request as one JSON text frame", None)
            }
            Ok(ws::Message::Close(reason)) => {
                ctx.close(reason);
                ctx.stop();
            }
            Err(error) => {
                tracing::debug!(%error, "closing a WebSocket after a protocol error");
                Self::close(ctx, CloseCode::Protocol, "protocol error");
            }
        }
    }
}
