//! Parsing the booking routes' input: text, money, minutes; each refusal names its field.

use crate::error::{AppError, AppResult};
use crate::http::validation::Validation;
pub use crate::http::validation::{optional_text, text};

/// The largest price: far above any real one, and small enough that sums and discounts of a few
/// prices cannot overflow.
const MAX_MONEY: i64 = 1_000_000_000_000;

/// A price in the currency's smallest unit: 0 to 10^12.
pub fn money(field: &str, value: i64) -> AppResult<i64> {
    if !(0..=MAX_MONEY).contains(&value) {
        return Err(AppError::invalid(
            field,
            format!("{field} must be 0 to {MAX_MONEY}"),
        ));
    }
    Ok(value)
}

/// Whole minutes within `min..=max`.
pub fn minutes(field: &str, value: i32, min: i32, max: i32) -> AppResult<i32> {
    if !(min..=max).contains(&value) {
        return Err(AppError::invalid(
            field,
            format!("{field} must be {min} to {max} minutes"),
        ));
    }
    Ok(value)
}

/// An absolute http(s) URL.
pub fn web_url(field: &str, raw: &str) -> AppResult<String> {
    let value = text(field, raw, 2000)?;
    let lower = value.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"));
    if rest.is_none_or(|rest| rest.is_empty() || rest.starts_with('/'))
        || value.contains(char::is_whitespace)
    {
        return Err(AppError::invalid(
            field,
            format!("{field} must be an absolute http(s) URL"),
        ));
    }
    Ok(value)
}

/// Something an admin or the public asked for that does not exist (or may not be seen).
pub fn not_found(what: &str) -> AppError {
    AppError::not_found(format!("No such {what}"))
}

/// A field that creating requires and an update may leave out: `Some(Some(value))` parsed,
/// `Some(None)` left out of an update, `None` refused (the refusal is in `check`).
pub fn field<T, U>(
    check: &mut Validation,
    name: &str,
    value: Option<T>,
    creating: bool,
    parse: impl FnOnce(T) -> AppResult<U>,
) -> Option<Option<U>> {
    match value {
        Some(value) => check.check(parse(value)).map(Some),
        None if creating => {
            check.check(Err::<(), _>(AppError::invalid(
                name,
                format!("{name} is required"),
            )));
            None
        }
        None => Some(None),
    }
}
