//! Layered configuration: `config/default.toml`, then `config/$HUB_ENV.toml`, then `HUB__SECTION__KEY`
//! environment variables, then the platform's usual `PORT`, `DATABASE_URL` and `REDIS_URL`.

mod cidr;
mod safety;
mod units;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

pub use cidr::{canonical, Cidr};
pub use safety::refuse_unsafe;
use units::{duration, duration_opt};
pub use units::{ByteSize, OpeningHours, RateSpec};

#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    #[serde(skip)]
    pub environment: String,
    /// Whether `HUB_ENV` named the environment (unset means development, with fewer freedoms).
    #[serde(skip)]
    pub environment_explicit: bool,
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub redis: RedisSettings,
    pub auth: AuthSettings,
    pub smtp: SmtpSettings,
    pub mail: MailSettings,
    pub rate_limit: RateLimitSettings,
    pub checker: CheckerSettings,
    pub realtime: RealtimeSettings,
    pub booking: BookingSettings,
    pub cache: CacheSettings,
    pub worker: WorkerSettings,
    pub dev: DevSettings,
    pub log: LogSettings,
    pub metrics: MetricsSettings,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ServerSettings {
    pub host: String,
    pub port: u16,
    pub public_url: String,
    pub cors_origins: Vec<String>,
    pub body_limit: ByteSize,
    pub workers: usize,
    /// On SIGTERM, how long in-flight requests may take before the process exits anyway.
    #[serde(with = "duration")]
    pub shutdown_timeout: Duration,
    /// On SIGTERM, how long `/ready` answers 503 with the listener still open, so that a balancer
    /// polling it stops sending work before connections are refused.
    #[serde(with = "duration")]
    pub drain_delay: Duration,
    /// Proxies whose `X-Forwarded-For` / `-Proto` are believed.
    pub trusted_proxies: Vec<Cidr>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DatabaseSettings {
    pub url: String,
    pub pool_size: usize,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RedisSettings {
    pub url: String,
    pub namespace: String,
    #[serde(with = "duration")]
    pub response_timeout: Duration,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AuthSettings {
    pub jwt_secret: String,
    pub refresh_secret: String,
    #[serde(with = "duration")]
    pub access_ttl: Duration,
    #[serde(with = "duration")]
    pub refresh_ttl: Duration,
    pub bcrypt_cost: u32,
    pub max_failed_logins: u32,
    #[serde(with = "duration")]
    pub lockout: Duration,
    #[serde(with = "duration")]
    pub max_lockout: Duration,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub username: String,
    pub password: String,
    pub tls: SmtpTls,
    pub from: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    None,
    Starttls,
    Tls,
}

#[derive(Debug, Clone, Deserialize)]
pub struct MailSettings {
    pub dir: PathBuf,
    pub max_attempts: i32,
    /// How long a worker holds a mail while sending it; a worker that dies mid-send releases it then.
    #[serde(with = "duration")]
    pub lease: Duration,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RateLimitSettings {
    pub enabled: bool,
    pub auth: RateSpec,
    pub api: RateSpec,
    pub checker: RateSpec,
    pub socket: RateSpec,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CheckerSettings {
    pub require_key: bool,
    /// Production refuses `require_key = false` unless this says it is meant.
    pub allow_open: bool,
    /// A scan batch held by a worker longer than this is taken to be lost and is queued again.
    #[serde(with = "duration")]
    pub batch_lease: Duration,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RealtimeSettings {
    pub history: usize,
    #[serde(with = "duration")]
    pub ping_interval: Duration,
    #[serde(with = "duration")]
    pub client_timeout: Duration,
    pub max_pending: usize,
    pub max_sessions_per_user: usize,
    /// How often the event relay polls the outbox, and how soon a standby takes over.
    #[serde(with = "duration")]
    pub relay_interval: Duration,
}

#[derive(Debug, Clone, Deserialize)]
pub struct BookingSettings {
    #[serde(with = "duration")]
    pub reservation_ttl: Duration,
    /// How a booking's `date` and `time` are read (an IANA name).
    pub timezone: chrono_tz::Tz,
    /// When appointments may start and end, every day: `"09:00-18:00"`.
    pub opening_hours: OpeningHours,
    pub slot_minutes: u32,
    pub currency: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CacheSettings {
    /// How long a cached catalogue read lives (every catalogue write invalidates it at once).
    #[serde(with = "duration")]
    pub ttl: Duration,
}

#[derive(Debug, Clone, Deserialize)]
pub struct WorkerSettings {
    #[serde(with = "duration")]
    pub poll_interval: Duration,
    #[serde(with = "duration")]
    pub heartbeat_interval: Duration,
    pub missed_heartbeats: usize,
    pub concurrency: usize,
    #[serde(with = "duration")]
    pub sweep_interval: Duration,
    #[serde(with = "duration_opt", default)]
    pub vacuum_interval: Option<Duration>,
    /// How often stale rows (old throttles, tokens and sent mails) are deleted.
    #[serde(with = "duration_opt", default)]
    pub prune_interval: Option<Duration>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DevSettings {
    pub data_dir: PathBuf,
    pub postgres_port: u16,
    pub redis_port: u16,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LogSettings {
    pub filter: String,
    pub format: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct MetricsSettings {
    /// When not empty, `/metrics` answers only to `Authorization: Bearer <token>`.
    pub token: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Load(#[from] config::ConfigError),
    #[error("configuration: {0}")]
    Invalid(String),
}

/// The repository's configuration files, built into the binary so that it runs from any directory:
/// `default` holds every key, the others overlay it for their environment.
pub const BUILT_IN: [(&str, &str); 5] = [
    ("default", include_str!("../../config/default.toml")),
    ("development", include_str!("../../config/development.toml")),
    ("test", include_str!("../../config/test.toml")),
    ("staging", include_str!("../../config/staging.toml")),
    ("production", include_str!("../../config/production.toml")),
];

fn built_in(name: &str) -> Option<&'static str> {
    BUILT_IN
        .iter()
        .find_map(|(file, text)| (*file == name).then_some(*text))
}

impl Settings {
    /// Loads for `$HUB_ENV` (default `development`): the built-in files, then the files of
    /// `$HUB_CONFIG_DIR` (default `./config`) where there are any, then the environment.
    pub fn load() -> Result<Self, ConfigError> {
        let dir = match std::env::var("HUB_CONFIG_DIR") {
            Ok(dir) if !Path::new(&dir).is_dir() => {
                return Err(ConfigError::Invalid(format!(
                    "HUB_CONFIG_DIR={dir} is not a directory"
                )))
            }
            Ok(dir) => dir,
            Err(_) => "config".into(),
        };
        let explicit = std::env::var("HUB_ENV")
            .ok()
            .filter(|name| !name.is_empty());
        let environment = explicit.clone().unwrap_or_else(|| "development".into());
        let mut settings = Self::load_from(Path::new(&dir), &environment)?;
        settings.environment_explicit = explicit.is_some();
        Ok(settings)
    }

    /// As [`Settings::load`], with the overlay files of `dir` and the given environment.
    pub fn load_from(dir: &Path, environment: &str) -> Result<Self, ConfigError> {
        let toml = |text: &str| config::File::from_str(text, config::FileFormat::Toml);
        // Defaults, then the environment's overlay, each built in and then from disk: a full
        // `default.toml` on disk does not undo the built-in production overlay.
        let mut builder = config::Config::builder()
            .add_source(toml(built_in("default").unwrap_or("")))
            .add_source(config::File::from(dir.join("default.toml")).required(false));
        if let Some(overlay) = built_in(environment) {
            builder = builder.add_source(toml(overlay));
        }
        let mut builder = builder
            .add_source(config::File::from(dir.join(format!("{environment}.toml"))).required(false))
            .add_source(
                config::Environment::with_prefix("HUB")
                    .prefix_separator("__")
                    .separator("__")
                    .list_separator(",")
                    .with_list_parse_key("server.cors_origins")
                    .with_list_parse_key("server.trusted_proxies")
                    .try_parsing(true),
            );
        for (variable, key) in [
            ("PORT", "server.port"),
            ("DATABASE_URL", "database.url"),
            ("REDIS_URL", "redis.url"),
        ] {
            if let Ok(value) = std::env::var(variable) {
                builder = builder.set_override(key, value)?;
            }
        }
        let mut settings: Settings = builder.build()?.try_deserialize()?;
        settings.environment = environment.to_owned();
        settings.environment_explicit = true;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if !self.auth.jwt_secret.is_empty() && self.auth.jwt_secret == self.auth.refresh_secret {
            return Err(ConfigError::Invalid(
                "auth.jwt_secret and auth.refresh_secret must differ".into(),
            ));
        }
        if !(4..=31).contains(&self.auth.bcrypt_cost) {
            return Err(ConfigError::Invalid(
                "auth.bcrypt_cost must be 4 to 31".into(),
            ));
        }
        if !(5..=240).contains(&self.booking.slot_minutes) {
            return Err(ConfigError::Invalid(
                "booking.slot_minutes must be 5 to 240".into(),
            ));
        }
        if self.realtime.history == 0
            || self.realtime.max_pending == 0
            || self.realtime.max_sessions_per_user == 0
        {
            return Err(ConfigError::Invalid(
                "realtime.history, realtime.max_pending and realtime.max_sessions_per_user must be positive".into(),
            ));
        }
        Ok(())
    }

    pub fn is_production(&self) -> bool {
        self.environment == "production"
    }

    /// Every environment but development and test (production, staging, or any other name): no
    /// laptop settings.
    pub fn has_production_rules(&self) -> bool {
        !matches!(self.environment.as_str(), "development" | "test")
    }
}
