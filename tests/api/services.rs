//! The PostgreSQL and Redis the tests run against: `DATABASE_URL`/`REDIS_URL` when given, else
//! private servers under `target/tmp/hub-services`, started once and reused by later runs. Every
//! test gets a database copied from a migrated template, and a Redis key namespace of its own.

use std::fs::File;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nix::fcntl::{Flock, FlockArg};
use sha2::{Digest, Sha256};
use tokio_postgres::NoTls;

pub struct Services {
    /// A URL of the server with `{db}` where the database name goes.
    pub postgres_url: String,
    pub redis_url: String,
    pub template: String,
}

static SERVICES: OnceLock<Services> = OnceLock::new();

pub fn services() -> &'static Services {
    SERVICES.get_or_init(|| {
        std::thread::spawn(start)
            .join()
            .expect("starting the test services panicked")
    })
}

fn start() -> Services {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("hub-services");
    std::fs::create_dir_all(&dir).expect("creating the services directory");
    let lock_file = File::create(dir.join(".lock")).expect("creating the lock file");
    let _lock = Flock::lock(lock_file, FlockArg::LockExclusive).expect("locking the services");
    let embedded = hub::embedded::Embedded::new(&dir);
    let postgres_url = match std::env::var("DATABASE_URL") {
        Ok(url) => with_placeholder(&url),
        Err(_) => {
            let service = embedded
                .postgres(0, true)
                .expect("starting PostgreSQL for the tests (scripts/install-deps installs it)");
            format!("postgres://postgres@127.0.0.1:{}/{{db}}", service.port)
        }
    };
    let redis_url = match std::env::var("REDIS_URL") {
        Ok(url) => url,
        Err(_) => {
            let service = embedded
                .redis(0)
                .expect("starting Redis for the tests (scripts/install-deps installs it)");
            format!("redis://127.0.0.1:{}/", service.port)
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let template = runtime.block_on(prepare_template(&postgres_url));
    Services {
        postgres_url,
        redis_url,
        template,
    }
}

fn with_placeholder(url: &str) -> String {
    match url.rsplit_once('/') {
        Some((base, tail)) => match tail.split_once('?') {
            Some((_, query)) => format!("{base}/{{db}}?{query}"),
            None => format!("{base}/{{db}}"),
        },
        None => format!("{url}/{{db}}"),
    }
}

async fn admin(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(&url.replace("{db}", "postgres"), NoTls)
        .await
        .expect("connecting to PostgreSQL");
    tokio::spawn(connection);
    client
}

/// A template named after the migrations' text, so a changed migration gets a fresh one; built
/// under another name and renamed, so no copy ever sees it half-migrated.
async fn prepare_template(url: &str) -> String {
    let mut digest = Sha256::new();
    for migration in hub::db::MIGRATIONS {
        digest.update(migration.sql.as_bytes());
    }
    let template = format!("hub_tpl_{}", &hex::encode(digest.finalize())[..16]);
    let client = admin(url).await;
    drop_stale_test_databases(&client).await;
    let exists = client
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&template])
        .await
        .expect("listing databases")
        .is_some();
    if !exists {
        let building = format!("{template}_building");
        for statement in [
            format!("DROP DATABASE IF EXISTS {building}"),
            format!("CREATE DATABASE {building}"),
        ] {
            client
                .batch_execute(&statement)
                .await
                .expect("creating the template");
        }
        {
            let (mut template_client, connection) =
                tokio_postgres::connect(&url.replace("{db}", &building), NoTls)
                    .await
                    .expect("connecting to the template");
            let handle = tokio::spawn(connection);
            hub::db::migrate(&mut template_client)
                .await
                .expect("migrating the template");
            drop(template_client);
            let _ = handle.await;
        }
        client
            .batch_execute(&format!("ALTER DATABASE {building} RENAME TO {template}"))
            .await
            .expect("naming the template");
    }
    template
}

/// Test databases are named `hub_t_<unix seconds>_<random>`; those over two hours old are from
/// finished runs.
async fn drop_stale_test_databases(client: &tokio_postgres::Client) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let rows = client
        .query(
            "SELECT datname FROM pg_database WHERE datname LIKE 'hub_t_%'",
            &[],
        )
        .await
        .unwrap_or_default();
    for row in rows {
        let name: String = row.get(0);
        let created = name
            .split('_')
            .nth(2)
            .and_then(|stamp| stamp.parse::<u64>().ok())
            .unwrap_or(now);
        if now.saturating_sub(created) > 7200 {
            let _ = client
                .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await;
        }
    }
}

/// A fresh database for one test; returns its URL.
pub async fn fresh_database() -> String {
    let services = services();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let name = format!("hub_t_{now}_{}", uuid::Uuid::new_v4().simple());
    let client = admin(&services.postgres_url).await;
    let mut wait = Duration::from_millis(50);
    for _ in 0..20 {
        match client
            .batch_execute(&format!(
                "CREATE DATABASE {name} TEMPLATE {}",
                services.template
            ))
            .await
        {
            Ok(()) => return services.postgres_url.replace("{db}", &name),
            // Another test's copy of the same template is under way.
            Err(_) => {
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_millis(500));
            }
        }
    }
    panic!(
        "could not create a test database from {}",
        services.template
    );
}
