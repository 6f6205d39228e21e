//! PostgreSQL cannot store a NUL character in text, so a NUL anywhere in a request's input (a
//! query parameter, the path, or a string or key of a JSON body) is refused up front with 400
//! naming where it was, before any handler runs, instead of failing deep in a query with 500.
//!
//! The same pass refuses a JSON body that is not an object: every body the API takes is one, and
//! serde would otherwise read a struct from an array (`[null, null]` as `{name: null, …}`).

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{web, Error, ResponseError};
use serde_json::Value;

use crate::error::AppError;

const REFUSAL: &str = "Text must not contain NUL characters";
const NOT_AN_OBJECT: &str = "The body must be a JSON object";

/// A body whose first token opens an array. (Other non-objects fail in the extractor.)
fn is_an_array(body: &[u8]) -> bool {
    body.iter()
        .find(|byte| !byte.is_ascii_whitespace())
        .is_some_and(|byte| *byte == b'[')
}

/// The query parameter whose value or name carries an encoded NUL.
fn nul_in_query(query: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let has_nul = pair.to_ascii_lowercase().contains("%00");
        has_nul.then(|| pair.split('=').next().unwrap_or(pair).to_owned())
    })
}

/// Where in `value` a string (or key) holds a NUL, as `results[3].detail`.
fn nul_in_json(value: &Value, at: &str) -> Option<String> {
    match value {
        Value::String(text) if text.contains('\0') => Some(if at.is_empty() {
            "body".into()
        } else {
            at.to_owned()
        }),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(index, item)| nul_in_json(item, &format!("{at}[{index}]"))),
        Value::Object(fields) => fields.iter().find_map(|(key, item)| {
            let here = if at.is_empty() {
                key.clone()
            } else {
                format!("{at}.{key}")
            };
            if key.contains('\0') {
                return Some(here);
            }
            nul_in_json(item, &here)
        }),
        _ => None,
    }
}

fn is_json(req: &ServiceRequest) -> bool {
    req.headers()
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.to_ascii_lowercase().contains("json"))
}

fn may_have_body(method: &Method) -> bool {
    matches!(*method, Method::POST | Method::PUT | Method::PATCH)
}

pub async fn refuse(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let mut field = nul_in_query(req.query_string());
    if field.is_none() && req.path().to_ascii_lowercase().contains("%00") {
        field = Some("path".into());
    }
    if field.is_none() && may_have_body(req.method()) && is_json(&req) {
        // Over the body limit this is the usual 413; malformed JSON is left to the extractor.
        let body = match req.extract::<web::Bytes>().await {
            Ok(body) => body,
            // As a response, so the envelope is put around it like around any other.
            Err(error) => return Ok(req.error_response(error).map_into_right_body()),
        };
        // A NUL can only be written `\u0000` in JSON; a false alarm (`\\u0000`) is parsed away.
        if is_an_array(&body) {
            let error = AppError::invalid("body", NOT_AN_OBJECT);
            return Ok(req
                .into_response(error.error_response())
                .map_into_right_body());
        }
        if memchr::memmem::find(&body, b"\\u0000").is_some() {
            if let Ok(value) = serde_json::from_slice::<Value>(&body) {
                field = nul_in_json(&value, "");
            }
        }
        req.set_payload(actix_web::dev::Payload::from(body));
        // The bytes put back are decoded already; the handler must not decode them again.
        req.headers_mut()
            .remove(actix_web::http::header::CONTENT_ENCODING);
        req.headers_mut()
            .remove(actix_web::http::header::CONTENT_LENGTH);
    }
    if let Some(field) = field {
        let error = AppError::invalid(&field, REFUSAL);
        return Ok(req
            .into_response(error.error_response())
            .map_into_right_body());
    }
    Ok(next.call(req).await?.map_into_left_body())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_place_of_a_nul_is_named() {
        assert_eq!(nul_in_query("page=1&search=a%00b"), Some("search".into()));
        assert_eq!(nul_in_query("page=1&search=ab"), None);
        let body = json!({"results": [{"id": "x"}, {"id": "y", "detail": "a\u{0}"}]});
        assert_eq!(nul_in_json(&body, ""), Some("results[1].detail".into()));
        assert_eq!(nul_in_json(&json!({"name": "fine"}), ""), None);
        assert_eq!(nul_in_json(&json!("\u{0}"), ""), Some("body".into()));
    }
}
