//! Gives every request an id (the client's `X-Request-Id` when it is sane, else a new UUID), runs
//! the request inside a tracing span carrying it, echoes it on the response, logs one line per
//! request (with the client's address and the path, tokens redacted) and records the HTTP
//! metrics. It also settles who the client is ([`client_addr::ClientAddr`]) for everything after it.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{web, Error, HttpMessage};
use tracing::Instrument;

use super::client_addr;
use crate::metrics::Metrics;
use crate::state::AppState;

pub const HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The id of the request being served, in the request's extensions.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

fn client_id(req: &ServiceRequest) -> Option<String> {
    let value = req.headers().get(&HEADER)?.to_str().ok()?;
    let sane =
        !value.is_empty() && value.len() <= 128 && value.bytes().all(|b| b.is_ascii_graphic());
    sane.then(|| value.to_owned())
}

pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let id = client_id(&req).unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    req.extensions_mut().insert(RequestId(id.clone()));
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let proxies = state
        .as_ref()
        .map_or(&[][..], |state| &state.settings.server.trusted_proxies);
    let client = client_addr::resolve(
        req.peer_addr().map(|peer| peer.ip()),
        req.headers(),
        proxies,
    );
    req.extensions_mut().insert(client);
    let metrics = req.app_data::<web::Data<Metrics>>().cloned();
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        client = %client.ip.map_or_else(|| "-".to_owned(), |ip| ip.to_string()),
        method = %req.method(),
        path = %loggable_path(req.match_info().as_str()),
    );
    let started = Instant::now();
    let mut res = next.call(req).instrument(span.clone()).await?;
    let elapsed = started.elapsed();
    let status = res.status();
    let route = res
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    if let Some(metrics) = metrics {
        metrics.observe_request(&route, status.as_u16(), elapsed);
    }
    span.in_scope(|| {
        tracing::info!(
            status = status.as_u16(),
            route = %route,
            elapsed_ms = elapsed.as_secs_f64() * 1000.0,
            "served"
        );
    });
    if let Ok(value) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(HEADER, value);
    }
    if client.https {
        // Reached over HTTPS (by a trusted proxy's word): browsers are to stay on HTTPS.
        res.headers_mut().insert(
            actix_web::http::header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    Ok(res)
}

/// Path segments that are live secrets (single-use tokens), hidden from the logs.
const SECRET_AFTER: [&str; 1] = ["/verify-email/"];

/// The path as logged: a token in it replaced by `[redacted]`. The query string, where the socket's
/// access token travels, is never logged.
pub fn loggable_path(path: &str) -> std::borrow::Cow<'_, str> {
    for marker in SECRET_AFTER {
        if let Some(at) = path.find(marker) {
            let start = at + marker.len();
            let end = path[start..].find('/').map_or(path.len(), |n| start + n);
            return format!("{}[redacted]{}", &path[..start], &path[end..]).into();
        }
    }
    path.into()
}

#[cfg(test)]
mod tests {
    #[test]
    fn tokens_in_paths_are_not_logged() {
        assert_eq!(
            super::loggable_path("/api/v1/auth/verify-email/abc123"),
            "/api/v1/auth/verify-email/[redacted]"
        );
        assert_eq!(super::loggable_path("/api/v1/domains"), "/api/v1/domains");
    }
}
