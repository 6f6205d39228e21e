//! Services and their sub-services (add-ons): public reads (cached), the admin's changes.

use actix_web::{delete, get, post, put, web, HttpResponse};
use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio_postgres::Row;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{cache, catalog, catalog_changed, input, retire, Retirable};
use crate::auth::{Admin, MaybeSignedIn};
use crate::error::{AppError, AppResult, FailureBody};
use crate::http::envelope::{self, Deleted, Success};
use crate::http::pagination::{page_of, Listing, Page, Paginated};
use crate::http::validation::Validation;
use crate::state::AppState;

/// This module's operations in the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    list_services,
    get_service,
    create_service,
    update_service,
    delete_service,
    add_sub_service,
    update_sub_service,
    delete_sub_service
))]
pub struct ApiDoc;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(list_services)
        .service(get_service)
        .service(create_service)
        .service(update_service)
        .service(delete_service)
        .service(add_sub_service)
        .service(update_sub_service)
        .service(delete_sub_service);
}

/// A service row with its category and sub-services, as the API shows it.
const SELECT: &str = "SELECT s.id, s.name, s.description, s.price, s.duration_minutes, s.is_active,
        s.created_at, s.updated_at, c.id AS category_id, c.name AS category_name,
        COALESCE((SELECT json_agg(json_build_object('id', ss.id, 'name', ss.name, 'price', ss.price,
                     'durationMinutes', ss.duration_minutes) ORDER BY ss.created_at, ss.id)
                  FROM sub_services ss WHERE ss.service_id = s.id), '[]'::json) AS sub_services
     FROM services s JOIN categories c ON c.id = s.category_id";

/// A service's category.
#[derive(Serialize, ToSchema)]
struct CategoryRef {
    id: Uuid,
    name: String,
}

/// A sub-service as its service lists it (built by PostgreSQL in `SELECT`).
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct SubServiceSummary {
    id: Uuid,
    name: String,
    /// Added to the service's price, in the currency's smallest unit.
    price: i64,
    /// Added to the service's duration.
    duration_minutes: i32,
}

/// A service with its category and sub-services.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Service {
    id: Uuid,
    category: CategoryRef,
    name: String,
    #[schema(required = true)]
    description: Option<String>,
    /// In the currency's smallest unit.
    price: i64,
    duration_minutes: i32,
    /// Inactive services are shown to admins only, and cannot be booked.
    is_active: bool,
    /// The add-ons, in the order they were added.
    #[schema(value_type = Vec<SubServiceSummary>)]
    sub_services: Value,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

fn service(row: &Row) -> Service {
    Service {
        id: row.get("id"),
        category: CategoryRef {
            id: row.get("category_id"),
            name: row.get("category_name"),
        },
        name: row.get("name"),
        description: row.get("description"),
        price: row.get("price"),
        duration_minutes: row.get("duration_minutes"),
        is_active: row.get("is_active"),
        sub_services: row.get("sub_services"),
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
    }
}

/// An active expert who offers a service.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct ServiceExpert {
    id: Uuid,
    name: String,
    #[schema(required = true)]
    image_url: Option<String>,
    /// The average of the expert's reviews, 0 to 5 (0 before the first).
    rating: f64,
    total_reviews: i32,
}

/// A service with the active experts who offer it, by name.
#[derive(Serialize, ToSchema)]
struct ServiceWithExperts {
    #[serde(flatten)]
    service: Service,
    experts: Vec<ServiceExpert>,
}

/// `data` of the answer about one service, with its experts.
#[derive(Serialize, ToSchema)]
struct OneServiceWithExperts {
    service: ServiceWithExperts,
}

/// `data` of an answer about one service.
#[derive(Serialize, ToSchema)]
struct OneService {
    service: Service,
}

/// `data` of a deletion that may have been a deactivation: a service or an expert that
/// appointments refer to is deactivated instead (they keep their history).
#[derive(Serialize, ToSchema)]
pub struct Retired {
    pub id: Uuid,
    /// `true`: deactivated, not deleted.
    pub deactivated: bool,
}

