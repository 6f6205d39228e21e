//! Operations: health, readiness as PostgreSQL and Redis come and go, metrics, the CLI, the worker.

use std::process::Stdio;
use std::time::Duration;

use serde_json::json;

use crate::helpers::{json, spawn_app, spawn_app_with, spawn_app_with_smtp};

#[actix_web::test]
async fn health_answers_ok() {
    let app = spawn_app().await;
    let (status, body) = json(app.get("/health").await).await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({"status": "ok"}));
}

#[actix_web::test]
async fn ready_is_200_with_both_services_up() {
    let app = spawn_app().await;
    let (status, body) = json(app.get("/ready").await).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["checks"], json!({"postgres": "ok", "redis": "ok"}));
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn redis_server(port: u16) -> tokio::process::Child {
    tokio::process::Command::new("redis-server")
        .args([
            "--bind",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--save",
            "",
        ])
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("starting redis-server")
}

async fn wait_for_ready(app: &crate::helpers::TestApp, want: u16) -> serde_json::Value {
    let mut last = serde_json::Value::Null;
    for _ in 0..100 {
        let (status, body) = json(app.get("/ready").await).await;
        if status == want {
            return body;
        }
        last = body;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("/ready never answered {want}: {last}");
}

#[actix_web::test]
async fn ready_is_503_naming_redis_while_redis_is_down_and_recovers() {
    let port = free_port();
    let mut redis = redis_server(port);
    let app = spawn_app_with(|settings| {
        settings.redis.url = format!("redis://127.0.0.1:{port}/");
    })
    .await;
    wait_for_ready(&app, 200).await;

    redis.kill().await.unwrap();
    let body = wait_for_ready(&app, 503).await;
    assert_eq!(body["failing"], json!(["redis"]));
    assert_eq!(body["checks"]["postgres"], "ok");
    assert!(body["message"].as_str().unwrap().contains("redis"));

    let _redis = redis_server(port);
    wait_for_ready(&app, 200).await;
}

#[actix_web::test]
async fn ready_is_503_naming_postgres_when_its_database_is_gone() {
    let app = spawn_app().await;
    wait_for_ready(&app, 200).await;
    let database = app
        .settings
        .database
        .url
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    let admin_url = app.settings.database.url.replace(&database, "postgres");
    let (admin, connection) = tokio_postgres::connect(&admin_url, tokio_postgres::NoTls)
        .await
        .unwrap();
    actix_web::rt::spawn(connection);
    admin
        .batch_execute(&format!("DROP DATABASE {database} WITH (FORCE)"))
        .await
        .unwrap();
    let body = wait_for_ready(&app, 503).await;
    assert_eq!(body["failing"], json!(["postgres"]));
    assert_eq!(body["checks"]["redis"], "ok");
}

#[actix_web::test]
async fn with_a_metrics_token_the_metrics_answer_only_to_it() {
    let app = spawn_app_with(|settings| {
        settings.metrics.token = "a scraper's token, not a user's".into();
    })
    .await;
    assert_eq!(app.get("/metrics").await.status(), 401);
    let wrong = app
        .http
        .get(app.url("/metrics"))
        .bearer_auth("a guess")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let right = app
        .http
        .get(app.url("/metrics"))
        .bearer_auth("a scraper's token, not a user's")
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), 200);
    assert!(right
        .text()
        .await
        .unwrap()
        .contains("hub_http_requests_total"));
}

