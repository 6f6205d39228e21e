//! `hub dev`: the whole system on one machine with one command. Private PostgreSQL and Redis
//! (under `dev.data_dir`) when none is configured, migrations, then `hub serve` and `hub worker`
//! as child processes, exactly as the Procfile runs them. Ctrl-C stops it all.

use std::process::Stdio;

use anyhow::Context;
use tokio::process::{Child, Command};

use crate::config::Settings;
use crate::embedded::Embedded;

pub fn run(settings: Settings, demo: bool) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run_async(settings, demo))
}

async fn run_async(mut settings: Settings, demo: bool) -> anyhow::Result<()> {
    // Demo data and a fake checker belong on a laptop only.
    let demo = demo && settings.environment == "development";
    let embedded = Embedded::new(&settings.dev.data_dir);
    let own_postgres = settings.database.url.is_empty();
    let own_redis = settings.redis.url.is_empty();
    if own_postgres {
        let port = settings.dev.postgres_port;
        let service = tokio::task::spawn_blocking({
            let embedded = embedded.clone();
            move || embedded.postgres(port, false)
        })
        .await??;
        let admin_url = format!("postgres://postgres@127.0.0.1:{}/postgres", service.port);
        ensure_database(&admin_url, "hub").await?;
        settings.database.url = format!("postgres://postgres@127.0.0.1:{}/hub", service.port);
        tracing::info!(url = %settings.database.url, "private PostgreSQL");
    }
    if own_redis {
        let port = settings.dev.redis_port;
        let service = tokio::task::spawn_blocking({
            let embedded = embedded.clone();
            move || embedded.redis(port)
        })
        .await??;
        settings.redis.url = format!("redis://127.0.0.1:{}/", service.port);
        tracing::info!(url = %settings.redis.url, "private Redis");
    }
    let pool = crate::db::connect(&settings.database.url, 1)?;
    let mut client = pool.get().await.context("connecting to PostgreSQL")?;
    crate::db::migrate(&mut client).await?;
    let mut checker_key = None;
    if demo {
        let created = crate::domains::demo::seed_if_empty(&mut client, &settings.auth).await?;
        if let Some(owner) = created {
            println!(
                "\nA demo owner was created: sign in as {} with password {}\n(and a brand with 36 domains)",
                owner.email, owner.password
            );
        }
        if crate::booking::demo::seed_if_empty(&client).await? {
            println!(
                "A demo catalogue was added (Hair, Nails; experts Ayu and Budi): GET /api/v1/services"
            );
        }
        checker_key = crate::domains::demo::checker_key(&client).await?;
    }
    drop(client);
    drop(pool);

    let mut web = spawn_child("serve", &settings)?;
    let mut worker = spawn_child("worker", &settings)?;
    println!(
        "\nhub is running: {} (web and worker; Ctrl-C stops everything)\n",
        settings.server.public_url
    );
    if let Some(key) = checker_key {
        let base = format!("http://127.0.0.1:{}", settings.server.port);
        println!(
            "A demo checker reports a few domains every 5 s (`hub dev --no-demo` turns it off)"
        );
        tokio::spawn(crate::domains::demo::run_checker(base, key));
    }
    let reason = tokio::select! {
        _ = crate::context::shutdown_signal() => "stop signal".to_owned(),
        status = web.wait() => format!("web exited ({})", describe(status)),
        status = worker.wait() => format!("worker exited ({})", describe(status)),
    };
    tracing::info!(%reason, "stopping");
    stop_child(&mut web).await;
    stop_child(&mut worker).await;
    if own_redis {
        embedded.stop_redis()?;
    }
    if own_postgres {
        tokio::task::spawn_blocking(move || embedded.stop_postgres()).await??;
    }
    Ok(())
}

fn describe(status: std::io::Result<std::process::ExitStatus>) -> String {
    match status {
        Ok(status) => status.to_string(),
        Err(error) => error.to_string(),
    }
}

fn spawn_child(subcommand: &str, settings: &Settings) -> anyhow::Result<Child> {
    let exe = std::env::current_exe().context("locating the hub binary")?;
    Command::new(exe)
        .arg(subcommand)
        .env("DATABASE_URL", &settings.database.url)
        .env("REDIS_URL", &settings.redis.url)
        .env("HUB_ENV", &settings.environment)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting `hub {subcommand}`"))
}

async fn stop_child(child: &mut Child) {
    if let Some(pid) = child.id() {
        let pid = nix::unistd::Pid::from_raw(pid as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        if tokio::time::timeout(std::time::Duration::from_secs(10), child.wait())
            .await
            .is_ok()
        {
            return;
        }
    }
    let _ = child.kill().await;
}

/// Creates `name` on the server behind `admin_url` unless it exists.
pub async fn ensure_database(admin_url: &str, name: &str) -> anyhow::Result<()> {
    let (client, connection) = tokio_postgres::connect(admin_url, tokio_postgres::NoTls)
        .await
        .with_context(|| format!("connecting to {admin_url}"))?;
    tokio::spawn(connection);
    let exists = client
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .await?
        .is_some();
    if !exists {
        client
            .batch_execute(&format!("CREATE DATABASE \"{}\"", name.replace('"', "")))
            .await?;
    }
    Ok(())
}
