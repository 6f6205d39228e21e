//! `/api/v1/auth/*`.

use actix_web::{get, post, web, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::extractor::SignedIn;
use super::lockout::{self, Gate, Verdict};
use super::store::{self, Purpose, Rotation};
use super::tokens::{self, TokenType};
use super::{mails, password, sessions};
use crate::error::{AppError, AppResult, FailureBody};
use crate::http::envelope::{self, Nothing, Success};
use crate::http::validation::Validation;
use crate::mail::outbox;
use crate::state::AppState;
use crate::users::model::OneUser;
use crate::users::types::{parse_phone, Email, Password, PersonName};
use crate::users::{store as users, User};

/// This module's operations in the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    register,
    verify_email,
    resend_verification,
    login,
    refresh,
    logout,
    forgot_password,
    reset_password,
    change_password
))]
pub struct ApiDoc;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/v1/auth")
            .service(register)
            .service(verify_email)
            .service(resend_verification)
            .service(login)
            .service(refresh)
            .service(logout)
            .service(forgot_password)
            .service(reset_password)
            .service(change_password),
    );
}

/// `data` of a sign-in: the account and a fresh token pair.
#[derive(Serialize, ToSchema)]
struct SignedInAs {
    user: User,
    #[serde(flatten)]
    tokens: Tokens,
}

/// `data` of a refresh or a password change: a fresh token pair.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct Tokens {
    /// A short-lived bearer token for the API.
    access_token: String,
    /// A single-use token for `/api/v1/auth/refresh`.
    refresh_token: String,
}

impl From<sessions::TokenPair> for Tokens {
    fn from(pair: sessions::TokenPair) -> Self {
        Tokens {
            access_token: pair.access,
            refresh_token: pair.refresh,
        }
    }
}

/// A new account. An address registered and not verified within 30 minutes may be registered
/// again (the earlier registration's links stop working).
#[derive(Deserialize, ToSchema)]
struct RegisterBody {
    /// 1 to 100 characters, not blank, no control characters.
    #[serde(default)]
    #[schema(
        required = true,
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    name: String,
    /// Trimmed and lower-cased; unique.
    #[serde(default)]
    #[schema(required = true, format = Email, max_length = 254)]
    email: String,
    /// 8 to 72 bytes (UTF-8).
    #[serde(default)]
    #[schema(required = true, min_length = 8, max_length = 72)]
    password: String,
    /// Optional: 6 to 20 digits, with an optional leading `+`, spaces and dashes.
    #[schema(pattern = r"^\s*(\+?[ -]*([0-9][ -]*){6,20})?\s*$")]
    phone: Option<String>,
}

/// Registers an account and mails its verification link (public).
#[utoipa::path(
    context_path = "/api/v1/auth",
    request_body = RegisterBody,
    responses(
        (status = 201, body = Success<OneUser>, description = "Registered, not verified yet"),
        (status = 409, body = FailureBody, description = "The email is already registered"),
    )
)]
#[post("/register")]
async fn register(
    state: web::Data<AppState>,
    body: web::Json<RegisterBody>,
) -> AppResult<HttpResponse> {
    let mut check = Validation::new();
    let name = check.check(PersonName::parse(&body.name));
    let email = check.check(Email::parse(&body.email));
    let password = check.check(Password::parse(&body.password, "password"));
    let phone = check.check(parse_phone(body.phone.as_deref()));
    let (Some(name), Some(email), Some(password), Some(phone)) = (name, email, password, phone)
    else {
        return Err(check.into_error());
    };
    let hash = password::hash(&password, state.settings.auth.bcrypt_cost).await?;
    let mut client = state.db.get().await?;
    let tx = client.transaction().await?;
    let (user, replaced) = users::register(&tx, &name, &email, phone.as_deref(), &hash).await?;
    if replaced {
        // The links mailed for the registration this one replaces must not verify it.
        store::void_email_tokens(&tx, user.id, Purpose::VerifyEmail).await?;
    }
    let mail_id = mail_token(
        &tx,
        &state,
        &user,
        Purpose::VerifyEmail,
        mails::verification,
    )
    .await?;
    let event = if replaced {
        "user:updated"
    } else {
        "user:created"
    };
    crate::users::record(&tx, event, &user).await?;
    tx.commit().await?;
    outbox::wake(&state.queues, mail_id).await;
    Ok(envelope::created(
        "Registered. Check your mail to verify your email address",
        OneUser { user },
    ))
}

