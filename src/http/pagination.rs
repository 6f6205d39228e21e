//! `?page=1&limit=20` (limit at most 100), answered as `{items, page, limit, total}`.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::AppError;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Read as text, so a number too large for any type is still a 400 naming `page`.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 1_000_000_000)]
    pub page: Option<String>,
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
}

fn number(text: Option<&str>, field: &str, default: i64) -> Result<i64, AppError> {
    // Absent is the default; present must be a number (`?page=` is a 400, as documented).
    match text {
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
        Self::of(query.page.as_deref(), query.limit.as_deref())
    }

    /// From a list's own query, whose `page` and `limit` are read as text like [`PageQuery`]'s.
    pub fn of(page: Option<&str>, limit: Option<&str>) -> Result<Self, AppError> {
        let page = number(page, "page", 1)?;
        let limit = number(limit, "limit", 20)?;
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

/// One page of a list.
#[derive(Debug, Serialize, ToSchema)]
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

/// The SQL of a paginated list (constants only; values go in as parameters).
pub struct Listing<'a> {
    /// The table the filter reads, with its alias: `appointments a`.
    pub count_from: &'a str,
    /// `SELECT … FROM …` of the rows, the same alias in reach.
    pub select: &'a str,
    /// The `WHERE` condition, over parameters `$1…$n`.
    pub filter: &'a str,
    pub order: &'a str,
}

/// One page of `listing` and the count of all its rows; `params` are the filter's, the page's
/// limit and offset follow them.
pub async fn page_of<T: Serialize>(
    client: &impl deadpool_postgres::GenericClient,
    listing: &Listing<'_>,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    page: Page,
    item: impl Fn(&tokio_postgres::Row) -> T,
) -> Result<Paginated<T>, AppError> {
    let Listing {
        count_from,
        select,
        filter,
        order,
    } = listing;
    let total: i64 = client
        .query_one(
            &format!("SELECT count(*) FROM {count_from} WHERE {filter}"),
            params,
        )
        .await?
        .get(0);
    let offset = page.offset();
    let mut paged = params.to_vec();
    paged.push(&page.limit);
    paged.push(&offset);
    let (limit_at, offset_at) = (params.len() + 1, params.len() + 2);
    let rows = client
        .query(
            &format!(
                "{select} WHERE {filter} ORDER BY {order} LIMIT ${limit_at} OFFSET ${offset_at}"
            ),
            &paged,
        )
        .await?;
    Ok(Paginated::new(rows.iter().map(item).collect(), page, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(page: Option<&str>, limit: Option<&str>) -> Result<Page, AppError> {
        Page::parse(&PageQuery {
            page: page.map(str::to_owned),
            limit: limit.map(str::to_owned),
        })
    }

    #[test]
    fn absent_is_the_default_and_present_must_be_a_number() {
        let page = parse(None, None).expect("the defaults");
        assert_eq!((page.page, page.limit), (1, 20));
        // `?page=` is not absent: the document says integer (schemathesis sent it).
        for (page, limit) in [
            (Some(""), None),
            (None, Some("")),
            (Some(" 2"), None),
            (Some("x"), None),
        ] {
            assert!(parse(page, limit).is_err(), "{page:?} {limit:?}");
        }
        assert_eq!(parse(Some("3"), Some("100")).expect("a page").offset(), 200);
    }
}