pub async fn find(client: &impl GenericClient, id: Uuid) -> AppResult<Option<Service>> {
    let row = client
        .query_opt(&format!("{SELECT} WHERE s.id = $1"), &[&id])
        .await?;
    Ok(row.as_ref().map(service))
}

#[derive(Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Only the services of this category.
    category_id: Option<Uuid>,
    /// Text the name or the description contains (case-insensitive; trimmed).
    search: Option<String>,
    /// Inactive services too (admins only; ignored for others).
    include_inactive: Option<bool>,
    #[param(value_type = Option<i64>, minimum = 1, maximum = 1_000_000_000)]
    page: Option<String>,
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100)]
    limit: Option<String>,
}

/// Lists services by category and name, active ones only unless an admin asks (public, cached).
#[utoipa::path(
    params(ListQuery),
    responses((status = 200, body = Success<Paginated<Service>>)),
    security((), ("bearer" = []))
)]
#[get("/api/v1/services")]
async fn list_services(
    state: web::Data<AppState>,
    caller: MaybeSignedIn,
    query: web::Query<ListQuery>,
) -> AppResult<HttpResponse> {
    let page = Page::of(query.page.as_deref(), query.limit.as_deref())?;
    let inactive_too = query.include_inactive == Some(true) && caller.is_admin();
    let pattern = query
        .search
        .as_deref()
        .map(str::trim)
        .filter(|text| !text.is_empty())
        .map(crate::db::contains_pattern);
    let load = async {
        let client = state.db.get().await?;
        let filter = "($1::uuid IS NULL OR s.category_id = $1)
             AND ($2::text IS NULL OR s.name ILIKE $2 OR s.description ILIKE $2)
             AND ($3 OR s.is_active)";
        let listing = Listing {
            count_from: "services s",
            select: SELECT,
            filter,
            order: "c.display_order, c.name, s.name, s.id",
        };
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 3] =
            [&query.category_id, &pattern, &inactive_too];
        page_of(&client, &listing, &params, page, service).await
    };
    if inactive_too {
        // What admins see is not the public's: not cached.
        return Ok(cache::uncached("Services", load.await?));
    }
    let key = format!(
        "services?category={:?}&search={:?}&page={}&limit={}",
        query.category_id, pattern, page.page, page.limit
    );
    cache::read(&state, &key, "Services", load).await
}

/// One service with its sub-services and active experts; inactive ones to admins only (public).
#[utoipa::path(
    responses((status = 200, body = Success<OneServiceWithExperts>)),
    security((), ("bearer" = []))
)]
#[get("/api/v1/services/{id}")]
async fn get_service(
    state: web::Data<AppState>,
    caller: MaybeSignedIn,
    id: web::Path<Uuid>,
) -> AppResult<HttpResponse> {
    let id = id.into_inner();
    let admin = caller.is_admin();
    let load = async {
        let client = state.db.get().await?;
        let service = find(&client, id)
            .await?
            .filter(|service| admin || service.is_active)
            .ok_or_else(|| input::not_found("service"))?;
        let experts = client
            .query(
                "SELECT e.id, e.name, e.image_url, e.rating::float8 AS rating, e.total_reviews
                 FROM experts e JOIN expert_services es ON es.expert_id = e.id
                 WHERE es.service_id = $1 AND e.is_active ORDER BY e.name, e.id",
                &[&id],
            )
            .await?;
        let experts = experts
            .iter()
            .map(|row| ServiceExpert {
                id: row.get("id"),
                name: row.get("name"),
                image_url: row.get("image_url"),
                rating: row.get("rating"),
                total_reviews: row.get("total_reviews"),
            })
            .collect();
        let service = ServiceWithExperts { service, experts };
        Ok(OneServiceWithExperts { service })
    };
    if admin {
        return Ok(cache::uncached("Service", load.await?));
    }
    cache::read(&state, &format!("service:{id}"), "Service", load).await
}