#[actix_web::test]
async fn the_worker_prunes_stale_rows_and_keeps_live_ones() {
    let mut app = spawn_app().await;
    let user = crate::auth::verified_user(&app, "prune@example.com", "user").await;
    let id: uuid::Uuid = user["id"].as_str().unwrap().parse().unwrap();
    let client = app.db.get().await.unwrap();
    let statements = [
        "INSERT INTO login_throttles (email, failures, updated_at) VALUES
             ('stale@example.com', 2, now() - interval '2 days'),
             ('fresh@example.com', 2, now())",
        "INSERT INTO email_tokens (user_id, purpose, token_hash, expires_at, used_at) VALUES
             ($1, 'verify_email', 'stale-used', now() + interval '1 day', now() - interval '2 days'),
             ($1, 'reset_password', 'stale-expired', now() - interval '2 days', NULL),
             ($1, 'reset_password', 'live', now() + interval '1 hour', NULL)",
        "INSERT INTO refresh_tokens (id, user_id, family_id, token_hash, expires_at) VALUES
             (gen_random_uuid(), $1, gen_random_uuid(), 'stale', now() - interval '60 days'),
             (gen_random_uuid(), $1, gen_random_uuid(), 'live', now() + interval '1 day')",
        "INSERT INTO mails (to_address, subject, body_text, kind, status, created_at) VALUES
             ('a@example.com', 's', 'b', 'test', 'sent', now() - interval '8 days'),
             ('a@example.com', 's', 'b', 'test', 'sent', now()),
             ('a@example.com', 's', 'b', 'test', 'failed', now() - interval '8 days')",
    ];
    for statement in statements {
        let params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = if statement.contains("$1") {
            vec![&id]
        } else {
            vec![]
        };
        client.execute(statement, &params).await.unwrap();
    }
    let remaining = || async {
        let row = client
            .query_one(
                "SELECT (SELECT count(*) FROM login_throttles),
                        (SELECT count(*) FROM email_tokens),
                        (SELECT count(*) FROM refresh_tokens),
                        (SELECT count(*) FROM mails)",
                &[],
            )
            .await
            .unwrap();
        (0..4).map(|n| row.get::<_, i64>(n)).collect::<Vec<_>>()
    };
    assert_eq!(remaining().await, [2, 3, 2, 3]);
    app.start_worker();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while remaining().await != [1, 1, 1, 2] {
        assert!(
            tokio::time::Instant::now() < deadline,
            "left: {:?}",
            remaining().await
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let kept: String = client
        .query_one("SELECT email FROM login_throttles", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(kept, "fresh@example.com");
}

#[actix_web::test]
async fn metrics_count_requests_by_route_and_status() {
    let app = spawn_app().await;
    app.get("/health").await;
    app.get("/no/such/route").await;
    let response = app.get("/metrics").await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    assert!(
        text.contains(r#"hub_http_requests_total{route="/health",status="200"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"hub_http_requests_total{route="unmatched",status="404"} 1"#),
        "{text}"
    );
    assert!(text.contains("hub_http_request_duration_seconds_bucket"));
    assert!(text.contains("hub_websocket_sessions_open"));
    assert!(text.contains("hub_jobs_total"));
}

#[actix_web::test]
async fn create_user_makes_a_verified_owner_and_refuses_bad_input() {
    let app = spawn_app().await;
    let output = app
        .hub_command(&[
            "create-user",
            "--email",
            " Boss@Example.com ",
            "--password",
            "correct horse",
            "--name",
            "The Boss",
            "--role",
            "owner",
        ])
        .await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let client = app.db.get().await.unwrap();
    let row = client
        .query_one(
            "SELECT role, email_verified_at IS NOT NULL, password_hash FROM users WHERE email = 'boss@example.com'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "owner");
    assert!(row.get::<_, bool>(1));
    assert!(bcrypt::verify("correct horse", row.get::<_, &str>(2)).unwrap());

    let duplicate = app
        .hub_command(&[
            "create-user",
            "--email",
            "boss@example.com",
            "--password",
            "another one",
            "--name",
            "Twin",
            "--role",
            "owner",
        ])
        .await;
    assert!(!duplicate.status.success());
    assert!(String::from_utf8_lossy(&duplicate.stderr).contains("already registered"));

    let bad_role = app
        .hub_command(&[
            "create-user",
            "--email",
            "x@example.com",
            "--password",
            "password1",
            "--name",
            "X",
            "--role",
            "emperor",
        ])
        .await;
    assert!(!bad_role.status.success());
    let count: i64 = client
        .query_one("SELECT count(*) FROM users", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 1);
}

#[actix_web::test]
async fn the_worker_is_a_process_of_its_own_that_sweeps_due_mail() {
    let mut app = spawn_app_with_smtp(|_| {}).await;
    let client = app.db.get().await.unwrap();
    // A mail whose wake-up never reached Redis: only the worker's sweep can find it.
    client
        .execute(
            "INSERT INTO mails (to_address, subject, body_text, kind)
             VALUES ('lost@example.com', 'Hello', 'Found by the sweep', 'test')",
            &[],
        )
        .await
        .unwrap();
    let pid = app.start_worker();
    assert_ne!(pid, std::process::id());
    let messages = app
        .smtp()
        .wait_for("lost@example.com", 1, Duration::from_secs(20))
        .await;
    assert_eq!(messages.len(), 1);
    assert!(messages[0].contains("Found by the sweep"));
    // The worker marks the row once the SMTP server has answered, a moment after it stored the mail.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let status = loop {
        let status: String = client
            .query_one("SELECT status FROM mails", &[])
            .await
            .unwrap()
            .get(0);
        if status == "sent" || tokio::time::Instant::now() > deadline {
            break status;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(status, "sent");
}
