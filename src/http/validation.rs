//! Collects every field error of a request body, so a client learns all of them at once; and the
//! rule every text field shares.

use crate::error::{AppError, AppResult, FieldError};

/// Trimmed text of 1 to `max` characters; the limit counts what was sent, padding included.
pub fn text(field: &str, raw: &str, max: usize) -> AppResult<String> {
    let value = raw.trim();
    if value.is_empty() || raw.chars().count() > max {
        return Err(AppError::invalid(
            field,
            format!("{field} must be 1 to {max} characters"),
        ));
    }
    Ok(value.to_owned())
}

/// Optional text: absent or blank is `None`; over `max` characters as sent is refused.
pub fn optional_text(field: &str, raw: Option<&str>, max: usize) -> AppResult<Option<String>> {
    match raw {
        Some(raw) if !raw.trim().is_empty() || raw.chars().count() > max => {
            text(field, raw, max).map(Some)
        }
        _ => Ok(None),
    }
}

#[derive(Default)]
pub struct Validation {
    errors: Vec<FieldError>,
}

impl Validation {
    pub fn new() -> Self {
        Self::default()
    }

    /// Keeps the value, or records why it was refused.
    pub fn check<T>(&mut self, parsed: Result<T, AppError>) -> Option<T> {
        match parsed {
            Ok(value) => Some(value),
            Err(error) => {
                self.errors.extend(error.errors);
                None
            }
        }
    }

    /// `Err` with every recorded field error, if there was one.
    pub fn finish(self) -> Result<(), AppError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(self.into_error())
        }
    }

    pub fn into_error(self) -> AppError {
        let mut error = AppError::bad_request("Validation failed");
        error.errors = self.errors;
        error
    }
}