/// A service to create (`categoryId`, `name`, `price` and `durationMinutes` required) or the
/// fields to change.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct ServiceBody {
    /// An existing category.
    category_id: Option<Uuid>,
    /// 1 to 200 characters, not blank.
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    name: Option<String>,
    /// At most 5000 characters; blank is none (and leaves it unchanged in an update).
    #[schema(max_length = 5000)]
    description: Option<String>,
    /// 0 to 10^12, in the currency's smallest unit.
    #[schema(minimum = 0, maximum = 1_000_000_000_000_i64)]
    price: Option<i64>,
    /// 5 to 720.
    #[schema(minimum = 5, maximum = 720)]
    duration_minutes: Option<i32>,
    /// `true` when created without it.
    is_active: Option<bool>,
}

struct ServiceFields {
    name: Option<String>,
    description: Option<String>,
    price: Option<i64>,
    minutes: Option<i32>,
}

fn service_fields(body: &ServiceBody, creating: bool) -> AppResult<ServiceFields> {
    let mut check = Validation::new();
    let name = input::field(&mut check, "name", body.name.as_deref(), creating, |name| {
        input::text("name", name, 200)
    });
    let description = check.check(input::optional_text(
        "description",
        body.description.as_deref(),
        5000,
    ));
    let price = input::field(&mut check, "price", body.price, creating, |price| {
        input::money("price", price)
    });
    let minutes = input::field(
        &mut check,
        "durationMinutes",
        body.duration_minutes,
        creating,
        |minutes| input::minutes("durationMinutes", minutes, 5, 720),
    );
    input::field(&mut check, "categoryId", body.category_id, creating, Ok);
    let (Some(name), Some(description), Some(price), Some(minutes)) =
        (name, description, price, minutes)
    else {
        return Err(check.into_error());
    };
    check.finish()?;
    Ok(ServiceFields {
        name,
        description,
        price,
        minutes,
    })
}

/// Creates a service in a category (admins).
#[utoipa::path(
    request_body = ServiceBody,
    responses(
        (status = 201, body = Success<OneService>),
        (status = 403, body = FailureBody, description = "Not an admin"),
        (status = 404, body = FailureBody, description = "No category has `categoryId`"),
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/services")]
async fn create_service(
    state: web::Data<AppState>,
    _: Admin,
    body: web::Json<ServiceBody>,
) -> AppResult<HttpResponse> {
    let fields = service_fields(&body, true)?;
    let category = body
        .category_id
        .ok_or_else(|| AppError::invalid("categoryId", "categoryId is required"))?;
    let mut client = state.db.get().await?;
    let tx = client.transaction().await?;
    if !catalog::exists(&tx, category).await? {
        return Err(input::not_found("category"));
    }
    let id: Uuid = tx
        .query_one(
            "INSERT INTO services (category_id, name, description, price, duration_minutes, is_active)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            &[&category, &fields.name, &fields.description, &fields.price, &fields.minutes, &body.is_active.unwrap_or(true)],
        )
        .await?
        .get(0);
    catalog_changed(&tx, "service", id, "created").await?;
    let service = find(&tx, id)
        .await?
        .ok_or_else(|| input::not_found("service"))?;
    tx.commit().await?;
    Ok(envelope::created("Service created", OneService { service }))
}

/// Changes a service: any of its fields, its category too (admins).
#[utoipa::path(
    request_body = ServiceBody,
    responses(
        (status = 200, body = Success<OneService>),
        (status = 403, body = FailureBody, description = "Not an admin"),
        (status = 404, body = FailureBody,
            description = "No such service, or no category has `categoryId`"),
    ),
    security(("bearer" = []))
)]
#[put("/api/v1/services/{id}")]
async fn update_service(
    state: web::Data<AppState>,
    _: Admin,
    id: web::Path<Uuid>,
    body: web::Json<ServiceBody>,
) -> AppResult<HttpResponse> {
    let id = id.into_inner();
    let fields = service_fields(&body, false)?;
    let mut client = state.db.get().await?;
    let tx = client.transaction().await?;
    if let Some(category) = body.category_id {
        if !catalog::exists(&tx, category).await? {
            return Err(input::not_found("category"));
        }
    }
    let updated = tx
        .execute(
            "UPDATE services SET category_id = COALESCE($2, category_id), name = COALESCE($3, name),
                 description = COALESCE($4, description), price = COALESCE($5, price),
                 duration_minutes = COALESCE($6, duration_minutes), is_active = COALESCE($7, is_active),
                 updated_at = clock_timestamp()
             WHERE id = $1",
            &[&id, &body.category_id, &fields.name, &fields.description, &fields.price, &fields.minutes, &body.is_active],
        )
        .await?;
    if updated == 0 {
        return Err(input::not_found("service"));
    }
    catalog_changed(&tx, "service", id, "updated").await?;
    let service = find(&tx, id)
        .await?
        .ok_or_else(|| input::not_found("service"))?;
    tx.commit().await?;
    Ok(envelope::ok("Service updated", OneService { service }))
}

