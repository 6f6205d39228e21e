//! `/api/v1/domains`: the dashboard's table, its history, and the admin's changes.

use actix_web::{delete, get, post, put, web, HttpResponse};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::json;
use utoipa::openapi::schema::Object;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::history::ScanResult;
use super::model::{text_choices, Domain};
use super::names::{self, DomainName};
use super::store::{self, Changes, Filter, Order};
use super::{announce, brands, in_chunks, DOMAINS};
use crate::auth::{Admin, SignedIn};
use crate::error::{AppError, AppResult, FailureBody};
use crate::http::envelope::{self, Deleted, Success};
use crate::http::pagination::{Page, PageQuery, Paginated};
use crate::http::validation::Validation;
use crate::state::AppState;

/// This module's operations in the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    list_domains,
    get_domain,
    domain_history,
    create_domain,
    update_domain,
    delete_domain,
    import_domains
))]
pub struct ApiDoc;

pub fn routes(cfg: &mut web::ServiceConfig) {
    // `import` before `{id}`, which would otherwise take it.
    cfg.service(import_domains)
        .service(list_domains)
        .service(get_domain)
        .service(domain_history)
        .service(create_domain)
        .service(update_domain)
        .service(delete_domain);
}

const MAX_NOTE: usize = 1000;

/// A note as sent: blank means none.
fn parse_note(raw: Option<&str>) -> AppResult<Option<String>> {
    if raw.is_some_and(|sent| sent.chars().count() > MAX_NOTE) {
        return Err(AppError::invalid(
            "note",
            format!("note has at most {MAX_NOTE} characters"),
        ));
    }
    let note = raw.map(str::trim).filter(|note| !note.is_empty());
    Ok(note.map(str::to_owned))
}

/// The import checks first: a list whose names all exist already inserts nothing, so the
/// foreign key would not catch an unknown brand.
async fn existing_brand(
    client: &impl deadpool_postgres::GenericClient,
    id: Uuid,
) -> AppResult<Uuid> {
    brands::find(client, id)
        .await?
        .map(|brand| brand.id)
        .ok_or_else(|| AppError::invalid("brandId", "No brand has this id"))
}

async fn found(client: &impl deadpool_postgres::GenericClient, id: Uuid) -> AppResult<Domain> {
    store::find(client, id)
        .await?
        .ok_or_else(|| AppError::not_found("No such domain"))
}

/// `data` of an answer about one domain.
#[derive(Serialize, ToSchema)]
struct OneDomain {
    domain: Domain,
}

fn status_schema() -> Object {
    text_choices(
        "Only the domains in this state: `ada` (or `blocked`), `tidak ada` (or `accessible`), \
         `unchecked`; empty for all",
        &["", "ada", "tidak ada", "unchecked", "blocked", "accessible"],
    )
}

fn sort_schema() -> Object {
    text_choices(
        "`domain` (the default), `-since` (latest status change first) or `-lastChecked` \
         (latest check first)",
        &["", "domain", "-since", "-lastChecked"],
    )
}

#[derive(Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Only this brand's domains.
    brand_id: Option<Uuid>,
    #[param(schema_with = status_schema)]
    status: Option<String>,
    /// Part of the name or the note (case-insensitive).
    search: Option<String>,
    #[param(schema_with = sort_schema)]
    sort: Option<String>,
    #[param(value_type = Option<i64>, minimum = 1, maximum = 1_000_000_000)]
    page: Option<String>,
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100)]
    limit: Option<String>,
}

fn order(raw: Option<&str>) -> AppResult<Order> {
    Ok(match raw.unwrap_or("") {
        "" | "domain" => Order::Domain,
        "-since" => Order::RecentChange,
        "-lastChecked" => Order::RecentCheck,
        _ => {
            return Err(AppError::invalid(
                "sort",
                "sort is one of: domain, -since, -lastChecked",
            ))
        }
    })
}

fn status_filter(raw: &str) -> AppResult<Option<&'static str>> {
    Ok(match raw {
        "" => None,
        "ada" | "blocked" => Some("ada"),
        "tidak ada" | "accessible" => Some("tidak ada"),
        "unchecked" => Some("unchecked"),
        _ => {
            return Err(AppError::invalid(
                "status",
                "status is one of: ada, tidak ada, unchecked (or blocked, accessible)",
            ))
        }
    })
}

/// Domains with their Nawala status, filtered, searched and sorted (anyone signed in).
#[utoipa::path(
    params(ListQuery),
    responses((status = 200, body = Success<Paginated<Domain>>, description = "One page of domains")),
    security(("bearer" = []))
)]
#[get("/api/v1/domains")]
async fn list_domains(
    state: web::Data<AppState>,
    _: SignedIn,
    query: web::Query<ListQuery>,
) -> AppResult<HttpResponse> {
    let page = Page::of(query.page.as_deref(), query.limit.as_deref())?;
    let filter = Filter {
        brand_id: query.brand_id,
        status: query
            .status
            .as_deref()
            .map(status_filter)
            .transpose()?
            .flatten(),
        search: query
            .search
            .as_deref()
            .map(str::trim)
            .filter(|search| !search.is_empty())
            .map(str::to_owned),
        order: order(query.sort.as_deref())?,
    };
    let client = state.db.get().await?;
    let (domains, total) = store::list(&client, &filter, page).await?;
    Ok(envelope::ok(
        "Domains",
        Paginated::new(domains, page, total),
    ))
}

