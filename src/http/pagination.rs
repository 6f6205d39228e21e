//! `?page=1&limit=20` (limit at most 100), answered as `{items, page, limit, total}`.

use serde::{Deserialize, Serialize};

use crate::error::AppError;

#[derive(Debug, Deserialize)]
pub struct PageQuery {
    pub page: Option<i64>,
    pub limit: Option<i64>,
}

#[derive(Debug, Clone, Copy)]
pub struct Page {
    pub page: i64,
    pub limit: i64,
}

impl Page {
    pub fn parse(query: &PageQuery) -> Result<Self, AppError> {
        let page = query.page.unwrap_or(1);
        let limit = query.limit.unwrap_or(20);
        if page < 1 {
            return Err(AppError::invalid("page", "page must be 1 or more"));
        }
        if !(1..=100).contains(&limit) {
            return Err(AppError::invalid("limit", "limit must be 1 to 100"));
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