/// Deletes a service, or deactivates it when appointments refer to it (admins).
#[utoipa::path(
    responses(
        (status = 200, body = Success<Retired>),
        (status = 403, body = FailureBody, description = "Not an admin"),
    ),
    security(("bearer" = []))
)]
#[delete("/api/v1/services/{id}")]
async fn delete_service(
    state: web::Data<AppState>,
    _: Admin,
    id: web::Path<Uuid>,
) -> AppResult<HttpResponse> {
    let id = id.into_inner();
    let mut client = state.db.get().await?;
    let tx = client.transaction().await?;
    let deactivated = retire(&tx, Retirable::Service, id).await?;
    tx.commit().await?;
    let message = if deactivated {
        "The service has appointments, so it was deactivated instead of deleted"
    } else {
        "Service deleted"
    };
    Ok(envelope::ok(message, Retired { id, deactivated }))
}

/// A sub-service to add (every field required) or the fields to change.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct SubServiceBody {
    /// 1 to 200 characters, not blank.
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    name: Option<String>,
    /// 0 to 10^12, added to the service's price.
    #[schema(minimum = 0, maximum = 1_000_000_000_000_i64)]
    price: Option<i64>,
    /// 0 to 720, added to the service's duration.
    #[schema(minimum = 0, maximum = 720)]
    duration_minutes: Option<i32>,
}

/// A sub-service (an add-on of a service).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct SubService {
    id: Uuid,
    service_id: Uuid,
    name: String,
    /// Added to the service's price, in the currency's smallest unit.
    price: i64,
    /// Added to the service's duration.
    duration_minutes: i32,
}

fn sub_service(row: &Row) -> SubService {
    SubService {
        id: row.get("id"),
        service_id: row.get("service_id"),
        name: row.get("name"),
        price: row.get("price"),
        duration_minutes: row.get("duration_minutes"),
    }
}

/// `data` of an answer about one sub-service.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct OneSubService {
    sub_service: SubService,
}

const SUB_COLUMNS: &str = "id, service_id, name, price, duration_minutes";