/// Creates a single-use token for `user` and queues the mail `letter` writes around it; returns
/// the mail's id, to wake after commit.
async fn mail_token(
    tx: &impl deadpool_postgres::GenericClient,
    state: &AppState,
    user: &User,
    purpose: Purpose,
    letter: fn(&str, Option<&str>, &str) -> mails::Letter,
) -> AppResult<uuid::Uuid> {
    let token = store::create_email_token(tx, user.id, purpose).await?;
    let letter = letter(
        &state.settings.server.public_url,
        user.greeting_name(),
        &token,
    );
    outbox::queue_mail(tx, &letter.to(&user.email)).await
}

/// Mails a token to the account with `email` when there is one and `wanted` holds; does nothing
/// otherwise, so the caller's answer cannot reveal which accounts exist.
async fn mail_token_if_known(
    state: &AppState,
    email: &Email,
    wanted: impl Fn(&User) -> bool,
    purpose: Purpose,
    letter: fn(&str, Option<&str>, &str) -> mails::Letter,
) -> AppResult<()> {
    let mut client = state.db.get().await?;
    let tx = client.transaction().await?;
    let mut mail_id = None;
    if let Some(user) = users::find_by_email(&tx, email)
        .await?
        .filter(|user| wanted(user))
    {
        mail_id = Some(mail_token(&tx, state, &user, purpose, letter).await?);
    }
    tx.commit().await?;
    if let Some(mail_id) = mail_id {
        outbox::wake(&state.queues, mail_id).await;
    }
    Ok(())
}

/// Verifies an account's email address with its mailed link's token; answers JSON (public).
#[utoipa::path(
    context_path = "/api/v1/auth",
    params(("token" = String, Path, description = "The token of the mailed link")),
    responses(
        (status = 200, body = Success<OneUser>, description = "Verified"),
        (status = 400, body = FailureBody, description = "The link is invalid, used or expired"),
    )
)]
#[get("/verify-email/{token}")]
async fn verify_email(
    state: web::Data<AppState>,
    token: web::Path<String>,
) -> AppResult<HttpResponse> {
    let mut client = state.db.get().await?;
    let tx = client.transaction().await?;
    let user = use_link(&tx, &token, Purpose::VerifyEmail)
        .await?
        .ok_or_else(|| {
            AppError::bad_request("This verification link is invalid, used or expired")
        })?;
    let user = users::mark_verified(&tx, user).await?;
    crate::users::record(&tx, "user:updated", &user).await?;
    tx.commit().await?;
    Ok(envelope::ok(
        "Email verified. You can sign in now",
        OneUser { user },
    ))
}

/// Uses up a mailed link and answers its account, locked. The account's row is locked before the
/// link's, the order every change of an account takes (registration, password changes), so two
/// of them never wait on each other.
async fn use_link(
    tx: &impl deadpool_postgres::GenericClient,
    token: &str,
    purpose: Purpose,
) -> AppResult<Option<uuid::Uuid>> {
    let Some(user) = store::email_token_user(tx, token, purpose).await? else {
        return Ok(None);
    };
    if users::find_for_update(tx, user).await?.is_none() {
        return Ok(None);
    }
    let used = store::consume_email_token(tx, token, purpose).await?;
    Ok(used.filter(|owner| *owner == user))
}

/// The address of an account.
#[derive(Deserialize, ToSchema)]
#[schema(as = AccountEmailBody)]
struct EmailBody {
    #[serde(default)]
    #[schema(required = true, format = Email, max_length = 254)]
    email: String,
}

/// Mails a new verification link to an unverified account, if it exists (public).
#[utoipa::path(
    context_path = "/api/v1/auth",
    request_body = EmailBody,
    responses((status = 200, body = Success<Nothing>, description = "Sent if the account exists"))
)]
#[post("/resend-verification")]
async fn resend_verification(
    state: web::Data<AppState>,
    body: web::Json<EmailBody>,
) -> AppResult<HttpResponse> {
    let email = Email::parse(&body.email)?;
    let wanted = |user: &User| !user.email_verified;
    mail_token_if_known(
        &state,
        &email,
        wanted,
        Purpose::VerifyEmail,
        mails::verification,
    )
    .await?;
    Ok(envelope::ok(
        "If that account exists and is not verified, a new link is on its way",
        Nothing,
    ))
}

