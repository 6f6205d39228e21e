//! Collects every field error of a request body, so a client learns all of them at once.

use crate::error::{AppError, FieldError};

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
