//! Accounts and auth, with mails delivered by `hub worker` to a real SMTP server.

use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{json, link_in, spawn_app, spawn_app_with, spawn_app_with_smtp, TestApp};

const PASSWORD: &str = "correct horse battery";

/// A verified account made directly, for tests that are not about registration.
pub async fn verified_user(app: &TestApp, email: &str, role: &str) -> Value {
    let mut client = app.db.get().await.unwrap();
    let user = hub::users::create_verified(
        &mut client,
        &app.settings.auth,
        email,
        PASSWORD,
        "Test User",
        role,
    )
    .await
    .unwrap();
    serde_json::to_value(user).unwrap()
}

pub async fn login(app: &TestApp, email: &str, password: &str) -> (u16, Value) {
    json(
        app.post_json(
            "/api/v1/auth/login",
            &json!({"email": email, "password": password}),
        )
        .await,
    )
    .await
}

/// Signs in; returns (access token, refresh token).
pub async fn sign_in(app: &TestApp, email: &str) -> (String, String) {
    let (status, body) = login(app, email, PASSWORD).await;
    assert_eq!(status, 200, "{body}");
    (
        body["data"]["accessToken"].as_str().unwrap().to_owned(),
        body["data"]["refreshToken"].as_str().unwrap().to_owned(),
    )
}

