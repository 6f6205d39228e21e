//! The success side of the API's envelope, and the fallback that puts every error response that
//! is not already one (actix's own 404/405, CORS refusals) into it.

use actix_web::body::MessageBody;
use actix_web::dev::ServiceResponse;
use actix_web::http::{header, StatusCode};
use actix_web::middleware::ErrorHandlerResponse;
use actix_web::HttpResponse;
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

/// Every 2xx answer of `/api/v1`: `data` holds the object by name (`data.brand`), a list's page
/// (`data.items`), or what the operation reports.
#[derive(Serialize, ToSchema)]
pub struct Success<T> {
    /// Always `true`.
    success: bool,
    message: String,
    data: T,
}

fn reply<T: Serialize>(status: StatusCode, message: &str, data: T) -> HttpResponse {
    HttpResponse::build(status).json(Success {
        success: true,
        message: message.to_owned(),
        data,
    })
}

/// `data` of a deletion: the id that is gone.
#[derive(Serialize, ToSchema)]
pub struct Deleted {
    pub id: uuid::Uuid,
}

/// `data` of an answer that reports nothing: `null`.
#[derive(Serialize)]
pub struct Nothing;

impl utoipa::PartialSchema for Nothing {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::Null)
            .into()
    }
}

impl ToSchema for Nothing {}

/// The success envelope as text, for an answer kept to be sent again (the catalogue cache).
pub fn ok_body<T: Serialize>(message: &str, data: T) -> serde_json::Result<String> {
    serde_json::to_string(&Success {
        success: true,
        message: message.to_owned(),
        data,
    })
}

pub fn ok<T: Serialize>(message: &str, data: T) -> HttpResponse {
    reply(StatusCode::OK, message, data)
}

pub fn created<T: Serialize>(message: &str, data: T) -> HttpResponse {
    reply(StatusCode::CREATED, message, data)
}

pub fn accepted<T: Serialize>(message: &str, data: T) -> HttpResponse {
    reply(StatusCode::ACCEPTED, message, data)
}

/// Rewrites an error response whose body is not JSON into the failure envelope.
pub fn wrap_foreign_errors<B: MessageBody + 'static>(
    res: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"));
    if is_json {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let status = res.status();
    let message = match status {
        StatusCode::NOT_FOUND => format!(
            "No route for {} {}",
            res.request().method(),
            res.request().path()
        ),
        StatusCode::METHOD_NOT_ALLOWED => format!(
            "{} is not allowed on {}",
            res.request().method(),
            res.request().path()
        ),
        _ => status.canonical_reason().unwrap_or("Error").to_owned(),
    };
    let (request, response) = res.into_parts();
    let mut replacement = HttpResponse::build(status);
    for (name, value) in response.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            replacement.append_header((name.clone(), value.clone()));
        }
    }
    let body = replacement.json(json!({"success": false, "message": message}));
    Ok(ErrorHandlerResponse::Response(
        ServiceResponse::new(request, body).map_into_right_body(),
    ))
}
