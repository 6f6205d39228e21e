//! Domain names as the dashboard keeps them: what a person pastes (`https://Example.COM:443/x`)
//! becomes `example.com`; internationalised names are kept in their ASCII (punycode) form.

use std::fmt;

use utoipa::openapi::schema::{Object, ObjectBuilder, SchemaType, Type};

use crate::error::AppError;

/// The names [`DomainName::parse`] takes, as a schema: letters, digits and `-` in labels of 1 to 63
/// characters, at least two labels, a top-level label that is not all digits, 253 characters at
/// most. (A pasted URL's host is taken as well, and a name in Unicode is kept in punycode.)
pub fn schema() -> Object {
    schema_of(SchemaType::Type(Type::String))
}

/// As [`schema`], or `null`.
pub fn nullable_schema() -> Object {
    schema_of(SchemaType::from_iter([Type::String, Type::Null]))
}

fn schema_of(schema_type: SchemaType) -> Object {
    ObjectBuilder::new()
        .schema_type(schema_type)
        .description(Some(
            "A domain name such as `example.com` (kept lower-case; a pasted URL's host is taken, \
             a Unicode name is kept in punycode). No pattern: the name is read leniently \
             (`https://Example.com/path`, `example.com.`) and judged by the hub, which says what \
             is wrong with one it refuses",
        ))
        .build()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainName(String);

impl DomainName {
    /// Normalises and validates; the error says what is wrong, in words a user can act on.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let mut name = raw.trim();
        if let Some((_, rest)) = name.split_once("://") {
            name = rest;
        }
        name = name.split(['/', '?', '#']).next().unwrap_or_default();
        if let Some((_, host)) = name.rsplit_once('@') {
            name = host;
        }
        if let Some((host, port)) = name.rsplit_once(':') {
            if !port.chars().all(|c| c.is_ascii_digit()) {
                return Err("A domain name cannot contain ':'".into());
            }
            name = host;
        }
        let name = name.trim_end_matches('.');
        if name.is_empty() {
            return Err("A domain name is required".into());
        }
        let ascii = idna::domain_to_ascii(name)
            .map_err(|_| format!("'{name}' is not a valid domain name"))?;
        Self::validate(&ascii)?;
        Ok(DomainName(ascii))
    }

    fn validate(name: &str) -> Result<(), String> {
        if name.len() > 253 {
            return Err("A domain name has at most 253 characters".into());
        }
        let labels: Vec<&str> = name.split('.').collect();
        if labels.len() < 2 {
            return Err(format!(
                "'{name}' needs a top-level domain, like example.com"
            ));
        }
        for label in &labels {
            let valid_chars = label
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
            if label.is_empty()
                || label.len() > 63
                || !valid_chars
                || label.starts_with('-')
                || label.ends_with('-')
            {
                return Err(format!("'{name}' is not a valid domain name"));
            }
        }
        let top = labels.last().copied().unwrap_or_default();
        if top.chars().all(|c| c.is_ascii_digit()) {
            return Err(format!("'{name}' is an address, not a domain name"));
        }
        Ok(())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }

    /// As [`parse`](Self::parse), the error addressed to `field`.
    pub fn parse_field(raw: &str, field: &str) -> Result<Self, AppError> {
        Self::parse(raw).map_err(|message| AppError::invalid(field, message))
    }
}

impl fmt::Display for DomainName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::DomainName;

    fn parsed(raw: &str) -> String {
        DomainName::parse(raw).unwrap().into_string()
    }

    #[test]
    fn pasted_urls_become_names() {
        assert_eq!(parsed("Example.COM"), "example.com");
        assert_eq!(
            parsed("  https://www.Example.com:8443/path?q=1#x "),
            "www.example.com"
        );
        assert_eq!(parsed("http://user:pw@example.com/"), "example.com");
        assert_eq!(parsed("example.com."), "example.com");
        assert_eq!(parsed("münchen.de"), "xn--mnchen-3ya.de");
        assert_eq!(parsed("xn--mnchen-3ya.de"), "xn--mnchen-3ya.de");
    }

    #[test]
    fn non_names_are_refused() {
        for raw in [
            "",
            " ",
            "localhost",
            "exa mple.com",
            "-bad.com",
            "bad-.com",
            "a..com",
            "1.2.3.4",
            "under_score.com",
            "example.com:abc",
            "http://",
        ] {
            assert!(DomainName::parse(raw).is_err(), "{raw:?} was accepted");
        }
        assert!(DomainName::parse(&format!("{}.com", "a".repeat(64))).is_err());
    }
}
