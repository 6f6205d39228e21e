//! One actor per WebSocket. It joins the broadcaster on the topics its user may hold, answers the
//! client's `subscribe`, `unsubscribe` and `resume`, pings, and closes a silent client.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use actix_web::{web, HttpRequest, HttpResponse};
use actix_web_actors::ws::{self, CloseCode, CloseReason};
use serde::Deserialize;
use serde_json::json;

use crate::bridge::EventLog;
use crate::broadcaster::{self, Broadcaster, Deliver, Join, Leave, Revoked, SessionId};
use crate::event::{control_frame, EventId, Frame};
use crate::outbox::{CloseOnOverflow, Outbox, HARD_LIMIT_FACTOR, TRY_AGAIN_LATER};
use crate::topics::Grants;

const MAX_TOPICS: usize = 256;

#[derive(Debug, Clone, Copy)]
pub struct SessionSettings {
    pub ping_interval: Duration,
    pub client_timeout: Duration,
    pub max_pending: usize,
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
    outbox: Arc<Outbox>,
    topics: BTreeSet<String>,
    last_heard: Instant,
    /// The first event this session sent live: the live ones since form one unbroken run.
    first_live: Option<EventId>,
    /// The newest event this session has sent or skipped; nothing at or below it goes out again.
    high_water: Option<EventId>,
    /// Live events held back while a replay is read, so that the client sees them in order.
    held: Option<Vec<Arc<Frame>>>,
    /// When the credentials the session was opened with expire.
    expires_in: Option<Duration>,
}

impl Session {
    pub fn new(
        grants: Grants,
        broadcaster: Addr<Broadcaster>,
        log: EventLog,
        settings: SessionSettings,
    ) -> Self {
        Session {
            id: broadcaster::next_session_id(),
            topics: grants.initial_topics().into_iter().collect(),
            grants,
            broadcaster,
            log,
            settings,
            outbox: Arc::new(Outbox::default()),
            last_heard: Instant::now(),
            first_live: None,
            high_water: None,
            held: None,
            expires_in: None,
        }
    }

    /// Closes the session (1008) when its credentials expire, `after` from now.
    pub fn expiring_after(mut self, after: Duration) -> Self {
        self.expires_in = Some(after);
        self
    }

    /// Completes the upgrade of `req`: the 101 answer whose body is this session.
    pub fn start(
        self,
        req: &HttpRequest,
        payload: web::Payload,
    ) -> actix_web::Result<HttpResponse> {
        let mut response = ws::handshake(req)?;
        let outbox = self.outbox.clone();
        // The codec refuses client frames over 64 KiB.
        let stream = ws::WebsocketContext::create(self, payload);
        Ok(response.streaming(CloseOnOverflow::new(Box::pin(stream), outbox)))
    }

    fn send_control(ctx: &mut ws::WebsocketContext<Self>, name: &str, data: serde_json::Value) {
        ctx.text(control_frame(name, data));
    }

    fn refuse(ctx: &mut ws::WebsocketContext<Self>, message: &str, topics: Option<&[String]>) {
        let mut data = json!({ "message": message });
        if let Some(topics) = topics {
            data["topics"] = json!(topics);
        }
        Self::send_control(ctx, "error", data);
    }

    fn close(ctx: &mut ws::WebsocketContext<Self>, code: CloseCode, description: &str) {
        ctx.close(Some(CloseReason {
            code,
            description: Some(description.to_owned()),
        }));
        ctx.stop();
    }

    fn heartbeat(&self, ctx: &mut ws::WebsocketContext<Self>) {
        ctx.run_interval(self.settings.ping_interval, |session, ctx| {
            if session.last_heard.elapsed() >= session.settings.client_timeout {
                Self::close(ctx, CloseCode::Away, "no answer to pings");
            } else {
                ctx.ping(b"");
            }
        });
    }

    fn send_live(&mut self, frame: &Frame, ctx: &mut ws::WebsocketContext<Self>) {
        if self.high_water.is_some_and(|high| frame.id <= high)
            || !self.topics.contains(&frame.topic)
        {
            return;
        }
        self.high_water = Some(frame.id);
        self.first_live.get_or_insert(frame.id);
        ctx.text(frame.text.clone());
    }

