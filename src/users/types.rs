//! Account fields that parse rather than validate: once built, they are known good.

use std::fmt;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::AppError;

/// An email address, trimmed and lower-cased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, AppError> {
        let email = raw.trim().to_lowercase();
        let invalid = || AppError::invalid("email", "A valid email address is required");
        if raw.chars().count() > 254
            || email.len() > 254
            || email.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(invalid());
        }
        let (local, domain) = email.split_once('@').ok_or_else(invalid)?;
        let domain_ok = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && !domain.contains('@');
        if local.is_empty() || local.len() > 64 || !domain_ok {
            return Err(invalid());
        }
        Ok(Email(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A password of 8 to 72 bytes: bcrypt reads only 72, so longer ones are refused, not truncated.
pub struct Password(String);

impl Password {
    pub fn parse(raw: &str, field: &str) -> Result<Self, AppError> {
        // At least 8 characters, as users count them; at most 72 bytes, what bcrypt reads.
        if raw.chars().count() < 8 {
            return Err(AppError::invalid(
                field,
                "Password must be at least 8 characters",
            ));
        }
        if raw.len() > 72 {
            return Err(AppError::invalid(
                field,
                "Password must be at most 72 bytes",
            ));
        }
        Ok(Password(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(..)")
    }
}

/// A person's name: trimmed, 1 to 100 characters.
#[derive(Debug, Clone)]
pub struct PersonName(String);

impl PersonName {
    pub fn parse(raw: &str) -> Result<Self, AppError> {
        let name = raw.trim();
        if name.is_empty() || raw.chars().count() > 100 || name.chars().any(char::is_control) {
            return Err(AppError::invalid(
                "name",
                "Name must be 1 to 100 characters",
            ));
        }
        Ok(PersonName(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An optional phone number: digits with an optional leading `+`, spaces and dashes allowed.
pub fn parse_phone(raw: Option<&str>) -> Result<Option<String>, AppError> {
    let Some(phone) = raw.map(str::trim).filter(|p| !p.is_empty()) else {
        return Ok(None);
    };
    let digits = phone.chars().filter(char::is_ascii_digit).count();
    let allowed = phone
        .chars()
        .enumerate()
        .all(|(i, c)| c.is_ascii_digit() || c == ' ' || c == '-' || (i == 0 && c == '+'));
    if !allowed || !(6..=20).contains(&digits) {
        return Err(AppError::invalid("phone", "Phone must be 6 to 20 digits"));
    }
    Ok(Some(phone.to_owned()))
}

/// `user` < `admin` < `owner`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Admin,
    Owner,
}

impl Role {
    pub fn parse(raw: &str) -> Result<Self, AppError> {
        match raw.trim() {
            "user" => Ok(Role::User),
            "admin" => Ok(Role::Admin),
            "owner" => Ok(Role::Owner),
            _ => Err(AppError::invalid(
                "role",
                "Role must be user, admin or owner",
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Admin => "admin",
            Role::Owner => "owner",
        }
    }

    pub fn is_admin(self) -> bool {
        self >= Role::Admin
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_lowered_and_checked() {
        assert_eq!(
            Email::parse("  Ann@Example.COM ").unwrap().as_str(),
            "ann@example.com"
        );
        for bad in [
            "",
            "ann",
            "ann@",
            "@example.com",
            "ann@example",
            "a b@example.com",
            "ann@.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords_are_8_characters_to_72_bytes() {
        assert!(Password::parse("short", "password").is_err());
        // Seven characters are too few however many bytes they take (schemathesis found 7 that
        // passed as 12 bytes).
        assert!(Password::parse("ééééééé", "password").is_err());
        assert!(Password::parse("éééééééé", "password").is_ok());
        assert!(Password::parse("eightchr", "password").is_ok());
        assert!(Password::parse(&"x".repeat(72), "password").is_ok());
        assert!(Password::parse(&"x".repeat(73), "password").is_err());
        // 24 three-byte characters are 72 bytes; one more is refused.
        assert!(Password::parse(&"€".repeat(25), "password").is_err());
    }

    #[test]
    fn roles_order_and_parse() {
        assert!(Role::Owner > Role::Admin && Role::Admin > Role::User);
        assert_eq!(Role::parse("admin").unwrap(), Role::Admin);
        assert!(Role::parse("root").is_err());
    }
}
