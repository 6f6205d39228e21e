//! actix's own extraction failures (malformed JSON, wrong content type, oversized body, bad path or
//! query) turned into `AppError`, so they answer in the envelope like everything else.

use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::{web, HttpRequest};

use crate::error::AppError;

pub fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limit)
        .error_handler(|error, _req| json_error(error).into())
}

fn json_error(error: JsonPayloadError) -> AppError {
    match error {
        JsonPayloadError::OverflowKnownLength { limit, .. }
        | JsonPayloadError::Overflow { limit } => AppError::new(
            actix_web::http::StatusCode::PAYLOAD_TOO_LARGE,
            format!("The body is larger than the limit of {limit} bytes"),
        ),
        JsonPayloadError::ContentType => AppError::new(
            actix_web::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "The body must be JSON (Content-Type: application/json)",
        ),
        JsonPayloadError::Deserialize(error) if error.is_data() => {
            AppError::bad_request(format!("Invalid request body: {error}"))
        }
        JsonPayloadError::Deserialize(_) => AppError::bad_request("The body is not valid JSON"),
        _ => AppError::bad_request("The body could not be read"),
    }
}

pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|error: PathError, _req: &HttpRequest| {
        AppError::not_found(format!("Not found: {error}")).into()
    })
}

pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|error: QueryPayloadError, _req: &HttpRequest| {
        AppError::bad_request(format!("Invalid query string: {error}")).into()
    })
}