/// One domain (anyone signed in).
#[utoipa::path(
    responses((status = 200, body = Success<OneDomain>, description = "The domain")),
    security(("bearer" = []))
)]
#[get("/api/v1/domains/{id}")]
async fn get_domain(
    state: web::Data<AppState>,
    _: SignedIn,
    id: web::Path<Uuid>,
) -> AppResult<HttpResponse> {
    let client = state.db.get().await?;
    let domain = found(&client, *id).await?;
    Ok(envelope::ok("Domain", OneDomain { domain }))
}

/// A domain's scan history, newest first (anyone signed in).
#[utoipa::path(
    params(PageQuery),
    responses((
        status = 200,
        body = Success<Paginated<ScanResult>>,
        description = "One page of the checker's results for the domain"
    )),
    security(("bearer" = []))
)]
#[get("/api/v1/domains/{id}/history")]
async fn domain_history(
    state: web::Data<AppState>,
    _: SignedIn,
    id: web::Path<Uuid>,
    query: web::Query<PageQuery>,
) -> AppResult<HttpResponse> {
    let page = Page::parse(&query)?;
    let client = state.db.get().await?;
    found(&client, *id).await?;
    let (items, total) = super::history::page(&client, *id, page).await?;
    Ok(envelope::ok(
        "Scan history",
        Paginated::new(items, page, total),
    ))
}

/// A domain to add.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct NewDomain {
    // Unique: a name that is taken is a 409.
    #[schema(schema_with = names::schema, required = true)]
    domain: Option<String>,
    /// The brand it belongs to.
    #[schema(value_type = Uuid)]
    brand_id: Option<Uuid>,
    /// At most 1000 characters; blank is none.
    #[schema(max_length = 1000)]
    note: Option<String>,
}

/// Adds a domain (admins).
#[utoipa::path(
    request_body = NewDomain,
    responses(
        (status = 201, body = Success<OneDomain>, description = "The domain, added"),
        (status = 403, body = FailureBody, description = "Not an admin"),
        (status = 409, body = FailureBody, description = "The domain is registered already"),
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/domains")]
async fn create_domain(
    state: web::Data<AppState>,
    _: Admin,
    body: web::Json<NewDomain>,
) -> AppResult<HttpResponse> {
    let mut validation = Validation::new();
    let name = validation.check(DomainName::parse_field(
        body.domain.as_deref().unwrap_or(""),
        "domain",
    ));
    let brand_id = validation.check(
        body.brand_id
            .ok_or_else(|| AppError::invalid("brandId", "brandId is required")),
    );
    let note = validation.check(parse_note(body.note.as_deref()));
    validation.finish()?;
    let (Some(name), Some(brand_id), Some(note)) = (name, brand_id, note) else {
        return Err(AppError::bad_request("Validation failed"));
    };
    let mut client = state.db.get().await?;
    let tx = client.transaction().await?;
    // An unknown brandId fails `domains_brand_id_fkey`, which answers 400 naming the field.
    let id = store::insert(&tx, &name, brand_id, note.as_deref()).await?;
    let domain = found(&tx, id).await?;
    announce(&tx, DOMAINS, "domain:created", &domain).await?;
    tx.commit().await?;
    Ok(envelope::created("Domain created", OneDomain { domain }))
}

/// `Some(None)` for an explicit `null`, so that a note can be cleared.
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(deserializer).map(Some)
}

/// The fields of a domain to change; those left out stay.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct DomainChanges {
    // Unique: a name that is taken is a 409.
    #[schema(schema_with = names::nullable_schema)]
    domain: Option<String>,
    /// Moves the domain to this brand.
    brand_id: Option<Uuid>,
    /// At most 1000 characters; blank or `null` clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, max_length = 1000)]
    note: Option<Option<String>>,
}

