//! `GET /ws`: the live connection of a signed-in client, and the real-time layer of the web
//! process (the broadcaster and the bridge from the Redis stream `events`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use actix::{Actor, Addr};
use actix_web::{get, web, HttpRequest, HttpResponse};
use hub_actors::socket::SocketOwner;
use hub_actors::{Broadcaster, EventLog, Grants, Limits, Link, Session, SessionSettings, Stats};
use serde::Deserialize;

use crate::auth::extractor::{authenticate, bearer};
use crate::auth::tokens::{verify, TokenType};
use crate::config::Settings;
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// The web process's broadcaster, the stream it is fed from, and its counters.
#[derive(Clone)]
pub struct Realtime {
    pub broadcaster: Addr<Broadcaster>,
    pub log: EventLog,
    pub stats: Arc<Stats>,
    pub open_per_user: OpenSessions,
}

/// Open sockets per account in this process, for `realtime.max_sessions_per_user`.
#[derive(Clone, Default)]
pub struct OpenSessions(Arc<Mutex<HashMap<uuid::Uuid, usize>>>);

/// One open socket of a user, counted until dropped (with its session).
pub struct SessionSlot {
    sessions: OpenSessions,
    user: uuid::Uuid,
}

impl OpenSessions {
    /// A slot for one more socket of `user`, unless they hold `max` already.
    pub fn admit(&self, user: uuid::Uuid, max: usize) -> Option<SessionSlot> {
        let mut open = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let count = open.entry(user).or_insert(0);
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(SessionSlot {
            sessions: self.clone(),
            user,
        })
    }
}

impl Drop for SessionSlot {
    fn drop(&mut self) {
        let mut open = self
            .sessions
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(count) = open.get_mut(&self.user) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.user);
            }
        }
    }
}

impl Realtime {
    /// Starts the broadcaster on the current actix system and the bridge beside it. `redis` is
    /// the process's shared connection (for replays); the bridge gets one of its own.
    pub fn start(
        settings: &Settings,
        redis: redis::aio::ConnectionManager,
    ) -> anyhow::Result<Self> {
        let stats = Arc::new(Stats::default());
        let broadcaster = Broadcaster::new(stats.clone()).start();
        let key = format!("{}{}", settings.redis.namespace, hub_actors::STREAM_KEY);
        let mut bridge_settings = settings.redis.clone();
        bridge_settings.response_timeout = bridge_settings
            .response_timeout
            .max(hub_actors::bridge::BLOCK * 2);
        // The newest events stay in memory too, as many as a resume may replay.
        let log = EventLog::new(redis, key, settings.realtime.history + 1);
        let bridge_log = log.over(crate::redis_client::connect(&bridge_settings)?);
        actix_web::rt::spawn(hub_actors::bridge::run(bridge_log, broadcaster.clone()));
        Ok(Realtime {
            broadcaster,
            log,
            stats,
            open_per_user: OpenSessions::default(),
        })
    }
}

/// Records that `user`'s open sockets close on every web process (their credentials no longer
/// hold), in the transaction that changes the credentials.
pub async fn revoke_sessions(
    client: &impl deadpool_postgres::GenericClient,
    user: uuid::Uuid,
) -> Result<(), tokio_postgres::Error> {
    let event = hub_actors::Event::new(
        format!("user:{user}"),
        hub_actors::event::SESSIONS_REVOKED,
        serde_json::json!({ "userId": user }),
    );
    crate::events::record(client, &event).await
}

/// As [`revoke_sessions`], for the sockets of one sign-in session only (signed out).
pub async fn revoke_login_session(
    client: &impl deadpool_postgres::GenericClient,
    user: uuid::Uuid,
    session: uuid::Uuid,
) -> Result<(), tokio_postgres::Error> {
    let event = hub_actors::Event::new(
        format!("user:{user}"),
        hub_actors::event::SESSIONS_REVOKED,
        serde_json::json!({ "userId": user, "sessionId": session }),
    );
    crate::events::record(client, &event).await
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(connect);
}

#[derive(Deserialize)]
struct ConnectQuery {
    token: Option<String>,
    /// The last event id the client saw: the session replays what came after it before any
    /// live event, as `{"op": "resume"}` would, but with no live event slipping in first.
    since: Option<String>,
}

#[get("/ws")]
async fn connect(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    query: web::Query<ConnectQuery>,
) -> AppResult<HttpResponse> {
    let token = query
        .token
        .as_deref()
        .or_else(|| bearer(&req))
        .ok_or_else(|| AppError::unauthorized("Sign in first: pass ?token=<access token>"))?;
    let caller = authenticate(&state, token).await?;
    let max = state.settings.realtime.max_sessions_per_user;
    let slot = state
        .realtime
        .open_per_user
        .admit(caller.id, max)
        .ok_or_else(|| {
            AppError::too_many(
                format!("This account has {max} sockets open already; close one first"),
                1,
            )
        })?;
    let grants = Grants {
        user_id: caller.id.to_string(),
        admin: caller.role.is_admin(),
        login_session: caller.session.map(|session| session.to_string()),
    };
    let realtime = &state.settings.realtime;
    let settings = SessionSettings {
        ping_interval: realtime.ping_interval,
        history: realtime.history,
    };
    let expires_after = verify(&state.settings.auth, TokenType::Access, token).map(|claims| {
        let left = claims
            .exp
            .saturating_sub(chrono::Utc::now().timestamp())
            .max(0);
        std::time::Duration::from_secs(left as u64)
    });
    let socket = req.conn_data::<SocketOwner>().map(SocketOwner::socket);
    let limits = Limits {
        max_pending: realtime.max_pending,
        client_timeout: realtime.client_timeout,
    };
    let session = Session::new(
        grants,
        state.realtime.broadcaster.clone(),
        state.realtime.log.clone(),
        settings,
        Link::new(socket, limits, expires_after),
    )
    .resuming(query.since.clone())
    .holding(slot);
    session
        .start(&req, payload)
        .map_err(|error| AppError::bad_request(format!("Not a WebSocket upgrade: {error}")))
}