/// Credentials.
#[derive(Deserialize, ToSchema)]
struct LoginBody {
    #[serde(default)]
    #[schema(required = true, format = Email, max_length = 254)]
    email: String,
    #[serde(default)]
    #[schema(required = true, min_length = 1)]
    password: String,
}

/// Signs in with email and password for a token pair; failures lock the email a while (public).
#[utoipa::path(
    context_path = "/api/v1/auth",
    request_body = LoginBody,
    responses(
        (status = 200, body = Success<SignedInAs>, description = "Signed in"),
        (status = 401, body = FailureBody,
            description = "Wrong email or password; `data.attemptsRemaining` counts what is left"),
        (status = 403, body = FailureBody,
            description = "The email is not verified yet, or the account is disabled"),
        (status = 429, body = FailureBody,
            description = "Too many failed attempts (`data.retryAfter` seconds), or too many requests"),
        (status = 503, body = FailureBody,
            description = "Too many password checks are waiting, or PostgreSQL is not available"),
    )
)]
#[post("/login")]
async fn login(state: web::Data<AppState>, body: web::Json<LoginBody>) -> AppResult<HttpResponse> {
    let auth = &state.settings.auth;
    let email = Email::parse(&body.email)?;
    if body.password.is_empty() {
        return Err(AppError::invalid("password", "Password is required"));
    }
    password::ensure_room()?;
    let client = state.db.get().await?;
    let failures = match lockout::enter(&client, email.as_str(), auth).await? {
        Gate::Open { failures } => failures,
        Gate::Locked { seconds_left } => return Err(locked(seconds_left)),
    };
    let account = users::find_credentials(&client, &email).await?;
    let stored_hash = account.as_ref().map(|(_, hash)| hash.clone());
    let correct = password::verify(&body.password, stored_hash, auth.bcrypt_cost).await?;
    let user = match (correct, account) {
        (true, Some((user, _))) => user,
        _ => {
            return Err(
                match lockout::failed(&client, email.as_str(), failures, auth).await? {
                    Verdict::Retry { attempts_remaining } => {
                        AppError::unauthorized("Invalid email or password")
                            .with_data(json!({ "attemptsRemaining": attempts_remaining }))
                    }
                    Verdict::Locked { seconds } => locked(seconds),
                },
            );
        }
    };
    lockout::succeeded(&client, email.as_str()).await?;
    if !user.email_verified {
        return Err(AppError::forbidden("Please verify your email"));
    }
    if user.disabled {
        return Err(AppError::forbidden("This account is disabled"));
    }
    let user = users::record_login(&client, user.id).await?;
    let pair = sessions::start(&client, &state.settings.auth, &user, None).await?;
    Ok(envelope::ok(
        "Signed in",
        SignedInAs {
            user,
            tokens: Tokens::from(pair),
        },
    ))
}

fn locked(seconds: u64) -> AppError {
    AppError::too_many(
        format!("Too many failed attempts. Try again in {seconds} seconds"),
        seconds,
    )
    .with_data(json!({ "retryAfter": seconds }))
}

/// A refresh token.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct RefreshBody {
    #[serde(default)]
    #[schema(required = true)]
    refresh_token: String,
}

