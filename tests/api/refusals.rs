//! What `hub serve` and `hub worker` refuse to start with: public or short secrets outside an
//! explicit `HUB_ENV=development`, and laptop settings in production.

use std::process::Output;

use crate::helpers::config_dir;

const OWN_SECRET: &str = "an access secret of our own, long enough: 0123456789";
const OWN_REFRESH: &str = "a refresh secret of our own, long enough: 0123456789";

/// Runs `hub <command>` with only `env` (and the repository's configuration files).
async fn hub(command: &str, env: &[(&str, &str)]) -> Output {
    let mut process = tokio::process::Command::new(env!("CARGO_BIN_EXE_hub"));
    process
        .arg(command)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HUB_CONFIG_DIR", config_dir())
        .env("HUB__LOG__FILTER", "warn");
    for (key, value) in env {
        process.env(key, value);
    }
    process.output().await.expect("running hub")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Production settings that pass every rule; each test breaks one.
fn production() -> Vec<(&'static str, &'static str)> {
    vec![
        ("HUB_ENV", "production"),
        ("HUB__AUTH__JWT_SECRET", OWN_SECRET),
        ("HUB__AUTH__REFRESH_SECRET", OWN_REFRESH),
        ("HUB__SERVER__PUBLIC_URL", "https://hub.example.com"),
        ("HUB__SMTP__HOST", "smtp.example.com"),
    ]
}

#[actix_web::test]
async fn without_hub_env_the_public_development_secrets_are_refused() {
    for command in ["serve", "worker"] {
        let output = hub(command, &[]).await;
        assert!(!output.status.success());
        let text = stderr(&output);
        assert!(
            text.contains("auth.jwt_secret is the public one from config/development.toml"),
            "{text}"
        );
        assert!(text.contains("auth.refresh_secret"), "{text}");
        assert!(text.contains("HUB__AUTH__JWT_SECRET"), "{text}");
    }
}

#[actix_web::test]
async fn an_explicit_development_environment_may_use_them() {
    let output = hub("serve", &[("HUB_ENV", "development")]).await;
    assert!(!output.status.success(), "no database is configured");
    let text = stderr(&output);
    assert!(!text.contains("refusing"), "{text}");
    assert!(text.contains("database.url is not set"), "{text}");
}

#[actix_web::test]
async fn short_or_missing_secrets_are_refused_in_any_other_environment() {
    let short = hub(
        "serve",
        &[
            ("HUB_ENV", "test"),
            ("HUB__AUTH__JWT_SECRET", "x"),
            ("HUB__AUTH__REFRESH_SECRET", OWN_REFRESH),
        ],
    )
    .await;
    let text = stderr(&short);
    assert!(!short.status.success());
    assert!(
        text.contains("auth.jwt_secret is 1 bytes; it must be at least 32"),
        "{text}"
    );
    assert!(!text.contains("auth.refresh_secret"), "{text}");

    let missing = hub("worker", &[("HUB_ENV", "production")]).await;
    let text = stderr(&missing);
    assert!(!missing.status.success());
    assert!(
        text.contains("auth.jwt_secret is not set: set HUB__AUTH__JWT_SECRET"),
        "{text}"
    );
    assert!(text.contains("auth.refresh_secret is not set"), "{text}");
}

#[actix_web::test]
async fn production_refuses_laptop_settings_naming_each_key() {
    let cases = [
        ("HUB__SERVER__CORS_ORIGINS", "*", "server.cors_origins"),
        ("HUB__CHECKER__REQUIRE_KEY", "false", "checker.require_key"),
        ("HUB__RATE_LIMIT__ENABLED", "false", "rate_limit.enabled"),
        ("HUB__AUTH__BCRYPT_COST", "4", "auth.bcrypt_cost"),
        (
            "HUB__SERVER__PUBLIC_URL",
            "http://127.0.0.1:8080",
            "server.public_url",
        ),
        ("HUB__SMTP__HOST", "", "smtp.host"),
    ];
    for (variable, value, key) in cases {
        let mut env = production();
        env.retain(|(name, _)| *name != variable);
        env.push((variable, value));
        let output = hub("serve", &env).await;
        let text = stderr(&output);
        assert!(!output.status.success(), "{variable}={value}");
        assert!(
            text.contains("refusing to run (HUB_ENV=production)"),
            "{text}"
        );
        assert!(text.contains(key), "{variable}={value}: {text}");
        assert_eq!(
            text.matches("\n  - ").count(),
            1,
            "only {key} is at fault: {text}"
        );
    }
}

#[actix_web::test]
async fn every_environment_but_development_and_test_keeps_the_production_rules() {
    for environment in ["staging", "prod"] {
        let mut env = production();
        env.retain(|(name, _)| *name != "HUB_ENV" && *name != "HUB__SMTP__HOST");
        env.push(("HUB_ENV", environment));
        env.push(("HUB__METRICS__TOKEN", "short"));
        let output = hub("worker", &env).await;
        let text = stderr(&output);
        assert!(!output.status.success());
        assert!(
            text.contains(&format!("refusing to run (HUB_ENV={environment})")),
            "{text}"
        );
        assert!(text.contains("smtp.host"), "{text}");
        assert!(text.contains("metrics.token is 5 bytes"), "{text}");
    }
}

#[actix_web::test]
async fn production_runs_the_checker_routes_open_only_when_told_twice_and_says_so() {
    let mut env = production();
    env.push(("HUB__CHECKER__REQUIRE_KEY", "false"));
    env.push(("HUB__CHECKER__ALLOW_OPEN", "true"));
    let output = hub("serve", &env).await;
    let text = String::from_utf8_lossy(&output.stdout).into_owned() + &stderr(&output);
    assert!(!text.contains("refusing"), "{text}");
    assert!(text.contains("ANYONE can read the domain list"), "{text}");
    assert!(text.contains("database.url is not set"), "{text}");
}
