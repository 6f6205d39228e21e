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
use crate::state::AppState;

pub struct Application {
    port: u16,
    server: Server,
}

impl Application {
    /// Binds `server.host:server.port` (port 0 picks a free one) and prepares the server.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let settings = Arc::new(settings);
        let state = AppState::connect(settings.clone())?;
        let mut client = crate::db::wait_for(&state.db).await;
        crate::db::migrate(&mut client).await?;
        drop(client);
        let address = format!("{}:{}", settings.server.host, settings.server.port);
        let listener = TcpListener::bind(&address).with_context(|| format!("binding {address}"))?;
        let port = listener.local_addr()?.port();
        let server = serve(state, listener)?;
        Ok(Application { port, server })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
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

fn serve(state: AppState, listener: TcpListener) -> anyhow::Result<Server> {
    let settings = state.settings.clone();
    let metrics = web::Data::from(state.metrics.clone());
    let limiter = web::Data::new(rate_limit::RateLimiter::new(settings.rate_limit.clone()));
    let readiness = web::Data::new(crate::ops::Readiness::default());
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
    .listen(listener)?
    .run();
    Ok(server)
}
