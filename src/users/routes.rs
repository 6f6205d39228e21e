//! `/api/v1/profile` (one's own account) and `/api/v1/users` (admins).

use actix_web::{delete, get, post, put, web, HttpResponse};
use serde::Deserialize;
use utoipa::openapi::schema::{Object, ObjectBuilder, Type};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::model::{OneUser, User};
use super::types::{parse_phone, PersonName, Role};
use super::{record, store};
use crate::auth::{Admin, SignedIn};
use crate::error::{AppError, AppResult, FailureBody};
use crate::http::envelope::{self, Deleted, Success};
use crate::http::pagination::{Page, Paginated};
use crate::state::AppState;

/// This module's operations in the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    get_profile,
    put_profile,
    list_users,
    create_user,
    get_user,
    update_user,
    delete_user
))]
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

/// The caller's own account (anyone signed in).
#[utoipa::path(
    responses((status = 200, body = Success<OneUser>, description = "The caller's account")),
    security(("bearer" = []))
)]
#[get("/api/v1/profile")]
async fn get_profile(state: web::Data<AppState>, caller: SignedIn) -> AppResult<HttpResponse> {
    let client = state.db.get().await?;
    let user = store::find(&client, caller.id)
        .await?
        .ok_or_else(|| AppError::unauthorized("Sign in first"))?;
    Ok(envelope::ok("Profile", OneUser { user }))
}

/// The fields of one's own account to change; those left out (or `null`) stay.
#[derive(Deserialize, ToSchema)]
#[schema(as = ProfileChanges)]
struct ProfileBody {
    /// 1 to 100 characters (trimmed), no control characters.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    name: Option<String>,
    /// 6 to 20 digits, with spaces, dashes and a leading `+` allowed; blank clears it.
    #[schema(pattern = r"^\s*(\+?[ -]*([0-9][ -]*){6,20})?\s*$")]
    phone: Option<String>,
}

/// Changes the caller's own name or phone (anyone signed in).
#[utoipa::path(
    request_body = ProfileBody,
    responses((status = 200, body = Success<OneUser>, description = "The caller's account, changed")),
    security(("bearer" = []))
)]
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
    Ok(envelope::ok("Profile updated", OneUser { user }))
}

fn role_filter_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some("Only the accounts with this role; empty for all"))
        .enum_values(Some(["", "user", "admin", "owner"]))
        .build()
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Part of the name or the email (case-insensitive).
    search: Option<String>,
    #[param(schema_with = role_filter_schema)]
    role: Option<String>,
    #[param(value_type = Option<i64>, minimum = 1, maximum = 1_000_000_000)]
    page: Option<String>,
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100)]
    limit: Option<String>,
}

/// Accounts, newest first, searched and filtered by role (admins).
#[utoipa::path(
    params(ListQuery),
    responses(
        (status = 200, body = Success<Paginated<User>>, description = "One page of accounts"),
        (status = 403, body = FailureBody, description = "Not an admin"),
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/users")]
async fn list_users(
    state: web::Data<AppState>,
    _: Admin,
    query: web::Query<ListQuery>,
) -> AppResult<HttpResponse> {
    let page = Page::of(query.page.as_deref(), query.limit.as_deref())?;
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

/// An account to create, verified at once.
#[derive(Deserialize, ToSchema)]
#[schema(as = NewUser)]
struct CreateBody {
    /// 1 to 100 characters (trimmed), no control characters.
    #[serde(default)]
    #[schema(
        required = true,
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    name: String,
    /// Unique; kept lower-case.
    #[serde(default)]
    #[schema(required = true, format = Email, max_length = 254)]
    email: String,
    /// 8 to 72 bytes (UTF-8).
    #[serde(default)]
    #[schema(required = true, min_length = 8, max_length = 72)]
    password: String,
    /// `user` when left out; only an owner can create an owner.
    #[serde(default = "default_role")]
    #[schema(value_type = Role)]
    role: String,
}

fn default_role() -> String {
    "user".into()
}

/// Creates an account that can sign in at once (admins; owners only for an owner).
#[utoipa::path(
    request_body = CreateBody,
    responses(
        (status = 201, body = Success<OneUser>, description = "The account, created"),
        (
            status = 403,
            body = FailureBody,
            description = "Not an admin, or an admin creating an owner"
        ),
        (status = 409, body = FailureBody, description = "The email is registered already"),
    ),
    security(("bearer" = []))
)]
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
    Ok(envelope::created("User created", OneUser { user }))
}

/// One account (admins).
#[utoipa::path(
    responses(
        (status = 200, body = Success<OneUser>, description = "The account"),
        (status = 403, body = FailureBody, description = "Not an admin"),
    ),
    security(("bearer" = []))
)]
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
    Ok(envelope::ok("User", OneUser { user }))
}

/// The fields of an account to change; those left out (or `null`) stay.
#[derive(Deserialize, ToSchema)]
#[schema(as = UserChanges)]
struct UpdateBody {
    /// 1 to 100 characters (trimmed), no control characters.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    name: Option<String>,
    /// Only an owner can make an owner; no one can lower their own role.
    #[schema(value_type = Option<Role>)]
    role: Option<String>,
    /// `true` signs the account out everywhere and keeps it out; no one can disable themselves.
    disabled: Option<bool>,
}

/// Changes an account's name, role or access (admins; owners only for an owner).
#[utoipa::path(
    request_body = UpdateBody,
    responses(
        (status = 200, body = Success<OneUser>, description = "The account, changed"),
        (
            status = 403,
            body = FailureBody,
            description = "Not an admin; an admin changing an owner or making one; \
                           demoting or disabling oneself"
        ),
    ),
    security(("bearer" = []))
)]
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
    Ok(envelope::ok("User updated", OneUser { user }))
}

/// Deletes an account with everything it owns (admins; owners only for an owner).
#[utoipa::path(
    responses(
        (status = 200, body = Success<Deleted>, description = "The account is gone"),
        (
            status = 403,
            body = FailureBody,
            description = "Not an admin; an admin deleting an owner; deleting oneself"
        ),
    ),
    security(("bearer" = []))
)]
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
    Ok(envelope::ok("User deleted", Deleted { id: target.id }))
}
