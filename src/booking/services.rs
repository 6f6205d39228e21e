//! Services and their sub-services (add-ons): public reads (cached), the admin's changes.

use actix_web::{delete, get, post, put, web, HttpResponse};
use deadpool_postgres::GenericClient;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio_postgres::Row;
use uuid::Uuid;

use super::{cache, catalog, catalog_changed, input, retire, Retirable};
use crate::auth::{Admin, MaybeSignedIn};
use crate::error::{AppError, AppResult};
use crate::http::envelope;
use crate::http::pagination::{page_of, Listing, Page, PageQuery};
use crate::http::validation::Validation;
use crate::state::AppState;

/// This module's operations in the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi()]
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

fn service(row: &Row) -> Value {
    json!({
        "id": row.get::<_, Uuid>("id"),
        "category": {"id": row.get::<_, Uuid>("category_id"), "name": row.get::<_, String>("category_name")},
        "name": row.get::<_, String>("name"),
        "description": row.get::<_, Option<String>>("description"),
        "price": row.get::<_, i64>("price"),
        "durationMinutes": row.get::<_, i32>("duration_minutes"),
        "isActive": row.get::<_, bool>("is_active"),
        "subServices": row.get::<_, Value>("sub_services"),
        "createdAt": row.get::<_, chrono::DateTime<chrono::Utc>>("created_at"),
        "updatedAt": row.get::<_, chrono::DateTime<chrono::Utc>>("updated_at"),
    })
}

pub async fn find(client: &impl GenericClient, id: Uuid) -> AppResult<Option<Value>> {
    let row = client
        .query_opt(&format!("{SELECT} WHERE s.id = $1"), &[&id])
        .await?;
    Ok(row.as_ref().map(service))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListQuery {
    category_id: Option<Uuid>,
    search: Option<String>,
    include_inactive: Option<bool>,
    page: Option<String>,
    limit: Option<String>,
}

#[get("/api/v1/services")]
async fn list_services(
    state: web::Data<AppState>,
    caller: MaybeSignedIn,
    query: web::Query<ListQuery>,
) -> AppResult<HttpResponse> {
    let page = Page::parse(&PageQuery {
        page: query.page.clone(),
        limit: query.limit.clone(),
    })?;
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
        let items = page_of(&client, &listing, &params, page, service).await?;
        Ok(serde_json::to_value(items).unwrap_or_default())
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
        let mut service = find(&client, id)
            .await?
            .filter(|service| admin || service["isActive"] == true)
            .ok_or_else(|| input::not_found("service"))?;
        let experts = client
            .query(
                "SELECT e.id, e.name, e.image_url, e.rating::float8 AS rating, e.total_reviews
                 FROM experts e JOIN expert_services es ON es.expert_id = e.id
                 WHERE es.service_id = $1 AND e.is_active ORDER BY e.name, e.id",
                &[&id],
            )
            .await?;
        service["experts"] = experts
            .iter()
            .map(|row| {
                json!({
                    "id": row.get::<_, Uuid>("id"),
                    "name": row.get::<_, String>("name"),
                    "imageUrl": row.get::<_, Option<String>>("image_url"),
                    "rating": row.get::<_, f64>("rating"),
                    "totalReviews": row.get::<_, i32>("total_reviews"),
                })
            })
            .collect();
        Ok(json!({ "service": service }))
    };
    if admin {
        return Ok(cache::uncached("Service", load.await?));
    }
    cache::read(&state, &format!("service:{id}"), "Service", load).await
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ServiceBody {
    category_id: Option<Uuid>,
    name: Option<String>,
    description: Option<String>,
    price: Option<i64>,
    duration_minutes: Option<i32>,
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
    let created = find(&tx, id).await?;
    tx.commit().await?;
    Ok(envelope::created(
        "Service created",
        json!({ "service": created }),
    ))
}

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
    let service = find(&tx, id).await?;
    tx.commit().await?;
    Ok(envelope::ok(
        "Service updated",
        json!({ "service": service }),
    ))
}

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
    Ok(envelope::ok(
        message,
        json!({ "id": id, "deactivated": deactivated }),
    ))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SubServiceBody {
    name: Option<String>,
    price: Option<i64>,
    duration_minutes: Option<i32>,
}

fn sub_service(row: &Row) -> Value {
    json!({
        "id": row.get::<_, Uuid>("id"),
        "serviceId": row.get::<_, Uuid>("service_id"),
        "name": row.get::<_, String>("name"),
        "price": row.get::<_, i64>("price"),
        "durationMinutes": row.get::<_, i32>("duration_minutes"),
    })
}

const SUB_COLUMNS: &str = "id, service_id, name, price, duration_minutes";

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
        json!({ "subService": sub_service(&row) }),
    ))
}

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
        json!({ "subService": sub_service(&row) }),
    ))
}

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
    Ok(envelope::ok("Sub-service deleted", json!({ "id": id })))
}
