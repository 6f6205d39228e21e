//! The OpenAPI 3.1 document of `/api/v1` and the checker's routes, built from the handlers' own
//! `#[utoipa::path]` annotations and the types they answer with, served at `/api/v1/openapi.json`
//! and rendered at `/api/docs` by a copy of Swagger UI embedded in the binary.

mod common;
mod docs_page;

use std::sync::OnceLock;

use actix_web::http::header;
use actix_web::{get, web, HttpResponse};
use utoipa::openapi::OpenApi as Document;
use utoipa::OpenApi;

use common::SecuritySchemes;

/// Each part of the API under its tag, in the order Swagger UI lists them.
pub fn parts() -> Vec<(&'static str, Document)> {
    use crate::{auth, booking, domains, users};
    vec![
        ("auth", auth::routes::ApiDoc::openapi()),
        ("users", users::routes::ApiDoc::openapi()),
        ("brands", domains::brands::ApiDoc::openapi()),
        ("domains", domains::routes::ApiDoc::openapi()),
        ("checker keys", domains::keys::ApiDoc::openapi()),
        ("checker", domains::checker::ApiDoc::openapi()),
        ("scans", domains::scans::ApiDoc::openapi()),
        ("categories", booking::catalog::ApiDoc::openapi()),
        ("services", booking::services::ApiDoc::openapi()),
        ("experts", booking::experts::ApiDoc::openapi()),
        ("offers", booking::offers::ApiDoc::openapi()),
        ("appointments", booking::appointments::ApiDoc::openapi()),
        ("appointments", booking::moves::ApiDoc::openapi()),
        ("notifications", booking::notifications::ApiDoc::openapi()),
        ("reviews", booking::reviews::ApiDoc::openapi()),
        ("gallery", booking::gallery::ApiDoc::openapi()),
        ("courses", booking::courses::ApiDoc::openapi()),
        (
            "course applications",
            booking::applications::ApiDoc::openapi(),
        ),
        ("dashboard", booking::stats::ApiDoc::openapi()),
    ]
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "hub",
        description = "The domain block dashboard (seed 001) and the booking backend (seed 002). \
            Every answer is an envelope: `{success, message, data}` or \
            `{success: false, message, errors}`. Live changes arrive on `GET /ws` (see API.md).",
        license(name = "MIT")
    ),
    components(schemas(crate::error::FieldError, crate::error::FailureBody<'_>)),
    modifiers(&SecuritySchemes)
)]
struct Root;

/// The whole document: every part tagged, with the answers every operation can give.
pub fn document() -> Document {
    let mut document = Root::openapi();
    for (tag, part) in parts() {
        document.merge(common::tagged(tag, part));
    }
    common::add_shared_answers(&mut document);
    document
}

fn document_json() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| {
        document()
            .to_json()
            .unwrap_or_else(|error| format!("{{\"error\":\"{error}\"}}"))
    })
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(openapi_json).configure(docs_page::routes);
}

#[get("/api/v1/openapi.json")]
async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "application/json"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(document_json())
}
