//! The SQL of domains: plain functions over any client or transaction.

use deadpool_postgres::GenericClient;
use uuid::Uuid;

use super::model::{Domain, DOMAIN_SELECT};
use super::names::DomainName;
use crate::error::AppResult;
use crate::http::pagination::Page;

/// Which domains a list shows.
#[derive(Debug, Default)]
pub struct Filter {
    pub brand_id: Option<Uuid>,
    /// `ada`, `tidak ada` or `unchecked`.
    pub status: Option<&'static str>,
    pub search: Option<String>,
    pub order: Order,
}

/// How a list of domains is ordered.
#[derive(Debug, Default, Clone, Copy)]
pub enum Order {
    /// By name (the default).
    #[default]
    Domain,
    /// The latest status changes first; never-checked domains last.
    RecentChange,
    /// The most recently checked first.
    RecentCheck,
}

impl Order {
    fn sql(self) -> &'static str {
        match self {
            Order::Domain => "d.domain",
            Order::RecentChange => "d.status_since DESC NULLS LAST, d.domain",
            Order::RecentCheck => "d.last_checked DESC NULLS LAST, d.domain",
        }
    }
}

pub async fn find(client: &impl GenericClient, id: Uuid) -> AppResult<Option<Domain>> {
    let sql = format!("{DOMAIN_SELECT} WHERE d.id = $1");
    let row = client.query_opt(&sql, &[&id]).await?;
    Ok(row.as_ref().map(Domain::from_row))
}

/// As [`find`], locking the domain's row until the transaction ends.
pub async fn find_for_update(client: &impl GenericClient, id: Uuid) -> AppResult<Option<Domain>> {
    let sql = format!("{DOMAIN_SELECT} WHERE d.id = $1 FOR UPDATE OF d");
    let row = client.query_opt(&sql, &[&id]).await?;
    Ok(row.as_ref().map(Domain::from_row))
}

pub async fn find_many(client: &impl GenericClient, ids: &[Uuid]) -> AppResult<Vec<Domain>> {
    let sql = format!("{DOMAIN_SELECT} WHERE d.id = ANY($1) ORDER BY d.domain");
    let rows = client.query(&sql, &[&ids]).await?;
    Ok(rows.iter().map(Domain::from_row).collect())
}

pub async fn list(
    client: &impl GenericClient,
    filter: &Filter,
    page: Page,
) -> AppResult<(Vec<Domain>, i64)> {
    let conditions = "($1::uuid IS NULL OR d.brand_id = $1) \
         AND ($2::text IS NULL OR d.nawala_status = $2 OR ($2 = 'unchecked' AND d.nawala_status IS NULL)) \
         AND ($3::text IS NULL OR d.domain ILIKE $3 OR d.note ILIKE $3)";
    let search = filter.search.as_deref().map(crate::db::contains_pattern);
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 3] =
        [&filter.brand_id, &filter.status, &search];
    let sql = format!(
        "{DOMAIN_SELECT} WHERE {conditions} ORDER BY {} LIMIT {} OFFSET {}",
        filter.order.sql(),
        page.limit,
        page.offset()
    );
    let rows = client.query(&sql, &params).await?;
    let count = format!("SELECT count(*) FROM domains d WHERE {conditions}");
    let total: i64 = client.query_one(&count, &params).await?.get(0);
    Ok((rows.iter().map(Domain::from_row).collect(), total))
}

pub async fn insert(
    client: &impl GenericClient,
    name: &DomainName,
    brand_id: Uuid,
    note: Option<&str>,
) -> AppResult<Uuid> {
    let row = client
        .query_one(
            "INSERT INTO domains (domain, brand_id, note) VALUES ($1, $2, $3) RETURNING id",
            &[&name.as_str(), &brand_id, &note],
        )
        .await?;
    Ok(row.get(0))
}

/// What an update changes; `None` keeps a value, `note: Some(None)` clears the note.
pub struct Changes {
    pub name: Option<DomainName>,
    pub brand_id: Option<Uuid>,
    pub note: Option<Option<String>>,
}

/// Applies `changes`; false when there is no such domain.
pub async fn update(client: &impl GenericClient, id: Uuid, changes: &Changes) -> AppResult<bool> {
    let name = changes.name.as_ref().map(DomainName::as_str);
    let set_note = changes.note.is_some();
    let note = changes.note.clone().flatten();
    let updated = client
        .execute(
            "UPDATE domains SET domain = COALESCE($2, domain), brand_id = COALESCE($3, brand_id), \
             note = CASE WHEN $4 THEN $5 ELSE note END, updated_at = clock_timestamp() WHERE id = $1",
            &[&id, &name, &changes.brand_id, &set_note, &note],
        )
        .await?;
    Ok(updated == 1)
}

pub async fn delete(client: &impl GenericClient, id: Uuid) -> AppResult<bool> {
    Ok(client
        .execute("DELETE FROM domains WHERE id = $1", &[&id])
        .await?
        == 1)
}

/// Inserts the names not yet present, in one statement; returns the ids created.
pub async fn import(
    client: &impl GenericClient,
    brand_id: Uuid,
    names: &[String],
) -> AppResult<Vec<Uuid>> {
    let rows = client
        .query(
            "INSERT INTO domains (domain, brand_id) SELECT name, $2 FROM unnest($1::text[]) AS name \
             ON CONFLICT (domain) DO NOTHING RETURNING id",
            &[&names, &brand_id],
        )
        .await?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}

#[cfg(test)]
mod tests {
    #[test]
    fn search_wildcards_are_literal() {
        assert_eq!(crate::db::contains_pattern("a_b%c\\"), "%a\\_b\\%c\\\\%");
    }
}
