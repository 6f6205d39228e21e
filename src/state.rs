//! What every handler of the web process can reach.

use std::sync::Arc;

use deadpool_postgres::Pool;
use hub_jobs::Queues;
use redis::aio::ConnectionManager;

use crate::config::Settings;
use crate::metrics::Metrics;
use crate::realtime::Realtime;

pub struct AppState {
    pub settings: Arc<Settings>,
    pub db: Pool,
    pub redis: ConnectionManager,
    pub queues: Queues,
    pub metrics: Arc<Metrics>,
    pub realtime: Realtime,
}

impl AppState {
    /// Connects to PostgreSQL and Redis as configured (both lazily: nothing is dialled yet) and
    /// starts the real-time layer and the event relay; must run inside an actix system.
    pub fn connect(settings: Arc<Settings>) -> anyhow::Result<Self> {
        let db = crate::db::connect(&settings.database.url, settings.database.pool_size)?;
        let redis = crate::redis_client::connect(&settings.redis)?;
        let queues = Queues::new(
            redis.clone(),
            &settings.redis.namespace,
            crate::context::tuning(&settings),
        );
        let realtime = Realtime::start(&settings, redis.clone())?;
        actix_web::rt::spawn(crate::events::relay::Relay::new(&settings, redis.clone()).run());
        Ok(AppState {
            settings,
            db,
            redis,
            queues,
            metrics: Arc::new(Metrics::new()),
            realtime,
        })
    }
}
