//! One error type for every failure a request can meet, rendered in the API's envelope.
//! Internals (SQL, Redis, I/O) are logged with the request id and never sent.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use serde_json::Value;
use tokio_postgres::error::SqlState;
use utoipa::ToSchema;

/// One field at fault: `field` names it as the request spelled it (`email`, `results[1].status`).
#[derive(Debug, Clone, Serialize, PartialEq, Eq, ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
#[error("{status}: {message}")]
pub struct AppError {
    pub status: StatusCode,
    pub message: String,
    pub errors: Vec<FieldError>,
    pub data: Option<Value>,
    pub retry_after: Option<u64>,
    #[source]
    pub internal: Option<anyhow::Error>,
}

pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        AppError {
            status,
            message: message.into(),
            errors: Vec::new(),
            data: None,
            retry_after: None,
            internal: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// A 400 blaming one field of the input.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::bad_request("Validation failed").with_field(field, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, message)
    }

    pub fn too_many(message: impl Into<String>, retry_after_secs: u64) -> Self {
        let mut error = Self::new(StatusCode::TOO_MANY_REQUESTS, message);
        error.retry_after = Some(retry_after_secs.max(1));
        error
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, message)
    }

    pub fn internal(error: impl Into<anyhow::Error>) -> Self {
        let mut app = Self::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error");
        app.internal = Some(error.into());
        app
    }

    pub fn with_field(mut self, field: &str, message: impl Into<String>) -> Self {
        self.errors.push(FieldError {
            field: field.to_owned(),
            message: message.into(),
        });
        self
    }

    pub fn with_data(mut self, data: Value) -> Self {
        self.data = Some(data);
        self
    }
}

/// Every 4xx and 5xx answer: `errors` where fields were at fault, `data` where the failure has
/// figures to report (`attemptsRemaining`, `retryAfterSeconds`).
#[derive(Serialize, ToSchema)]
#[schema(as = Failure)]
pub struct FailureBody<'a> {
    /// Always `false`.
    success: bool,
    message: &'a str,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    errors: &'a [FieldError],
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    data: &'a Option<Value>,
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        if let Some(internal) = &self.internal {
            tracing::error!(error = ?internal, "request failed");
        }
        let mut response = HttpResponse::build(self.status);
        if let Some(seconds) = self.retry_after {
            response.insert_header((header::RETRY_AFTER, seconds.to_string()));
        }
        response.json(FailureBody {
            success: false,
            message: &self.message,
            errors: &self.errors,
            data: &self.data,
        })
    }
}

/// The server went away or is shutting down (a restart, a failover): the request may succeed
/// once it is back, so it is a 503 like an empty pool, not a 500. Only a broken connection
/// counts, not every error that carries an I/O cause (encoding a parameter, a protocol fault).
fn database_went_away(error: &tokio_postgres::Error) -> bool {
    use std::io::ErrorKind;
    if error.is_closed() {
        return true;
    }
    match error.code() {
        Some(code) => {
            (code.code().starts_with("08") && *code != SqlState::PROTOCOL_VIOLATION)
                || [
                    SqlState::ADMIN_SHUTDOWN,
                    SqlState::CRASH_SHUTDOWN,
                    SqlState::CANNOT_CONNECT_NOW,
                ]
                .contains(code)
        }
        None => std::error::Error::source(error)
            .and_then(|source| source.downcast_ref::<std::io::Error>())
            .is_some_and(|io| {
                matches!(
                    io.kind(),
                    ErrorKind::ConnectionReset
                        | ErrorKind::ConnectionAborted
                        | ErrorKind::BrokenPipe
                        | ErrorKind::UnexpectedEof
                        | ErrorKind::NotConnected
                        | ErrorKind::TimedOut
                )
            }),
    }
}

impl From<tokio_postgres::Error> for AppError {
    fn from(error: tokio_postgres::Error) -> Self {
        if database_went_away(&error) {
            tracing::error!(error = %error, "database connection lost");
            return AppError::unavailable("The database is not available");
        }
        if let Some(db) = error.as_db_error() {
            let known = db.constraint().and_then(crate::db::constraints::describe);
            let status = match *db.code() {
                SqlState::UNIQUE_VIOLATION | SqlState::EXCLUSION_VIOLATION => {
                    Some(StatusCode::CONFLICT)
                }
                SqlState::FOREIGN_KEY_VIOLATION | SqlState::CHECK_VIOLATION => {
                    Some(StatusCode::BAD_REQUEST)
                }
                _ => None,
            };
            if let (Some(status), Some((field, message))) = (status, known) {
                let summary = if status == StatusCode::CONFLICT {
                    message
                } else {
                    "Validation failed"
                };
                return AppError::new(status, summary).with_field(field, message);
            }
        }
        AppError::internal(error)
    }
}

impl From<deadpool_postgres::PoolError> for AppError {
    fn from(error: deadpool_postgres::PoolError) -> Self {
        tracing::error!(error = %error, "database pool");
        AppError::unavailable("The database is not available")
    }
}

impl From<redis::RedisError> for AppError {
    fn from(error: redis::RedisError) -> Self {
        tracing::error!(error = %error, "redis");
        AppError::unavailable("The queue is not available")
    }
}

impl From<actix_web::error::BlockingError> for AppError {
    fn from(error: actix_web::error::BlockingError) -> Self {
        AppError::internal(anyhow::anyhow!("blocking task failed: {error}"))
    }
}
