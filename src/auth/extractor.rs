//! `SignedIn` and `Admin`: the caller, from `Authorization: Bearer <access token>`. The user row is
//! read on every request, so a deleted or disabled user, one whose password changed since the
//! token was issued, or a session signed out (its refresh-token family revoked), is refused at once.

use std::future::Future;
use std::pin::Pin;

use actix_web::{web, FromRequest, HttpRequest};
use uuid::Uuid;

use super::tokens::{self, TokenType};
use crate::error::AppError;
use crate::state::AppState;
use crate::users::types::Role;

#[derive(Debug, Clone)]
pub struct SignedIn {
    pub id: Uuid,
    pub role: Role,
    /// The sign-in session (refresh-token family) of the token.
    pub session: Option<Uuid>,
}

/// A signed-in admin or owner.
#[derive(Debug, Clone)]
pub struct Admin(pub SignedIn);

pub fn bearer(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get("authorization")?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Resolves an access token to the user it still speaks for.
pub async fn authenticate(state: &AppState, token: &str) -> Result<SignedIn, AppError> {
    let refused = || AppError::unauthorized("Invalid or expired token");
    let claims =
        tokens::verify(&state.settings.auth, TokenType::Access, token).ok_or_else(refused)?;
    let client = state.db.get().await?;
    let row = client
        .query_opt(
            "SELECT role, disabled, token_version,
                 EXISTS (SELECT 1 FROM refresh_tokens
                         WHERE family_id = $2 AND revoked_at IS NOT NULL) AS ended
             FROM users WHERE id = $1",
            &[&claims.sub, &claims.sid],
        )
        .await?
        .ok_or_else(refused)?;
    let (role, disabled, version): (String, bool, i32) = (row.get(0), row.get(1), row.get(2));
    let ended: bool = row.get("ended");
    if disabled || version != claims.ver || ended {
        return Err(refused());
    }
    Ok(SignedIn {
        session: claims.sid,
        id: claims.sub,
        role: Role::parse(&role).map_err(|_| refused())?,
    })
}

impl FromRequest for SignedIn {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let token = bearer(req).map(str::to_owned);
        Box::pin(async move {
            let state = state.ok_or_else(|| AppError::internal(anyhow::anyhow!("no app state")))?;
            let token = token.ok_or_else(|| AppError::unauthorized("Sign in first"))?;
            authenticate(&state, &token).await
        })
    }
}

/// The caller when a valid token is sent, `None` otherwise (no token, or an expired one: a public
/// page stays readable to a client whose session ran out): for public routes that show admins more.
#[derive(Debug, Clone)]
pub struct MaybeSignedIn(pub Option<SignedIn>);

impl MaybeSignedIn {
    pub fn is_admin(&self) -> bool {
        self.0.as_ref().is_some_and(|user| user.role.is_admin())
    }
}

impl FromRequest for MaybeSignedIn {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        if bearer(req).is_none() {
            return Box::pin(async { Ok(MaybeSignedIn(None)) });
        }
        let signed_in = SignedIn::from_request(req, payload);
        Box::pin(async move { Ok(MaybeSignedIn(signed_in.await.ok())) })
    }
}

impl FromRequest for Admin {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let signed_in = SignedIn::from_request(req, payload);
        Box::pin(async move {
            let user = signed_in.await?;
            if !user.role.is_admin() {
                return Err(AppError::forbidden("Admins only"));
            }
            Ok(Admin(user))
        })
    }
}
