//! What `hub serve` and `hub worker` refuse to run with. Outside an explicit
//! `HUB_ENV=development`, a secret must be set, at least 32 bytes and not one of the repository's;
//! in production every setting that only makes sense on a laptop is refused.

use super::{ConfigError, Settings};

const MIN_SECRET_BYTES: usize = 32;

const SECRET_KEYS: [&str; 2] = ["auth.jwt_secret", "auth.refresh_secret"];

/// The file of the repository that publishes `secret`, if one does.
fn published_in(secret: &str) -> Option<&'static str> {
    // The repository's files are public, and so is any secret they hold.
    super::BUILT_IN.iter().find_map(|(name, text)| {
        let parsed = config::Config::builder()
            .add_source(config::File::from_str(text, config::FileFormat::Toml))
            .build()
            .ok()?;
        SECRET_KEYS
            .iter()
            .any(|key| parsed.get_string(key).ok().as_deref() == Some(secret))
            .then_some(*name)
    })
}

fn environment_variable(key: &str) -> String {
    format!("HUB__{}", key.replace('.', "__").to_uppercase())
}

fn secret_problems(settings: &Settings, problems: &mut Vec<String>) {
    let explicit_development =
        settings.environment == "development" && settings.environment_explicit;
    for (key, value) in [
        (SECRET_KEYS[0], &settings.auth.jwt_secret),
        (SECRET_KEYS[1], &settings.auth.refresh_secret),
    ] {
        let variable = environment_variable(key);
        if value.is_empty() {
            problems.push(format!("{key} is not set: set {variable}"));
        } else if explicit_development {
            continue;
        } else if let Some(file) = published_in(value) {
            problems.push(format!(
                "{key} is the public one from config/{file}.toml: set your own in {variable} \
                 (HUB_ENV=development allows it, on your machine only)"
            ));
        } else if value.len() < MIN_SECRET_BYTES {
            problems.push(format!(
                "{key} is {} bytes; it must be at least {MIN_SECRET_BYTES} (e.g. `openssl rand -base64 48`)",
                value.len()
            ));
        }
    }
}

/// The host of an `http(s)://host[:port]/…` URL, without brackets.
fn url_host(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let authority = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    match authority.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next().unwrap_or(""),
        None => authority.split(':').next().unwrap_or(""),
    }
}

fn is_local_host(host: &str) -> bool {
    let host = host.to_ascii_lowercase();
    host.is_empty()
        || host == "localhost"
        || host.ends_with(".localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback() || ip.is_unspecified())
}

fn production_problems(settings: &Settings, problems: &mut Vec<String>) {
    if settings
        .server
        .cors_origins
        .iter()
        .any(|origin| origin == "*")
    {
        problems.push(
            "server.cors_origins allows every origin (\"*\"): list the dashboard's origins".into(),
        );
    }
    if !settings.checker.require_key && !settings.checker.allow_open {
        problems.push(
            "checker.require_key is false: the checker routes would be open to anyone; \
             set checker.allow_open = true as well if that is really meant"
                .into(),
        );
    }
    if !settings.rate_limit.enabled {
        problems.push("rate_limit.enabled is false: password guessing would be unlimited".into());
    }
    if settings.auth.bcrypt_cost < 10 {
        problems.push(format!(
            "auth.bcrypt_cost is {}; production needs at least 10",
            settings.auth.bcrypt_cost
        ));
    }
    if is_local_host(url_host(&settings.server.public_url)) {
        problems.push(format!(
            "server.public_url is {:?}: mailed links would point at the reader's own machine",
            settings.server.public_url
        ));
    }
    let metrics_token = settings.metrics.token.len();
    if metrics_token > 0 && metrics_token < MIN_SECRET_BYTES {
        problems.push(format!(
            "metrics.token is {metrics_token} bytes; it must be at least {MIN_SECRET_BYTES}"
        ));
    }
    if settings.smtp.host.trim().is_empty() {
        problems.push(
            "smtp.host is not set: verification and reset links would only be written to files"
                .into(),
        );
    }
}

/// Refuses the settings `hub serve` or `hub worker` must not run with, naming every key at fault.
pub fn refuse_unsafe(settings: &Settings) -> Result<(), ConfigError> {
    let mut problems = Vec::new();
    secret_problems(settings, &mut problems);
    if settings.has_production_rules() {
        production_problems(settings, &mut problems);
    }
    if problems.is_empty() {
        if settings.has_production_rules() && settings.metrics.token.is_empty() {
            tracing::warn!(
                "metrics.token is not set: /metrics answers anyone who reaches this process; \
                 set HUB__METRICS__TOKEN or keep /metrics off the public proxy"
            );
        }
        if settings.has_production_rules() && !settings.checker.require_key {
            tracing::warn!(
                "checker.require_key = false and checker.allow_open = true: ANYONE can read the \
                 domain list and post scan results on /api/urls and /api/urls/update"
            );
        }
        return Ok(());
    }
    Err(ConfigError::Invalid(format!(
        "refusing to run (HUB_ENV={}):\n  - {}",
        settings.environment,
        problems.join("\n  - ")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_read_from_urls() {
        assert_eq!(url_host("http://localhost:8080"), "localhost");
        assert_eq!(url_host("https://hub.example.com/x"), "hub.example.com");
        assert_eq!(url_host("https://[::1]:8443"), "::1");
        assert!(is_local_host("127.0.0.1"));
        assert!(is_local_host("::1"));
        assert!(is_local_host("app.localhost"));
        assert!(!is_local_host("hub.example.com"));
    }

    #[test]
    fn the_development_secrets_are_known_to_be_public() {
        assert_eq!(
            published_in("development-only-access-secret-change-me"),
            Some("development")
        );
        assert_eq!(
            published_in("a secret of our own, long enough to pass"),
            None
        );
    }
}
