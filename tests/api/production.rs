//! The binary as production starts it: from any directory, configured by the environment alone,
//! and before its database is up.

use std::process::Stdio;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};

use crate::helpers::{free_port, prepared_settings, random_secret};

/// The binary under test: `HUB_RELEASE_BINARY` when CI built one (`.ci/run`), else this build's.
fn hub_binary() -> String {
    std::env::var("HUB_RELEASE_BINARY").unwrap_or_else(|_| env!("CARGO_BIN_EXE_hub").to_owned())
}

/// `hub serve` in an empty directory with nothing but `database_url`, Redis and secrets (and
/// PATH) in its environment.
fn bare_serve(
    database_url: &str,
    redis_url: &str,
    namespace: &str,
    port: u16,
    extra: &[(&str, &str)],
) -> Child {
    let empty = std::env::temp_dir().join(format!("hub-empty-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&empty).expect("an empty directory");
    Command::new(hub_binary())
        .arg("serve")
        .current_dir(&empty)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", database_url)
        .env("REDIS_URL", redis_url)
        .env("PORT", port.to_string())
        .env("HUB__AUTH__JWT_SECRET", random_secret())
        .env("HUB__AUTH__REFRESH_SECRET", random_secret())
        .env("HUB__REDIS__NAMESPACE", namespace)
        .env("HUB__SERVER__HOST", "127.0.0.1")
        .envs(extra.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("starting hub serve")
}

async fn status_within(url: &str, within: Duration) -> Option<u16> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Ok(response) = reqwest::get(url).await {
            return Some(response.status().as_u16());
        }
        if tokio::time::Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Unset `HUB_ENV` (development), and production, which also needs the mails' public URL and an
/// SMTP host (it refuses to write links to files): both serve.
#[actix_web::test]
async fn the_binary_serves_from_an_empty_directory_configured_by_the_environment_alone() {
    let production = [
        ("HUB_ENV", "production"),
        ("HUB__SERVER__PUBLIC_URL", "https://hub.example.com"),
        ("HUB__SMTP__HOST", "127.0.0.1"),
    ];
    for (environment, extra) in [("development", &[][..]), ("production", &production[..])] {
        let settings = prepared_settings(|_| {}).await;
        let port = free_port();
        let _hub = bare_serve(
            &settings.database.url,
            &settings.redis.url,
            &settings.redis.namespace,
            port,
            extra,
        );
        let address = format!("http://127.0.0.1:{port}");
        let health = status_within(&format!("{address}/health"), Duration::from_secs(30)).await;
        assert_eq!(
            health,
            Some(200),
            "{environment}: hub serve runs without config/"
        );
        for path in ["/ready", "/", "/api/v1/openapi.json"] {
            assert_eq!(
                status_within(&format!("{address}{path}"), Duration::from_secs(5)).await,
                Some(200),
                "{environment}: {path}"
            );
        }
    }
}

/// Accepts on `listener` and relays every connection to `upstream`: PostgreSQL "coming up".
async fn relay(listener: TcpListener, upstream: String) {
    while let Ok((mut inbound, _)) = listener.accept().await {
        let upstream = upstream.clone();
        tokio::spawn(async move {
            if let Ok(mut outbound) = TcpStream::connect(upstream).await {
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            }
        });
    }
}

#[actix_web::test]
async fn hub_serve_started_before_postgresql_waits_for_it() {
    let settings = prepared_settings(|_| {}).await;
    let real = reqwest::Url::parse(&settings.database.url).expect("a database URL");
    let upstream = format!(
        "{}:{}",
        real.host_str().expect("a host"),
        real.port().expect("a port")
    );
    let down_port = free_port();
    let mut not_yet = real.clone();
    not_yet.set_port(Some(down_port)).expect("a port");
    let port = free_port();
    let mut hub = bare_serve(
        not_yet.as_str(),
        &settings.redis.url,
        &settings.redis.namespace,
        port,
        &[],
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        hub.try_wait().expect("the process").is_none(),
        "hub serve exited while PostgreSQL was down"
    );

    let listener = TcpListener::bind(("127.0.0.1", down_port))
        .await
        .expect("PostgreSQL's port");
    tokio::spawn(relay(listener, upstream));
    let address = format!("http://127.0.0.1:{port}");
    let ready = status_within(&format!("{address}/ready"), Duration::from_secs(30)).await;
    assert_eq!(ready, Some(200), "serving once PostgreSQL answers");
}

#[actix_web::test]
async fn sigterm_closes_sockets_with_1012_lets_requests_in_flight_finish_then_exits() {
    use futures_util::StreamExt;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let app = crate::helpers::spawn_app().await;
    crate::auth::verified_user(&app, "admin@example.com", "admin").await;
    let (token, _) = crate::auth::sign_in(&app, "admin@example.com").await;
    let mut web = crate::helpers::WebProcess::start(&app.settings).await;
    let ws_url = format!("ws://127.0.0.1:{}/ws?token={token}", web.port);
    let (mut socket, _) = tokio_tungstenite::connect_async(&ws_url)
        .await
        .expect("a socket");
    let hello = socket.next().await.expect("hello").expect("a frame");
    assert!(hello.to_text().unwrap_or("").contains("hello"));

    // A request in flight: its body arrives in two parts, the second after the signal.
    let body = r#"{"email": "nobody@example.com", "password": "not the password"}"#;
    let (first, second) = body.split_at(20);
    let mut request = TcpStream::connect(("127.0.0.1", web.port))
        .await
        .expect("a connection");
    let head = format!(
        "POST /api/v1/auth/login HTTP/1.1\r\nHost: hub\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{first}",
        body.len()
    );
    request.write_all(head.as_bytes()).await.expect("writing");
    tokio::time::sleep(Duration::from_millis(200)).await;

    web.terminate();
    let close = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(Ok(message)) = socket.next().await {
            if let tokio_tungstenite::tungstenite::Message::Close(frame) = message {
                return frame.map(|frame| u16::from(frame.code));
            }
        }
        None
    })
    .await
    .expect("the socket closed within 5 s");
    assert_eq!(close, Some(1012), "service restart: reconnect elsewhere");
    let mut refused = false;
    for _ in 0..50 {
        if TcpStream::connect(("127.0.0.1", web.port)).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(refused, "no new connections once stopping");

    request
        .write_all(second.as_bytes())
        .await
        .expect("the rest of the body");
    let mut answer = vec![0; 4096];
    let read = tokio::time::timeout(Duration::from_secs(10), request.read(&mut answer))
        .await
        .expect("an answer")
        .expect("reading");
    let answer = String::from_utf8_lossy(&answer[..read]);
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    let status = web
        .exit_status(Duration::from_secs(15))
        .await
        .expect("hub serve exited");
    assert!(status.success(), "{status}");
}

#[actix_web::test]
async fn with_a_drain_delay_ready_turns_503_while_the_listener_stays_and_a_second_signal_ends_it() {
    let app = crate::helpers::spawn_app().await;
    let port = free_port();
    let mut web = crate::helpers::WebProcess::start_with(
        &app.settings,
        port,
        &[("HUB__SERVER__DRAIN_DELAY", "30s")],
    )
    .await;
    let ready = format!("{}/ready", web.address);
    assert_eq!(
        status_within(&ready, Duration::from_secs(5)).await,
        Some(200)
    );
    web.terminate();
    let mut stopping = None;
    for _ in 0..50 {
        let response = reqwest::get(&ready).await.expect("still listening");
        if response.status() == 503 {
            stopping = Some(response.json::<serde_json::Value>().await.expect("JSON"));
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stopping = stopping.expect("/ready answered 503 while draining");
    assert_eq!(stopping["status"], "stopping");
    // The work still in hand is served meanwhile.
    let health = reqwest::get(format!("{}/health", web.address))
        .await
        .expect("health");
    assert_eq!(health.status(), 200);

    web.terminate();
    let status = web
        .exit_status(Duration::from_secs(10))
        .await
        .expect("a second signal stops at once, not after the 30 s delay");
    assert!(status.success(), "{status}");
}

#[actix_web::test]
async fn a_database_that_refuses_us_is_an_error_at_once_not_a_wait() {
    let settings = prepared_settings(|_| {}).await;
    let mut url = reqwest::Url::parse(&settings.database.url).expect("a database URL");
    url.set_path("/no_such_database");
    let mut hub = bare_serve(
        url.as_str(),
        &settings.redis.url,
        &settings.redis.namespace,
        free_port(),
        &[],
    );
    let status = tokio::time::timeout(Duration::from_secs(15), hub.wait())
        .await
        .expect("hub serve gave up at once")
        .expect("its status");
    assert!(!status.success());
}

#[test]
fn a_full_default_file_on_disk_does_not_undo_the_environments_overlay() {
    let dir = std::env::temp_dir().join(format!("hub-config-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("a directory");
    std::fs::write(dir.join("default.toml"), hub::config::BUILT_IN[0].1).expect("a copy");
    let settings = hub::config::Settings::load_from(&dir, "production").expect("settings");
    assert_eq!(
        settings.log.format, "json",
        "production's overlay still applies"
    );
    std::fs::write(dir.join("production.toml"), "[log]\nformat = \"pretty\"\n").expect("a file");
    let settings = hub::config::Settings::load_from(&dir, "production").expect("settings");
    assert_eq!(
        settings.log.format, "pretty",
        "and a file on disk overlays it"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[actix_web::test]
async fn a_config_directory_named_but_missing_is_an_error_not_ignored() {
    let output = Command::new(env!("CARGO_BIN_EXE_hub"))
        .arg("migrate")
        .env("HUB_CONFIG_DIR", "/nonexistent/hub-config")
        .output()
        .await
        .expect("running hub");
    assert!(!output.status.success());
    let text = String::from_utf8_lossy(&output.stderr);
    assert!(
        text.contains("HUB_CONFIG_DIR=/nonexistent/hub-config is not a directory"),
        "{text}"
    );
}