/// Adds a sub-service to a service (admins).
#[utoipa::path(
    request_body = SubServiceBody,
    responses(
        (status = 201, body = Success<OneSubService>),
        (status = 403, body = FailureBody, description = "Not an admin"),
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/services/{id}/sub-services")]
async fn add_sub_service(
    state: web::Data<AppState>,
    _: Admin,
    id: web::Path<Uuid>,
    body: web::Json<SubServiceBody>,
) -> AppResult<HttpResponse> {
    let service = id.into_inner();
    let mut check = Validation::new();
    let name = check.check(input::text("name", body.name.as_deref().unwrap_or(""), 200));
    let price = check.check(input::money("price", body.price.unwrap_or(-1)));
    let minutes = check.check(input::minutes(
        "durationMinutes",
        body.duration_minutes.unwrap_or(-1),
        0,
        720,
    ));
    let (Some(name), Some(price), Some(minutes)) = (name, price, minutes) else {
        return Err(check.into_error());
    };
    let mut client = state.db.get().await?;
    let tx = client.transaction().await?;
    tx.query_opt("SELECT 1 FROM services WHERE id = $1", &[&service])
        .await?
        .ok_or_else(|| input::not_found("service"))?;
    let row = tx
        .query_one(
            &format!("INSERT INTO sub_services (service_id, name, price, duration_minutes) VALUES ($1, $2, $3, $4) RETURNING {SUB_COLUMNS}"),
            &[&service, &name, &price, &minutes],
        )
        .await?;
    catalog_changed(&tx, "subService", row.get("id"), "created").await?;
    tx.commit().await?;
    Ok(envelope::created(
        "Sub-service added",
        OneSubService {
            sub_service: sub_service(&row),
        },
    ))
}

/// Changes a sub-service's name, price or duration (admins).
#[utoipa::path(
    request_body = SubServiceBody,
    responses(
        (status = 200, body = Success<OneSubService>),
        (status = 403, body = FailureBody, description = "Not an admin"),
    ),
    security(("bearer" = []))
)]
#[put("/api/v1/sub-services/{id}")]
async fn update_sub_service(
    state: web::Data<AppState>,
    _: Admin,
    id: web::Path<Uuid>,
    body: web::Json<SubServiceBody>,
) -> AppResult<HttpResponse> {
    let id = id.into_inner();
    let mut check = Validation::new();
    let name = body
        .name
        .as_deref()
        .map(|name| check.check(input::text("name", name, 200)));
    let price = body
        .price
        .map(|price| check.check(input::money("price", price)));
    let minutes = body
        .duration_minutes
        .map(|minutes| check.check(input::minutes("durationMinutes", minutes, 0, 720)));
    check.finish()?;
    let (name, price, minutes) = (name.flatten(), price.flatten(), minutes.flatten());
    let mut client = state.db.get().await?;
    let tx = client.transaction().await?;
    let row = tx
        .query_opt(
            &format!(
                "UPDATE sub_services SET name = COALESCE($2, name), price = COALESCE($3, price),
                     duration_minutes = COALESCE($4, duration_minutes), updated_at = clock_timestamp()
                 WHERE id = $1 RETURNING {SUB_COLUMNS}"
            ),
            &[&id, &name, &price, &minutes],
        )
        .await?
        .ok_or_else(|| input::not_found("sub-service"))?;
    catalog_changed(&tx, "subService", id, "updated").await?;
    tx.commit().await?;
    Ok(envelope::ok(
        "Sub-service updated",
        OneSubService {
            sub_service: sub_service(&row),
        },
    ))
}

/// Deletes a sub-service (admins).
#[utoipa::path(
    responses(
        (status = 200, body = Success<Deleted>),
        (status = 403, body = FailureBody, description = "Not an admin"),
    ),
    security(("bearer" = []))
)]
#[delete("/api/v1/sub-services/{id}")]
async fn delete_sub_service(
    state: web::Data<AppState>,
    _: Admin,
    id: web::Path<Uuid>,
) -> AppResult<HttpResponse> {
    let id = id.into_inner();
    let mut client = state.db.get().await?;
    let tx = client.transaction().await?;
    let deleted = tx
        .execute("DELETE FROM sub_services WHERE id = $1", &[&id])
        .await?;
    if deleted == 0 {
        return Err(input::not_found("sub-service"));
    }
    catalog_changed(&tx, "subService", id, "deleted").await?;
    tx.commit().await?;
    Ok(envelope::ok("Sub-service deleted", Deleted { id }))
}