pub async fn get_as(app: &TestApp, path: &str, token: &str) -> (u16, Value) {
    json(
        app.http
            .get(app.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap(),
    )
    .await
}

#[actix_web::test]
async fn a_new_user_receives_the_verification_mail_follows_it_and_logs_in() {
    let mut app = spawn_app_with_smtp(|_| {}).await;
    app.start_worker();
    let (status, body) = json(
        app.post_json(
            "/api/v1/auth/register",
            &json!({"name": "Ann", "email": " Ann@Example.com", "password": PASSWORD, "phone": "+62 812 3456"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["success"], true);
    assert_eq!(body["data"]["user"]["email"], "ann@example.com");
    assert_eq!(body["data"]["user"]["emailVerified"], false);
    assert!(body["data"]["user"].get("passwordHash").is_none());

    let (status, body) = login(&app, "ann@example.com", PASSWORD).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["message"], "Please verify your email");

    let mails = app
        .smtp()
        .wait_for("ann@example.com", 1, Duration::from_secs(20))
        .await;
    assert_eq!(mails.len(), 1, "the verification mail arrives");
    let prefix = format!(
        "{}/api/v1/auth/verify-email/",
        app.settings.server.public_url
    );
    let link = link_in(&mails[0], &prefix).expect("a verification link");
    let token = link.trim_start_matches(&prefix);
    let (status, body) = json(app.get(&format!("/api/v1/auth/verify-email/{token}")).await).await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = json(app.get(&format!("/api/v1/auth/verify-email/{token}")).await).await;
    assert_eq!(status, 400, "the link is single-use");

    let (status, body) = login(&app, "ann@example.com", PASSWORD).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["data"]["user"]["lastLogin"].is_string());
    let access = body["data"]["accessToken"].as_str().unwrap();
    let (status, profile) = get_as(&app, "/api/v1/profile", access).await;
    assert_eq!(status, 200);
    assert_eq!(profile["data"]["user"]["name"], "Ann");
}

#[actix_web::test]
async fn registration_refuses_bad_input_and_taken_emails() {
    let app = spawn_app().await;
    let (status, body) = json(
        app.post_json(
            "/api/v1/auth/register",
            &json!({"name": "", "email": "nope", "password": "short"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 400);
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["name", "email", "password"]);
    let long = "x".repeat(73);
    let (status, body) = json(
        app.post_json(
            "/api/v1/auth/register",
            &json!({"name": "A", "email": "a@example.com", "password": long}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 400, "over 72 bytes is refused, not truncated");
    assert_eq!(body["errors"][0]["field"], "password");

    verified_user(&app, "taken@example.com", "user").await;
    let (status, body) = json(
        app.post_json(
            "/api/v1/auth/register",
            &json!({"name": "B", "email": "TAKEN@example.com", "password": PASSWORD}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["errors"][0]["field"], "email");
    let count: i64 = app
        .db
        .get()
        .await
        .unwrap()
        .query_one("SELECT count(*) FROM users", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 1);
}

#[actix_web::test]
async fn the_third_wrong_password_locks_and_unknown_emails_answer_alike() {
    let app = spawn_app().await;
    verified_user(&app, "known@example.com", "user").await;
    for email in ["known@example.com", "ghost@example.com"] {
        let (status, body) = login(&app, email, "wrong password").await;
        assert_eq!(
            (status, body["data"]["attemptsRemaining"].clone()),
            (401, json!(2)),
            "{email}"
        );
        let (status, body) = login(&app, email, "wrong password").await;
        assert_eq!(
            (status, body["data"]["attemptsRemaining"].clone()),
            (401, json!(1)),
            "{email}"
        );
        let response = app
            .post_json(
                "/api/v1/auth/login",
                &json!({"email": email, "password": "wrong password"}),
            )
            .await;
        assert_eq!(response.headers()["retry-after"], "30");
        let (status, body) = json(response).await;
        assert_eq!(status, 429);
        assert_eq!(body["data"]["retryAfter"], 30);
        assert_eq!(
            body["message"],
            "Too many failed attempts. Try again in 30 seconds"
        );
    }
    let (status, body) = login(&app, "known@example.com", PASSWORD).await;
    assert_eq!(
        status, 429,
        "the right password is refused while locked: {body}"
    );
    assert!(body["data"]["retryAfter"].as_u64().unwrap() <= 30);
}

#[actix_web::test]
async fn each_further_lockout_doubles_and_success_resets() {
    let app = spawn_app_with(|settings| {
        settings.auth.lockout = Duration::from_secs(1);
    })
    .await;
    verified_user(&app, "known@example.com", "user").await;
    let mut lengths = Vec::new();
    for _ in 0..3 {
        login(&app, "known@example.com", "wrong password").await;
        login(&app, "known@example.com", "wrong password").await;
        let (status, body) = login(&app, "known@example.com", "wrong password").await;
        assert_eq!(status, 429);
        let seconds = body["data"]["retryAfter"].as_u64().unwrap();
        lengths.push(seconds);
        tokio::time::sleep(Duration::from_secs(seconds) + Duration::from_millis(200)).await;
    }
    assert_eq!(lengths, [1, 2, 4]);
    let (status, _) = login(&app, "known@example.com", PASSWORD).await;
    assert_eq!(status, 200);
    let (_, body) = login(&app, "known@example.com", "wrong password").await;
    assert_eq!(
        body["data"]["attemptsRemaining"], 2,
        "success clears the record"
    );
}

#[actix_web::test]
async fn refresh_rotates_and_a_reused_token_revokes_its_family() {
    let app = spawn_app().await;
    verified_user(&app, "r@example.com", "user").await;
    let (_, first) = sign_in(&app, "r@example.com").await;
    let refresh = |token: String| {
        let app = &app;
        async move {
            json(
                app.post_json("/api/v1/auth/refresh", &json!({"refreshToken": token}))
                    .await,
            )
            .await
        }
    };
    let (status, body) = refresh(first.clone()).await;
    assert_eq!(status, 200, "{body}");
    let second = body["data"]["refreshToken"].as_str().unwrap().to_owned();
    let access = body["data"]["accessToken"].as_str().unwrap().to_owned();
    assert_eq!(get_as(&app, "/api/v1/profile", &access).await.0, 200);

    let (status, _) = refresh(first).await;
    assert_eq!(status, 401, "a rotated token is refused");
    let (status, _) = refresh(second).await;
    assert_eq!(status, 401, "and its reuse revoked the whole family");

    // An access token is not a refresh token, nor the reverse.
    let (_, fresh_refresh) = sign_in(&app, "r@example.com").await;
    assert_eq!(refresh(access.clone()).await.0, 401);
    assert_eq!(get_as(&app, "/api/v1/profile", &fresh_refresh).await.0, 401);
}

#[actix_web::test]
async fn logout_revokes_the_refresh_token() {
    let app = spawn_app().await;
    verified_user(&app, "l@example.com", "user").await;
    let (access, refresh) = sign_in(&app, "l@example.com").await;
    let response = app
        .http
        .post(app.url("/api/v1/auth/logout"))
        .bearer_auth(&access)
        .json(&json!({"refreshToken": refresh}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let (status, _) = json(
        app.post_json("/api/v1/auth/refresh", &json!({"refreshToken": refresh}))
            .await,
    )
    .await;
    assert_eq!(status, 401);
}

#[actix_web::test]
async fn forgot_and_reset_end_every_session() {
    let mut app = spawn_app_with_smtp(|_| {}).await;
    app.start_worker();
    verified_user(&app, "f@example.com", "user").await;
    let (access, refresh) = sign_in(&app, "f@example.com").await;
    for email in ["f@example.com", "nobody@example.com"] {
        let (status, body) = json(
            app.post_json("/api/v1/auth/forgot-password", &json!({"email": email}))
                .await,
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(
            body["message"],
            "If that account exists, a reset link is on its way"
        );
    }
    let mails = app
        .smtp()
        .wait_for("f@example.com", 1, Duration::from_secs(20))
        .await;
    let prefix = format!("{}/reset-password?token=", app.settings.server.public_url);
    let link = link_in(&mails[0], &prefix).expect("a reset link");
    let token = link.trim_start_matches(&prefix).to_owned();

    let (status, _) = json(
        app.post_json(
            "/api/v1/auth/reset-password",
            &json!({"token": "bogus", "password": "new password 1"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 400);
    let (status, body) = json(
        app.post_json(
            "/api/v1/auth/reset-password",
            &json!({"token": token, "password": "new password 1"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["data"].is_null(), "no automatic sign-in");
    let (status, _) = json(
        app.post_json(
            "/api/v1/auth/reset-password",
            &json!({"token": token, "password": "new password 2"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 400, "single-use");

    assert_eq!(get_as(&app, "/api/v1/profile", &access).await.0, 401);
    let (status, _) = json(
        app.post_json("/api/v1/auth/refresh", &json!({"refreshToken": refresh}))
            .await,
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(login(&app, "f@example.com", PASSWORD).await.0, 401);
    assert_eq!(login(&app, "f@example.com", "new password 1").await.0, 200);
    let notices = app
        .smtp()
        .wait_for("f@example.com", 2, Duration::from_secs(20))
        .await;
    assert!(notices[1].contains("Your password was changed"));
    assert!(app.smtp().messages_to("nobody@example.com").is_empty());
}

#[actix_web::test]
async fn change_password_checks_the_current_one_and_ends_other_sessions() {
    let app = spawn_app().await;
    verified_user(&app, "c@example.com", "user").await;
    let (other_access, _) = sign_in(&app, "c@example.com").await;
    let (access, _) = sign_in(&app, "c@example.com").await;
    let change = |current: &str, new: &str| {
        app.http
            .post(app.url("/api/v1/auth/change-password"))
            .bearer_auth(&access)
            .json(&json!({"currentPassword": current, "newPassword": new}))
            .send()
    };
    let (status, body) = json(change("wrong one!", "brand new pass").await.unwrap()).await;
    assert_eq!(status, 400);
    assert_eq!(body["errors"][0]["field"], "currentPassword");
    let (status, body) = json(change(PASSWORD, "brand new pass").await.unwrap()).await;
    assert_eq!(status, 200, "{body}");
    let fresh = body["data"]["accessToken"].as_str().unwrap();
    assert_eq!(get_as(&app, "/api/v1/profile", &other_access).await.0, 401);
    assert_eq!(get_as(&app, "/api/v1/profile", fresh).await.0, 200);
    assert_eq!(login(&app, "c@example.com", "brand new pass").await.0, 200);
}

#[actix_web::test]
async fn a_worker_killed_during_a_send_and_restarted_delivers_the_mail_once() {
    let mut app = spawn_app_with_smtp(|_| {}).await;
    std::fs::write(&app.smtp().stall_file, b"stall").unwrap();
    app.start_worker();
    let (status, _) = json(
        app.post_json(
            "/api/v1/auth/register",
            &json!({"name": "Kim", "email": "kim@example.com", "password": PASSWORD}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 201);
    let client = app.db.get().await.unwrap();
    // Wait until the worker has claimed the mail and is stuck mid-conversation with the server.
    let mut claimed = false;
    for _ in 0..200 {
        let attempts: i32 = client
            .query_one("SELECT attempts FROM mails", &[])
            .await
            .unwrap()
            .get(0);
        if attempts == 1 {
            claimed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(claimed, "the worker started sending");
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.kill_workers().await;
    std::fs::remove_file(&app.smtp().stall_file).unwrap();
    assert!(app.smtp().messages_to("kim@example.com").is_empty());

    app.start_worker();
    let mails = app
        .smtp()
        .wait_for("kim@example.com", 1, Duration::from_secs(30))
        .await;
    assert_eq!(mails.len(), 1);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        app.smtp().messages_to("kim@example.com").len(),
        1,
        "delivered once"
    );
    let status: String = client
        .query_one("SELECT status FROM mails", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(status, "sent");
}

#[actix_web::test]
async fn a_mail_that_keeps_failing_is_kept_as_failed() {
    let mut app = spawn_app_with(|settings| {
        // Nothing listens here: every send fails.
        settings.smtp.host = "127.0.0.1".into();
        settings.smtp.port = 1;
        settings.mail.max_attempts = 2;
    })
    .await;
    app.start_worker();
    let (status, _) = json(
        app.post_json(
            "/api/v1/auth/register",
            &json!({"name": "Lee", "email": "lee@example.com", "password": PASSWORD}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 201);
    let client = app.db.get().await.unwrap();
    let mut row = None;
    for _ in 0..200 {
        let found = client
            .query_one("SELECT status, attempts, last_error FROM mails", &[])
            .await
            .unwrap();
        if found.get::<_, String>(0) == "failed" {
            row = Some(found);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let row = row.expect("the mail ends as failed");
    assert_eq!(row.get::<_, i32>(1), 2);
    assert!(row
        .get::<_, Option<String>>(2)
        .is_some_and(|error| !error.is_empty()));
}
