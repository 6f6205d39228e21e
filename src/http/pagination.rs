//! `?page=1&limit=20` (limit at most 100), answered as `{items, page, limit, total}`.

use serde::{Deserialize, Serialize};

use crate::error::AppError;

#[derive(Debug, Deserialize)]
pub struct PageQuery {
    /// Read as text, so a number too large for any type is still a 400 naming `page`.
    pub page: Option<String>,
    pub limit: Option<String>,
}

fn number(text: Option<&str>, field: &str, default: i64) -> Result<i64, AppError> {
    match text.map(str::trim).filter(|text| !text.is_empty()) {
        None => Ok(default),
        Some(text) => text
            .parse()
            .map_err(|_| AppError::invalid(field, format!("{field} must be a whole number"))),
    }
}

/// Far past any list's end, and small enough that `(page - 1) × limit` cannot overflow.
const MAX_PAGE: i64 = 1_000_000_000;

#[derive(Debug, Clone, Copy)]
pub struct Page {
    pub page: i64,
    pub limit: i64,
}

impl Page {
    pub fn parse(query: &PageQuery) -> Result<Self, AppError> {
        let page = number(query.page.as_deref(), "page", 1)?;
        let limit = number(query.limit.as_deref(), "limit", 20)?;
        if page < 1 {
            return Err(AppError::invalid("page", "page must be 1 or more"));
        }
        if !(1..=100).contains(&limit) {
            return Err(AppError::invalid("limit", "limit must be 1 to 100"));
        }
        if page > MAX_PAGE {
            return Err(AppError::invalid(
                "page",
                format!("page must be at most {MAX_PAGE}"),
            ));
        }
        Ok(Page { page, limit })
    }

    pub fn offset(&self) -> i64 {
        (self.page - 1) * self.limit
    }
}

#[derive(Debug, Serialize)]
pub struct Paginated<T: Serialize> {
    pub items: Vec<T>,
    pub page: i64,
    pub limit: i64,
    pub total: i64,
}

impl<T: Serialize> Paginated<T> {
    pub fn new(items: Vec<T>, page: Page, total: i64) -> Self {
        Paginated {
            items,
            page: page.page,
            limit: page.limit,
            total,
        }
    }
}
