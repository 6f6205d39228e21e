//! Seed 001's dashboard: a page of plain HTML, CSS and JavaScript modules embedded in the binary,
//! served at `/` with its files under `/ui/<version>/`.
//!
//! The version is a digest of every file, so a file's URL changes whenever any file does: the files
//! are cached for a year, and the page itself (which names the version) is revalidated each time.

use std::sync::OnceLock;

use actix_web::http::header;
use actix_web::{get, web, HttpRequest, HttpResponse};
use sha2::{Digest, Sha256};

use crate::error::{AppError, AppResult};

/// The page's policy: everything from the hub itself, nothing inline, nothing from elsewhere.
/// (`connect-src 'self'` covers the same host's `ws:`/`wss:`.)
const PAGE_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self'; connect-src 'self'; manifest-src 'self'; form-action 'self'; \
     frame-ancestors 'none'; base-uri 'none'";

struct Asset {
    path: &'static str,
    body: &'static [u8],
}

macro_rules! assets {
    ($($path:literal),* $(,)?) => {
        &[$(Asset { path: $path, body: include_bytes!(concat!("static/", $path)) }),*]
    };
}

const ASSETS: &[Asset] = assets![
    "app.css",
    "icon.svg",
    "js/main.js",
    "js/dom.js",
    "js/format.js",
    "js/session.js",
    "js/hub-socket.js",
    "js/toasts.js",
    "js/live.js",
    "js/widgets.js",
    "js/pages/login.js",
    "js/pages/home.js",
    "js/pages/domains.js",
    "js/pages/domain.js",
    "js/pages/brands.js",
    "js/pages/users.js",
    "js/pages/keys.js",
    "js/pages/appointments.js",
];

const INDEX: &str = include_str!("static/index.html");

/// The digest of every file, shortened: the `<version>` in the files' URLs.
fn version() -> &'static str {
    static VERSION: OnceLock<String> = OnceLock::new();
    VERSION.get_or_init(|| {
        let mut digest = Sha256::new();
        for asset in ASSETS {
            digest.update(asset.path.as_bytes());
            digest.update((asset.body.len() as u64).to_le_bytes());
            digest.update(asset.body);
        }
        hex::encode(&digest.finalize()[..6])
    })
}

fn index_html() -> &'static str {
    static PAGE: OnceLock<String> = OnceLock::new();
    PAGE.get_or_init(|| INDEX.replace("{{VERSION}}", version()))
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, extension)| extension) {
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        _ => "application/octet-stream",
    }
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(page).service(file);
}

#[get("/")]
async fn page() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::CONTENT_SECURITY_POLICY, PAGE_POLICY))
        .body(index_html())
}

#[get("/ui/{version}/{path:.*}")]
async fn file(req: HttpRequest, path: web::Path<(String, String)>) -> AppResult<HttpResponse> {
    let (asked_version, path) = path.into_inner();
    let asset = ASSETS
        .iter()
        .find(|asset| asset.path == path)
        .ok_or_else(|| AppError::not_found("No such file"))?;
    let etag = format!("\"{}\"", version());
    // A page of an older or newer instance (during a rolling deploy) gets this one's file, but
    // must not keep it.
    let cache = if asked_version == version() {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let unchanged = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .is_some_and(|tags| tags.as_bytes() == etag.as_bytes());
    let mut response = if unchanged {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header((header::CACHE_CONTROL, cache))
        .insert_header((header::ETAG, etag))
        .insert_header((header::CONTENT_SECURITY_POLICY, PAGE_POLICY));
    if unchanged {
        return Ok(response.finish());
    }
    Ok(response
        .insert_header((header::CONTENT_TYPE, content_type(asset.path)))
        .body(asset.body))
}
