//! The subcommands other than `dev`, each on the runtime it needs.

use anyhow::{bail, Context};

use crate::config::Settings;

fn require_services(settings: &Settings) -> anyhow::Result<()> {
    if settings.database.url.is_empty() {
        bail!("database.url is not set (DATABASE_URL): `hub dev` starts a private PostgreSQL");
    }
    if settings.redis.url.is_empty() {
        bail!("redis.url is not set (REDIS_URL): `hub dev` starts a private Redis");
    }
    Ok(())
}

fn tokio_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// Raises this process's open-file limit to its hard limit: every WebSocket session is a socket.
pub fn raise_open_file_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    if let Ok((_, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        if let Err(error) = setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
            tracing::warn!(%error, "raising the open-file limit");
        }
    }
}

pub fn serve(settings: Settings) -> anyhow::Result<()> {
    crate::config::refuse_unsafe(&settings)?;
    require_services(&settings)?;
    raise_open_file_limit();
    actix_web::rt::System::new().block_on(async move {
        let mut signals = crate::context::StopSignals::install()?;
        let app = tokio::select! {
            app = crate::startup::Application::build(settings) => app?,
            _ = signals.next() => {
                tracing::info!("stopped before serving");
                return Ok(());
            }
        };
        tracing::info!(port = app.port(), "serving");
        app.run_until_signalled(signals).await?;
        tracing::info!("stopped");
        Ok(())
    })
}

pub fn worker(settings: Settings) -> anyhow::Result<()> {
    crate::config::refuse_unsafe(&settings)?;
    require_services(&settings)?;
    tokio_runtime()?.block_on(crate::worker::run(settings))
}

pub fn migrate(settings: Settings) -> anyhow::Result<()> {
    require_services(&settings)?;
    tokio_runtime()?.block_on(async move {
        let pool = crate::db::connect(&settings.database.url, 1)?;
        let mut client = pool.get().await.context("connecting to PostgreSQL")?;
        let applied = crate::db::migrate(&mut client).await?;
        println!("{} migration(s) applied", applied.len());
        Ok(())
    })
}

pub fn create_user(
    settings: Settings,
    email: &str,
    password: &str,
    name: &str,
    role: &str,
) -> anyhow::Result<()> {
    require_services(&settings)?;
    tokio_runtime()?.block_on(async move {
        let pool = crate::db::connect(&settings.database.url, 1)?;
        let mut client = pool.get().await.context("connecting to PostgreSQL")?;
        crate::db::migrate(&mut client).await?;
        let user =
            crate::users::create_verified(&mut client, &settings.auth, email, password, name, role)
                .await
                .map_err(|error| {
                    let fields: Vec<String> = error
                        .errors
                        .iter()
                        .map(|field| format!("{}: {}", field.field, field.message))
                        .collect();
                    anyhow::anyhow!("{} {}", error.message, fields.join("; "))
                })?;
        println!(
            "created {} {} ({})",
            user.role.as_str(),
            user.email,
            user.id
        );
        Ok(())
    })
}
