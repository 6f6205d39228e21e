//! What every operation shares: its tag, a unique operation id, the security schemes, and the
//! failures any route can answer with (so each handler lists only its own).

use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi as Document, Ref, ResponseBuilder};
use utoipa::Modify;

/// `bearer`: an access token from `/api/v1/auth/login`. `checkerKey`: a key from
/// `/api/v1/checker-keys`, in `X-Api-Key` (or as a bearer token).
pub struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, document: &mut Document) {
        let components = document.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "checkerKey",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-Api-Key"))),
        );
    }
}

fn operations(document: &mut Document) -> impl Iterator<Item = (&String, &mut Operation)> {
    document.paths.paths.iter_mut().flat_map(|(path, item)| {
        [
            item.get.as_mut(),
            item.put.as_mut(),
            item.post.as_mut(),
            item.delete.as_mut(),
            item.patch.as_mut(),
        ]
        .into_iter()
        .flatten()
        .map(move |operation| (path, operation))
    })
}

/// `part` with `tag` on every operation, and operation ids made unique across parts
/// (`services_list` and `courses_list` rather than two `list`s).
pub fn tagged(tag: &str, mut part: Document) -> Document {
    let prefix = tag.replace(' ', "_");
    for (_, operation) in operations(&mut part) {
        operation.tags = Some(vec![tag.to_owned()]);
        if let Some(id) = operation.operation_id.as_mut() {
            *id = format!("{prefix}_{id}");
        }
    }
    part
}

fn failure(description: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Failure")))
                .build(),
        )
        .build()
}

/// Adds, where a handler did not describe them itself, the failures any operation of its kind
/// can meet: bad input (a NUL byte, a malformed query), an unknown id in the path, a body too
/// large or not JSON, a missing or stale token, a rate limit, and an unavailable database.
pub fn add_shared_answers(document: &mut Document) {
    for (path, operation) in operations(document) {
        // Signed in or not (`security((), ("bearer" = []))`) never answers 401.
        let secured = operation.security.as_ref().is_some_and(|requirements| {
            !requirements.is_empty()
                && requirements.iter().all(|requirement| {
                    serde_json::to_value(requirement)
                        .is_ok_and(|value| value != serde_json::json!({}))
                })
        });
        let has_body = operation.request_body.is_some();
        let shared = [
            ("400", true, "Invalid input: `errors` names the fields"),
            ("401", secured, "No valid token or key"),
            ("404", path.contains('{'), "No such object"),
            ("413", has_body, "The body is larger than the limit"),
            ("415", has_body, "The body is not JSON"),
            ("429", true, "Too many requests: see `Retry-After`"),
            (
                "500",
                true,
                "An unexpected failure (logged with the request id)",
            ),
            ("503", true, "PostgreSQL or Redis is not available"),
        ];
        for (status, applies, description) in shared {
            if applies && !operation.responses.responses.contains_key(status) {
                operation
                    .responses
                    .responses
                    .insert(status.to_owned(), failure(description).into());
            }
        }
    }
}
