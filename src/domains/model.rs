//! Brands and domains as stored and as the API shows them.

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio_postgres::Row;
use utoipa::openapi::schema::{Object, ObjectBuilder, Type};
use utoipa::ToSchema;
use uuid::Uuid;

/// The schema of a text field read as text and matched by hand against `values` (the handler's
/// own list, so the document says exactly what it takes).
pub fn text_choices(description: &str, values: &[&str]) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
        .enum_values(Some(values.iter().copied()))
        .build()
}

/// A domain's place on the Nawala list: `"ada"` (blocked), `"tidak ada"` (accessible).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub enum NawalaStatus {
    #[serde(rename = "ada")]
    Blocked,
    #[serde(rename = "tidak ada")]
    Accessible,
}

impl NawalaStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            NawalaStatus::Blocked => "ada",
            NawalaStatus::Accessible => "tidak ada",
        }
    }

    /// From the stored value (`ada`, `tidak ada`) or the checker's (`blocked`, `accessible`).
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "ada" | "blocked" => Some(NawalaStatus::Blocked),
            "tidak ada" | "accessible" => Some(NawalaStatus::Accessible),
            _ => None,
        }
    }
}

/// What the checker last reported; all `null` until the first check.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Nawala {
    #[schema(required = true)]
    pub status: Option<NawalaStatus>,
    /// `scan_<milliseconds>` of the check that set the status.
    #[schema(required = true)]
    pub blocked_id: Option<String>,
    /// When the domain was last checked.
    #[schema(required = true)]
    pub last_checked: Option<DateTime<Utc>>,
    /// Since when the domain has had its status.
    #[schema(required = true)]
    pub since: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BrandRef {
    pub id: Uuid,
    pub name: String,
    pub code: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Domain {
    pub id: Uuid,
    pub domain: String,
    pub brand: BrandRef,
    #[schema(required = true)]
    pub note: Option<String>,
    pub nawala: Nawala,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// `FROM` clause and columns that [`Domain::from_row`] reads.
pub const DOMAIN_SELECT: &str = "SELECT d.id, d.domain, d.note, d.nawala_status, \
     d.nawala_blocked_id, d.last_checked, d.status_since, d.created_at, d.updated_at, \
     b.id AS brand_id, b.name AS brand_name, b.code AS brand_code \
     FROM domains d JOIN brands b ON b.id = d.brand_id";

impl Nawala {
    pub fn from_row(row: &Row) -> Self {
        let status: Option<String> = row.get("nawala_status");
        Nawala {
            status: status.as_deref().and_then(NawalaStatus::parse),
            blocked_id: row.get("nawala_blocked_id"),
            last_checked: row.get("last_checked"),
            since: row.get("status_since"),
        }
    }
}

impl Domain {
    pub fn from_row(row: &Row) -> Self {
        Domain {
            id: row.get("id"),
            domain: row.get("domain"),
            brand: BrandRef {
                id: row.get("brand_id"),
                name: row.get("brand_name"),
                code: row.get("brand_code"),
            },
            note: row.get("note"),
            nawala: Nawala::from_row(row),
            created_at: row.get("created_at"),
            updated_at: row.get("updated_at"),
        }
    }
}

/// How many of a brand's domains are in each state.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DomainCounts {
    pub total: i64,
    pub ada: i64,
    pub tidak_ada: i64,
    pub unchecked: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Brand {
    pub id: Uuid,
    pub name: String,
    pub code: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// In lists only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domains: Option<DomainCounts>,
}

impl Brand {
    pub fn from_row(row: &Row) -> Self {
        Brand {
            id: row.get("id"),
            name: row.get("name"),
            code: row.get("code"),
            created_at: row.get("created_at"),
            updated_at: row.get("updated_at"),
            domains: None,
        }
    }

    /// A row of [`crate::domains::brands::list`], with its counts.
    pub fn with_counts(row: &Row) -> Self {
        Brand {
            domains: Some(DomainCounts {
                total: row.get("total"),
                ada: row.get("ada"),
                tidak_ada: row.get("tidak_ada"),
                unchecked: row.get("unchecked"),
            }),
            ..Brand::from_row(row)
        }
    }
}