/// Trades a refresh token (each works once) for a new token pair (public).
#[utoipa::path(
    context_path = "/api/v1/auth",
    request_body = RefreshBody,
    responses(
        (status = 200, body = Success<Tokens>, description = "A new token pair"),
        (status = 401, body = FailureBody,
            description = "The refresh token is invalid, expired, revoked or already used"),
    )
)]
#[post("/refresh")]
async fn refresh(
    state: web::Data<AppState>,
    body: web::Json<RefreshBody>,
) -> AppResult<HttpResponse> {
    let refused = || AppError::unauthorized("Invalid or expired refresh token");
    let claims = tokens::verify(
        &state.settings.auth,
        TokenType::Refresh,
        &body.refresh_token,
    )
    .ok_or_else(refused)?;
    let mut client = state.db.get().await?;
    let tx = client.transaction().await?;
    // The account's row first (as a password reset or change takes it first): a reset then either
    // commits before this reads the version, or waits for this refresh and revokes its successor.
    let user = users::find_for_share(&tx, claims.sub)
        .await?
        .filter(|user| !user.disabled)
        .ok_or_else(refused)?;
    let version = users::token_version(&tx, user.id).await?;
    let rotation = store::rotate_refresh_token(&tx, claims.jti, &body.refresh_token).await?;
    let family = match rotation {
        Rotation::Rotated {
            user: owner,
            family,
        } if owner == user.id => family,
        Rotation::Rotated { .. } => return Err(refused()),
        Rotation::Reused => {
            tx.commit().await?;
            return Err(AppError::unauthorized(
                "This refresh token was already used; sign in again",
            ));
        }
        Rotation::Unknown => return Err(refused()),
    };
    if claims.ver != version {
        // Issued before the password changed (or the account was disabled): that ended it.
        tx.commit().await?;
        return Err(refused());
    }
    let pair = sessions::start(&tx, &state.settings.auth, &user, Some(family)).await?;
    tx.commit().await?;
    Ok(envelope::ok("Tokens refreshed", Tokens::from(pair)))
}

/// Ends the caller's session of the given refresh token (signed-in users).
#[utoipa::path(
    context_path = "/api/v1/auth",
    request_body = RefreshBody,
    responses(
        (status = 200, body = Success<Nothing>, description = "Signed out"),
        (status = 400, body = FailureBody,
            description = "`refreshToken` is not a refresh token of the caller, or invalid input"),
    ),
    security(("bearer" = []))
)]
#[post("/logout")]
async fn logout(
    state: web::Data<AppState>,
    caller: SignedIn,
    body: web::Json<RefreshBody>,
) -> AppResult<HttpResponse> {
    let claims = tokens::verify(
        &state.settings.auth,
        TokenType::Refresh,
        &body.refresh_token,
    )
    .filter(|claims| claims.sub == caller.id)
    .ok_or_else(|| AppError::invalid("refreshToken", "Not a refresh token of yours"))?;
    let mut client = state.db.get().await?;
    let tx = client.transaction().await?;
    if let Some(session) = store::end_session(&tx, claims.jti, caller.id).await? {
        crate::realtime::revoke_login_session(&tx, caller.id, session).await?;
    }
    tx.commit().await?;
    Ok(envelope::ok("Signed out", Nothing))
}

/// Mails a password reset link to the account with this email, if it exists (public).
#[utoipa::path(
    context_path = "/api/v1/auth",
    request_body = EmailBody,
    responses((status = 200, body = Success<Nothing>, description = "Sent if the account exists"))
)]
#[post("/forgot-password")]
async fn forgot_password(
    state: web::Data<AppState>,
    body: web::Json<EmailBody>,
) -> AppResult<HttpResponse> {
    let email = Email::parse(&body.email)?;
    mail_token_if_known(
        &state,
        &email,
        |_| true,
        Purpose::ResetPassword,
        mails::password_reset,
    )
    .await?;
    Ok(envelope::ok(
        "If that account exists, a reset link is on its way",
        Nothing,
    ))
}

/// The token of a mailed reset link and the new password.
#[derive(Deserialize, ToSchema)]
struct ResetBody {
    #[serde(default)]
    #[schema(required = true)]
    token: String,
    /// 8 to 72 bytes (UTF-8).
    #[serde(default)]
    #[schema(required = true, min_length = 8, max_length = 72)]
    password: String,
}

