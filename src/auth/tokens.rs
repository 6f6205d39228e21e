//! HS256 JWTs: access tokens (`typ: access`, with the user's token version `ver`) and refresh
//! tokens (`typ: refresh`, kept server-side by `jti`). The algorithm is pinned and the type checked,
//! so neither kind passes for the other.

use chrono::Utc;
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::config::AuthSettings;
use crate::error::{AppError, AppResult};
use crate::users::types::Role;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenType {
    Access,
    Refresh,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: Uuid,
    pub role: Role,
    pub typ: TokenType,
    pub iat: i64,
    pub exp: i64,
    pub jti: Uuid,
    pub ver: i32,
    /// The session (refresh-token family) the token belongs to: signing out ends it, and with it
    /// the access tokens issued for it.
    #[serde(default)]
    pub sid: Option<Uuid>,
}

pub struct Issued {
    pub token: String,
    pub jti: Uuid,
    pub expires_at: chrono::DateTime<Utc>,
}

fn secret(auth: &AuthSettings, typ: TokenType) -> &[u8] {
    match typ {
        TokenType::Access => auth.jwt_secret.as_bytes(),
        TokenType::Refresh => auth.refresh_secret.as_bytes(),
    }
}

pub fn issue(
    auth: &AuthSettings,
    typ: TokenType,
    user: Uuid,
    role: Role,
    version: i32,
    session: Uuid,
) -> AppResult<Issued> {
    let now = Utc::now();
    let ttl = match typ {
        TokenType::Access => auth.access_ttl,
        TokenType::Refresh => auth.refresh_ttl,
    };
    let expires_at = now + chrono::Duration::from_std(ttl).map_err(AppError::internal)?;
    let claims = Claims {
        sub: user,
        role,
        typ,
        iat: now.timestamp(),
        exp: expires_at.timestamp(),
        jti: Uuid::new_v4(),
        ver: version,
        sid: Some(session),
    };
    let token = encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret(auth, typ)),
    )
    .map_err(AppError::internal)?;
    Ok(Issued {
        token,
        jti: claims.jti,
        expires_at,
    })
}

/// The claims of a valid, unexpired token of type `typ`; `None` for anything else.
pub fn verify(auth: &AuthSettings, typ: TokenType, token: &str) -> Option<Claims> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.leeway = 0;
    validation.set_required_spec_claims(&["exp", "sub", "iat"]);
    let data = decode::<Claims>(
        token,
        &DecodingKey::from_secret(secret(auth, typ)),
        &validation,
    )
    .ok()?;
    (data.claims.typ == typ).then_some(data.claims)
}