/// Changes a domain's name, brand or note (admins).
#[utoipa::path(
    request_body = DomainChanges,
    responses(
        (status = 200, body = Success<OneDomain>, description = "The domain, changed"),
        (status = 403, body = FailureBody, description = "Not an admin"),
        (status = 409, body = FailureBody, description = "Another domain has this name"),
    ),
    security(("bearer" = []))
)]
#[put("/api/v1/domains/{id}")]
async fn update_domain(
    state: web::Data<AppState>,
    _: Admin,
    id: web::Path<Uuid>,
    body: web::Json<DomainChanges>,
) -> AppResult<HttpResponse> {
    let mut validation = Validation::new();
    let name = body
        .domain
        .as_deref()
        .and_then(|raw| validation.check(DomainName::parse_field(raw, "domain")));
    let note = match &body.note {
        Some(raw) => validation.check(parse_note(raw.as_deref())),
        None => None,
    };
    validation.finish()?;
    let mut client = state.db.get().await?;
    let tx = client.transaction().await?;
    // An unknown brandId fails `domains_brand_id_fkey`, which answers 400 naming the field.
    let changes = Changes {
        name,
        brand_id: body.brand_id,
        note,
    };
    if !store::update(&tx, *id, &changes).await? {
        return Err(AppError::not_found("No such domain"));
    }
    let domain = found(&tx, *id).await?;
    announce(&tx, DOMAINS, "domain:updated", &domain).await?;
    tx.commit().await?;
    Ok(envelope::ok("Domain updated", OneDomain { domain }))
}

/// Deletes a domain and its scan history (admins).
#[utoipa::path(
    responses(
        (status = 200, body = Success<Deleted>, description = "The domain is gone"),
        (status = 403, body = FailureBody, description = "Not an admin"),
    ),
    security(("bearer" = []))
)]
#[delete("/api/v1/domains/{id}")]
async fn delete_domain(
    state: web::Data<AppState>,
    _: Admin,
    id: web::Path<Uuid>,
) -> AppResult<HttpResponse> {
    let mut client = state.db.get().await?;
    let tx = client.transaction().await?;
    // Locked first: the event carries the domain as it was when it was deleted.
    let domain = store::find_for_update(&tx, *id)
        .await?
        .ok_or_else(|| AppError::not_found("No such domain"))?;
    if !store::delete(&tx, domain.id).await? {
        return Err(AppError::not_found("No such domain"));
    }
    announce(&tx, DOMAINS, "domain:deleted", &domain).await?;
    tx.commit().await?;
    Ok(envelope::ok("Domain deleted", Deleted { id: domain.id }))
}

/// At most this many names per import; a larger list is refused, not cut.
const MAX_IMPORT: usize = 10_000;

/// Names to add to one brand at once.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct DomainImport {
    /// The brand the new domains belong to.
    #[schema(value_type = Uuid)]
    brand_id: Option<Uuid>,
    /// 1 to 10,000 names, as pasted: each is normalised; those that are not domain names are
    /// reported, not refused.
    #[serde(default)]
    #[schema(required = true, min_items = 1, max_items = 10_000)]
    domains: Vec<String>,
}

/// A name of an import that is not a domain name.
#[derive(Serialize, ToSchema)]
struct RefusedName {
    /// As sent.
    domain: String,
    /// Why it was not taken.
    message: String,
}

/// `data` of an import.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct ImportReport {
    /// Domains added.
    created: usize,
    /// Names that were registered already, or repeated in the list.
    already_present: usize,
    invalid: Vec<RefusedName>,
}

/// Adds many domains to a brand at once, skipping those already present (admins).
#[utoipa::path(
    request_body = DomainImport,
    responses(
        (status = 200, body = Success<ImportReport>, description = "What was added, skipped and refused"),
        (status = 403, body = FailureBody, description = "Not an admin"),
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/domains/import")]
async fn import_domains(
    state: web::Data<AppState>,
    _: Admin,
    body: web::Json<DomainImport>,
) -> AppResult<HttpResponse> {
    let brand_id = body
        .brand_id
        .ok_or_else(|| AppError::invalid("brandId", "brandId is required"))?;
    if body.domains.is_empty() || body.domains.len() > MAX_IMPORT {
        return Err(AppError::invalid(
            "domains",
            format!("domains holds 1 to {MAX_IMPORT} names"),
        ));
    }
    let mut names = Vec::with_capacity(body.domains.len());
    let mut invalid = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut repeated = 0;
    for raw in &body.domains {
        match DomainName::parse(raw) {
            Ok(name) if seen.insert(name.as_str().to_owned()) => names.push(name.into_string()),
            Ok(_) => repeated += 1,
            Err(message) => invalid.push(RefusedName {
                domain: raw.clone(),
                message,
            }),
        }
    }
    let mut client = state.db.get().await?;
    let tx = client.transaction().await?;
    existing_brand(&tx, brand_id).await?;
    let created = store::import(&tx, brand_id, &names).await?;
    let domains = store::find_many(&tx, &created).await?;
    let fields = json!({ "brandId": brand_id });
    let events = in_chunks("domains:imported", fields, "domains", &domains);
    crate::events::record_all(&tx, &events).await?;
    tx.commit().await?;
    let already_present = names.len() - created.len() + repeated;
    Ok(envelope::ok(
        "Domains imported",
        ImportReport {
            created: created.len(),
            already_present,
            invalid,
        },
    ))
}
