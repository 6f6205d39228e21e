//! Builds the web application: middleware, routes, and the server on its listener.

use std::net::TcpListener;
use std::sync::Arc;

use actix_cors::Cors;
use actix_web::dev::Server;
use actix_web::http::header;
use actix_web::middleware::{from_fn, Compress, ErrorHandlers};
use actix_web::{web, App, HttpRequest, HttpServer};
use anyhow::Context;

use crate::config::Settings;
use crate::error::AppError;
use crate::http::{envelope, extractors, nul_bytes, rate_limit, request_id, security};
use crate::ops::Readiness;
use crate::state::AppState;

pub struct Application {
    port: u16,
    server: Server,
    stopper: Stopper,
}

/// What a stop signal sets in motion besides the server's own graceful stop.
struct Stopper {
    readiness: web::Data<Readiness>,
    broadcaster: actix::Addr<hub_actors::Broadcaster>,
    drain_delay: std::time::Duration,
}

impl Application {
    /// Binds `server.host:server.port` (port 0 picks a free one) and prepares the server.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let settings = Arc::new(settings);
        let state = AppState::connect(settings.clone())?;
        let mut client = crate::db::wait_for(&state.db).await?;
        crate::db::migrate(&mut client).await?;
        drop(client);
        let address = format!("{}:{}", settings.server.host, settings.server.port);
        let listener = TcpListener::bind(&address).with_context(|| format!("binding {address}"))?;
        let port = listener.local_addr()?.port();
        let readiness = web::Data::new(Readiness::default());
        let stopper = Stopper {
            readiness: readiness.clone(),
            broadcaster: state.realtime.broadcaster.clone(),
            drain_delay: settings.server.drain_delay,
        };
        let server = serve(state, listener, readiness)?;
        Ok(Application {
            port,
            server,
            stopper,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }

    /// Serves until a stop signal, then stops gracefully: `/ready` answers 503 (for
    /// `server.drain_delay`, while a balancer notices, the listener stays open), then the listener
    /// closes, every socket is closed with 1012 (its client reconnects to another instance and
    /// resumes), and requests in flight get `server.shutdown_timeout` to finish. A second signal
    /// stops at once.
    pub async fn run_until_signalled(
        self,
        mut signals: crate::context::StopSignals,
    ) -> std::io::Result<()> {
        let handle = self.server.handle();
        let Stopper {
            readiness,
            broadcaster,
            drain_delay,
        } = self.stopper;
        actix_web::rt::spawn(async move {
            signals.next().await;
            tracing::info!(?drain_delay, "stopping: not ready; then no new connections");
            readiness.stop();
            tokio::select! {
                _ = tokio::time::sleep(drain_delay) => {}
                _ = signals.next() => return handle.stop(false).await,
            }
            // The listener closes first, so that closed sockets reconnect elsewhere.
            let stopped = handle.stop(true);
            if let Err(error) = broadcaster.send(hub_actors::broadcaster::Stop).await {
                tracing::warn!(%error, "closing the sockets");
            }
            tokio::select! {
                _ = stopped => {}
                _ = signals.next() => {
                    tracing::info!("a second stop signal: stopping now");
                    handle.stop(false).await;
                }
            }
        });
        self.server.await
    }
}

fn cors(settings: &Settings) -> Cors {
    let mut cors = Cors::default()
        .allowed_methods(["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
        .allowed_headers([header::AUTHORIZATION, header::CONTENT_TYPE, header::ACCEPT])
        .allowed_header("x-request-id")
        .allowed_header("x-api-key")
        .expose_headers(["x-request-id", "retry-after"])
        .max_age(3600);
    for origin in &settings.server.cors_origins {
        cors = if origin == "*" {
            cors.allow_any_origin()
        } else {
            cors.allowed_origin(origin)
        };
    }
    cors
}

async fn no_route(req: HttpRequest) -> Result<actix_web::HttpResponse, AppError> {
    Err(AppError::not_found(format!(
        "No route for {} {}",
        req.method(),
        req.path()
    )))
}

fn serve(
    state: AppState,
    listener: TcpListener,
    readiness: web::Data<Readiness>,
) -> anyhow::Result<Server> {
    let settings = state.settings.clone();
    let shutdown_timeout = settings.server.shutdown_timeout.as_secs().max(1);
    let metrics = web::Data::from(state.metrics.clone());
    let limiter = web::Data::new(rate_limit::RateLimiter::new(settings.rate_limit.clone()));
    let state = web::Data::new(state);
    let workers = match settings.server.workers {
        0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
        n => n,
    };
    let server = HttpServer::new(move || {
        let body_limit = settings.server.body_limit.0;
        App::new()
            .app_data(state.clone())
            .app_data(metrics.clone())
            .app_data(limiter.clone())
            .app_data(readiness.clone())
            .app_data(extractors::json_config(body_limit))
            .app_data(web::PayloadConfig::new(body_limit))
            .app_data(extractors::path_config())
            .app_data(extractors::query_config())
            .configure(crate::routes)
            .default_service(web::to(no_route))
            .wrap(from_fn(nul_bytes::refuse))
            .wrap(from_fn(rate_limit::limit))
            .wrap(cors(&settings))
            .wrap(ErrorHandlers::new().default_handler(envelope::wrap_foreign_errors))
            .wrap(Compress::default())
            .wrap(security::headers())
            .wrap(from_fn(request_id::observe))
    })
    // A WebSocket whose client reads nothing is ended through its socket.
    .on_connect(hub_actors::socket::capture)
    .workers(workers)
    // Signals are ours: see `Application::run_until_signalled`.
    .disable_signals()
    .shutdown_timeout(shutdown_timeout)
    .listen(listener)?
    .run();
    Ok(server)
}
