//! `/api/v1/profile` (one's own account) and `/api/v1/users` (admins).

use actix_web::{delete, get, post, put, web, HttpResponse};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::types::{parse_phone, PersonName, Role};
use super::{record, store};
use crate::auth::{Admin, SignedIn};
use crate::error::{AppError, AppResult};
use crate::http::envelope;
use crate::http::pagination::{Page, PageQuery, Paginated};
use crate::state::AppState;

/// This module's operations in the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi()]
pub struct ApiDoc;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(get_profile)
        .service(put_profile)
        .service(list_users)
        .service(create_user)
        .service(get_user)
        .service(update_user)
        .service(delete_user);
}

#[get("/api/v1/profile")]
async fn get_profile(state: web::Data<AppState>, caller: SignedIn) -> AppResult<HttpResponse> {
    let client = state.db.get().await?;
    let user = store::find(&client, caller.id)
        .await?
        .ok_or_else(|| AppError::unauthorized("Sign in first"))?;
    Ok(envelope::ok("Profile", json!({ "user": user })))
}

#[derive(Deserialize)]
struct ProfileBody {
    name: Option<String>,
    phone: Option<String>,
}

#[put("/api/v1/profile")]
async fn put_profile(
    state: web::Data<AppState>,
    caller: SignedIn,
    body: web::Json<ProfileBody>,
) -> AppResult<HttpResponse> {
    let name = body.name.as_deref().map(PersonName::parse).transpose()?;
    let phone = match &body.phone {
        Some(raw) => Some(parse_phone(Some(raw))?),
        None => None,
    };
    let mut client = state.db.get().await?;
    let tx = client.transaction().await?;
    let user = store::update(
        &tx,
        caller.id,
        name.as_ref().map(PersonName::as_str),
        phone.as_ref().map(Option::as_deref),
        None,
        None,
    )
    .await?;
    record(&tx, "user:updated", &user).await?;
    tx.commit().await?;
    Ok(envelope::ok("Profile updated", json!({ "user": user })))
}

#[derive(Deserialize)]
struct ListQuery {
    search: Option<String>,
    role: Option<String>,
    page: Option<String>,
    limit: Option<String>,
}

#[get("/api/v1/users")]
async fn list_users(
    state: web::Data<AppState>,
    _: Admin,
    query: web::Query<ListQuery>,
) -> AppResult<HttpResponse> {
    let page = Page::parse(&PageQuery {
        page: query.page.clone(),
        limit: query.limit.clone(),
    })?;
    let role = query
        .role
        .as_deref()
        .filter(|r| !r.is_empty())
        .map(Role::parse)
        .transpose()?;
    let search = query
        .search
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let client = state.db.get().await?;
    let (users, total) = store::list(&client, search, role, page).await?;
    Ok(envelope::ok("Users", Paginated::new(users, page, total)))
}

#[derive(Deserialize)]
struct CreateBody {
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default = "default_role")]
    role: String,
}

fn default_role() -> String {
    "user".into()
}

#[post("/api/v1/users")]
async fn create_user(
    state: web::Data<AppState>,
    Admin(caller): Admin,
    body: web::Json<CreateBody>,
) -> AppResult<HttpResponse> {
    if Role::parse(&body.role)? == Role::Owner && caller.role != Role::Owner {
        return Err(AppError::forbidden("Only an owner can create an owner"));
    }
    let mut client = state.db.get().await?;
    let user = store::create_verified(
        &mut client,
        &state.settings.auth,
        &body.email,
        &body.password,
        &body.name,
        &body.role,
    )
    .await?;
    Ok(envelope::created("User created", json!({ "user": user })))
}

#[get("/api/v1/users/{id}")]
async fn get_user(
    state: web::Data<AppState>,
    _: Admin,
    id: web::Path<Uuid>,
) -> AppResult<HttpResponse> {
    let client = state.db.get().await?;
    let user = store::find(&client, *id)
        .await?
        .ok_or_else(|| AppError::not_found("No such user"))?;
    Ok(envelope::ok("User", json!({ "user": user })))
}

#[derive(Deserialize)]
struct UpdateBody {
    name: Option<String>,
    role: Option<String>,
    disabled: Option<bool>,
}

#[put("/api/v1/users/{id}")]
async fn update_user(
    state: web::Data<AppState>,
    Admin(caller): Admin,
    id: web::Path<Uuid>,
    body: web::Json<UpdateBody>,
) -> AppResult<HttpResponse> {
    let name = body.name.as_deref().map(PersonName::parse).transpose()?;
    let role = body.role.as_deref().map(Role::parse).transpose()?;
    let mut client = state.db.get().await?;
    let tx = client.transaction().await?;
    let target = store::find_for_update(&tx, *id)
        .await?
        .ok_or_else(|| AppError::not_found("No such user"))?;
    if target.role == Role::Owner && caller.role != Role::Owner {
        return Err(AppError::forbidden("Only an owner can change an owner"));
    }
    if role == Some(Role::Owner) && caller.role != Role::Owner {
        return Err(AppError::forbidden("Only an owner can make an owner"));
    }
    if target.id == caller.id
        && (role.is_some_and(|role| role < caller.role) || body.disabled == Some(true))
    {
        return Err(AppError::forbidden("You cannot demote or disable yourself"));
    }
    let user = store::update(
        &tx,
        target.id,
        name.as_ref().map(PersonName::as_str),
        None,
        role,
        body.disabled,
    )
    .await?;
    if body.disabled == Some(true) && !target.disabled {
        // The update moved `token_version` on; the refresh tokens go as well.
        crate::auth::store::revoke_refresh_tokens(&tx, user.id).await?;
    }
    if body.disabled == Some(true) || role.is_some_and(|role| role != target.role) {
        crate::realtime::revoke_sessions(&tx, user.id).await?;
    }
    record(&tx, "user:updated", &user).await?;
    tx.commit().await?;
    Ok(envelope::ok("User updated", json!({ "user": user })))
}

#[delete("/api/v1/users/{id}")]
async fn delete_user(
    state: web::Data<AppState>,
    Admin(caller): Admin,
    id: web::Path<Uuid>,
) -> AppResult<HttpResponse> {
    let mut client = state.db.get().await?;
    let tx = client.transaction().await?;
    let target = store::find_for_update(&tx, *id)
        .await?
        .ok_or_else(|| AppError::not_found("No such user"))?;
    if target.id == caller.id {
        return Err(AppError::forbidden("You cannot delete yourself"));
    }
    if target.role == Role::Owner && caller.role != Role::Owner {
        return Err(AppError::forbidden("Only an owner can delete an owner"));
    }
    // The user's reviews go with them: their experts' ratings are recomputed in this transaction.
    let rated = crate::booking::reviews::lock_experts_reviewed_by(&tx, target.id).await?;
    store::delete(&tx, target.id).await?;
    for expert in rated {
        crate::booking::reviews::rerate(&tx, expert).await?;
    }
    crate::realtime::revoke_sessions(&tx, target.id).await?;
    record(&tx, "user:deleted", &target).await?;
    tx.commit().await?;
    Ok(envelope::ok("User deleted", json!({ "id": target.id })))
}