/// Sets a new password with a mailed reset link and ends every session (public).
#[utoipa::path(
    context_path = "/api/v1/auth",
    request_body = ResetBody,
    responses(
        (status = 200, body = Success<Nothing>, description = "Password reset"),
        (status = 400, body = FailureBody,
            description = "The link is invalid, used or expired, or the password is not acceptable"),
    )
)]
#[post("/reset-password")]
async fn reset_password(
    state: web::Data<AppState>,
    body: web::Json<ResetBody>,
) -> AppResult<HttpResponse> {
    let password = Password::parse(&body.password, "password")?;
    let bad_link = || AppError::bad_request("This reset link is invalid, used or expired");
    let mut client = state.db.get().await?;
    // Hashing is the costly part: only for a link that is good now (and checked again below).
    store::email_token_user(&client, &body.token, Purpose::ResetPassword)
        .await?
        .ok_or_else(bad_link)?;
    let hash = password::hash(&password, state.settings.auth.bcrypt_cost).await?;
    let tx = client.transaction().await?;
    let user = use_link(&tx, &body.token, Purpose::ResetPassword)
        .await?
        .ok_or_else(bad_link)?;
    // The link proved the mailbox, and the password is now the mailbox owner's: the address is
    // verified, and the verification links of whoever registered it are void.
    users::mark_verified(&tx, user).await?;
    store::void_email_tokens(&tx, user, Purpose::VerifyEmail).await?;
    let (user, mail_id) = sessions::replace_password(&tx, user, &hash).await?;
    crate::realtime::revoke_sessions(&tx, user.id).await?;
    crate::users::record(&tx, "user:updated", &user).await?;
    tx.commit().await?;
    outbox::wake(&state.queues, mail_id).await;
    Ok(envelope::ok(
        "Password reset. Sign in with your new password",
        Nothing,
    ))
}

/// The current password and the new one.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = ChangePasswordBody)]
struct ChangeBody {
    #[serde(default)]
    #[schema(required = true)]
    current_password: String,
    /// 8 to 72 bytes (UTF-8).
    #[serde(default)]
    #[schema(required = true, min_length = 8, max_length = 72)]
    new_password: String,
}

/// Changes the caller's password, ending other sessions, for a new token pair (signed-in users).
#[utoipa::path(
    context_path = "/api/v1/auth",
    request_body = ChangeBody,
    responses(
        (status = 200, body = Success<Tokens>, description = "Changed; a new token pair"),
        (status = 400, body = FailureBody,
            description = "The current password is wrong (`data.attemptsRemaining`), or the new one \
                is not acceptable"),
        (status = 429, body = FailureBody,
            description = "Too many wrong passwords (`data.retryAfter` seconds), or too many requests"),
        (status = 503, body = FailureBody,
            description = "Too many password checks are waiting, or PostgreSQL is not available"),
    ),
    security(("bearer" = []))
)]
#[post("/change-password")]
async fn change_password(
    state: web::Data<AppState>,
    caller: SignedIn,
    body: web::Json<ChangeBody>,
) -> AppResult<HttpResponse> {
    let auth = &state.settings.auth;
    let new_password = Password::parse(&body.new_password, "newPassword")?;
    let mut client = state.db.get().await?;
    let key = lockout::user_key(caller.id);
    password::ensure_room()?;
    let failures = match lockout::enter(&client, &key, auth).await? {
        Gate::Open { failures } => failures,
        Gate::Locked { seconds_left } => return Err(locked(seconds_left)),
    };
    let stored = users::password_hash(&client, caller.id).await?;
    if !password::verify(&body.current_password, Some(stored), auth.bcrypt_cost).await? {
        return Err(
            match lockout::failed(&client, &key, failures, auth).await? {
                Verdict::Retry { attempts_remaining } => {
                    AppError::invalid("currentPassword", "The current password is wrong")
                        .with_data(json!({ "attemptsRemaining": attempts_remaining }))
                }
                Verdict::Locked { seconds } => locked(seconds),
            },
        );
    }
    lockout::succeeded(&client, &key).await?;
    let hash = password::hash(&new_password, auth.bcrypt_cost).await?;
    let tx = client.transaction().await?;
    let (user, mail_id) = sessions::replace_password(&tx, caller.id, &hash).await?;
    let pair = sessions::start(&tx, auth, &user, None).await?;
    // Sockets opened with the old tokens too: the client reopens with the new pair.
    crate::realtime::revoke_sessions(&tx, user.id).await?;
    tx.commit().await?;
    outbox::wake(&state.queues, mail_id).await;
    Ok(envelope::ok(
        "Password changed; other sessions were signed out",
        Tokens::from(pair),
    ))
}
