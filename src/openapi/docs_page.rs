//! `/api/docs`: Swagger UI (swagger-ui-dist 5.35.0, Apache-2.0, its licence beside it in
//! `page/swagger/`) rendering `/api/v1/openapi.json`. Everything comes from the hub itself.

use actix_web::http::header;
use actix_web::{get, web, HttpResponse};

use crate::error::{AppError, AppResult};

/// Swagger UI's styles put `data:` images in CSS; its scripts set styles through the DOM.
const DOCS_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
     base-uri 'none'";

struct File {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const FILES: &[File] = &[
    File {
        name: "swagger-ui-bundle.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("page/swagger/swagger-ui-bundle.js"),
    },
    File {
        name: "swagger-ui.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("page/swagger/swagger-ui.css"),
    },
    File {
        name: "init.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("page/init.js"),
    },
];

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(page).service(file);
}

#[get("/api/docs")]
async fn page() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::CONTENT_SECURITY_POLICY, DOCS_POLICY))
        .body(include_str!("page/index.html"))
}

#[get("/api/docs/{file}")]
async fn file(name: web::Path<String>) -> AppResult<HttpResponse> {
    let file = FILES
        .iter()
        .find(|file| file.name == name.as_str())
        .ok_or_else(|| AppError::not_found("No such file"))?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, file.content_type))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::CONTENT_SECURITY_POLICY, DOCS_POLICY))
        .body(file.body))
}