    fn on_text(&mut self, text: &str, ctx: &mut ws::WebsocketContext<Self>) {
        match serde_json::from_str::<Request>(text) {
            Ok(Request::Subscribe { topics }) => self.subscribe(topics, ctx),
            Ok(Request::Unsubscribe { topics }) => self.unsubscribe(topics, ctx),
            Ok(Request::Resume { since }) => self.resume(&since, ctx),
            Err(error) => Self::refuse(
                ctx,
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
            Self::refuse(ctx, "You may not subscribe to these topics", Some(&refused));
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
            .map(|_, session, ctx| session.confirm_topics(ctx))
            .wait(ctx);
    }

    fn unsubscribe(&mut self, topics: Vec<String>, ctx: &mut ws::WebsocketContext<Self>) {
        let removed: Vec<String> = topics
            .into_iter()
            .filter(|topic| self.topics.remove(topic))
            .collect();
        self.broadcaster.do_send(broadcaster::Unsubscribe {
            session: self.id,
            topics: removed,
        });
        self.confirm_topics(ctx);
    }

    fn confirm_topics(&self, ctx: &mut ws::WebsocketContext<Self>) {
        Self::send_control(ctx, "subscribed", json!({ "topics": self.topics }));
    }

    fn resume(&mut self, since: &str, ctx: &mut ws::WebsocketContext<Self>) {
        let Ok(since) = since.parse::<EventId>() else {
            return Self::refuse(ctx, "`since` must be an event id", None);
        };
        if self.held.is_some() {
            return Self::refuse(ctx, "A resume is already under way", None);
        }
        self.held = Some(Vec::new());
        let log = self.log.clone();
        let limit = self.settings.history;
        async move {
            let frames = log.after(since, limit + 1).await?;
            // Read after the range: trimming only moves forward, so `oldest <= since` proves
            // that nothing between `since` and the range was trimmed.
            let oldest = log.oldest().await?;
            Ok::<_, redis::RedisError>((oldest, frames))
        }
        .into_actor(self)
        .map(move |read, session, ctx| {
            match read {
                Ok((oldest, frames)) => session.replay(since, oldest, &frames, ctx),
                Err(error) => {
                    tracing::warn!(%error, "reading the event history for a resume");
                    Self::send_control(ctx, "resumed", json!({ "replayed": 0, "complete": false }));
                }
            }
            for frame in session.held.take().unwrap_or_default() {
                session.send_live(&frame, ctx);
            }
        })
        .spawn(ctx);
    }

    fn replay(
        &mut self,
        since: EventId,
        oldest: Option<EventId>,
        frames: &[Arc<Frame>],
        ctx: &mut ws::WebsocketContext<Self>,
    ) {
        // Complete when nothing after `since` was trimmed and the gap fits in the history.
        let complete =
            frames.len() <= self.settings.history && oldest.is_none_or(|oldest| oldest <= since);
        let mut replayed = 0;
        if complete {
            for frame in frames {
                let sent_live = self.first_live.is_some_and(|first| frame.id >= first)
                    && self.high_water.is_some_and(|high| frame.id <= high);
                if !sent_live && self.topics.contains(&frame.topic) {
                    ctx.text(frame.text.clone());
                    replayed += 1;
                }
            }
            let newest = frames.last().map_or(since, |frame| frame.id).max(since);
            self.high_water = Some(self.high_water.map_or(newest, |high| high.max(newest)));
        }
        Self::send_control(
            ctx,
            "resumed",
            json!({ "replayed": replayed, "complete": complete }),
        );
    }
}

impl Actor for Session {
    type Context = ws::WebsocketContext<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.heartbeat(ctx);
        if let Some(after) = self.expires_in {
            ctx.run_later(after, |_, ctx| {
                Self::close(ctx, CloseCode::Policy, "token expired: sign in again")
            });
        }
        let join = Join {
            session: self.id,
            user_id: self.grants.user_id.clone(),
            deliver: ctx.address().recipient(),
            revoke: ctx.address().recipient(),
            outbox: self.outbox.clone(),
            topics: self.topics.iter().cloned().collect(),
        };
        // `wait`: no event is handled before the client has its `hello`.
        self.broadcaster
            .send(join)
            .into_actor(self)
            .map(|joined, session, ctx| match joined {
                Ok(after) => {
                    session.high_water = after;
                    let last = after.map(|id| id.to_string());
                    Self::send_control(
                        ctx,
                        "hello",
                        json!({ "topics": session.topics, "lastEventId": last }),
                    );
                }
                Err(_) => Self::close(ctx, CloseCode::Restart, "the hub is restarting"),
            })
            .wait(ctx);
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        self.broadcaster.do_send(Leave { session: self.id });
    }
}

impl Handler<Deliver> for Session {
    type Result = ();

    fn handle(&mut self, Deliver(frame): Deliver, ctx: &mut Self::Context) {
        self.outbox.taken();
        match &mut self.held {
            Some(held) if held.len() >= self.settings.max_pending * HARD_LIMIT_FACTOR => {
                Self::close(
                    ctx,
                    CloseCode::Other(TRY_AGAIN_LATER),
                    "too slow: reconnect and resume",
                )
            }
            Some(held) => held.push(frame),
            None => self.send_live(&frame, ctx),
        }
    }
}

impl Handler<Revoked> for Session {
    type Result = ();

    fn handle(&mut self, _: Revoked, ctx: &mut Self::Context) {
        Self::close(ctx, CloseCode::Policy, "signed out: sign in again");
    }
}

impl StreamHandler<Result<ws::Message, ws::ProtocolError>> for Session {
    fn handle(&mut self, message: Result<ws::Message, ws::ProtocolError>, ctx: &mut Self::Context) {
        self.last_heard = Instant::now();
        match message {
            Ok(ws::Message::Text(text)) => self.on_text(&text, ctx),
            Ok(ws::Message::Ping(bytes)) => ctx.pong(&bytes),
            Ok(ws::Message::Pong(_) | ws::Message::Nop) => {}
            Ok(ws::Message::Binary(_) | ws::Message::Continuation(_)) => {
                Self::refuse(ctx, "Send each request as one JSON text frame", None)
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
