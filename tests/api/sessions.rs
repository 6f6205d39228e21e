//! How sessions end, and that nothing outlives its end: refreshes racing a reset or a password
//! change, sign-out, disabling, reset links, lockouts under bursts, re-registration.

use std::time::Duration;

use hub::auth::store::{create_email_token, Purpose};
use serde_json::{json, Value};

use crate::auth::{get_as, login, sign_in, verified_user};
use crate::helpers::{json, spawn_app, spawn_app_with, TestApp};

const PASSWORD: &str = "correct horse battery";

async fn post(app: &TestApp, path: &str, body: Value) -> (u16, Value) {
    json(app.post_json(path, &body).await).await
}

async fn post_as(app: &TestApp, path: &str, token: &str, body: Value) -> (u16, Value) {
    let response = app
        .http
        .post(app.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    json(response).await
}

async fn refresh(app: &TestApp, token: &str) -> (u16, Value) {
    post(
        app,
        "/api/v1/auth/refresh",
        json!({ "refreshToken": token }),
    )
    .await
}

async fn reset_token(app: &TestApp, user: &Value) -> String {
    let client = app.db.get().await.unwrap();
    let id = user["id"].as_str().unwrap().parse().unwrap();
    create_email_token(&client, id, Purpose::ResetPassword)
        .await
        .unwrap()
}

/// After a refresh that raced the end of every session, whatever it returned must not work.
async fn assert_dead(app: &TestApp, round: usize, refreshed: &(u16, Value)) {
    let (status, body) = refreshed;
    if *status != 200 {
        assert_eq!(*status, 401, "round {round}: {body}");
        return;
    }
    let access = body["data"]["accessToken"].as_str().unwrap();
    let successor = body["data"]["refreshToken"].as_str().unwrap();
    assert_eq!(
        get_as(app, "/api/v1/profile", access).await.0,
        401,
        "round {round}: the access token of a refresh that raced the reset still works"
    );
    assert_eq!(
        refresh(app, successor).await.0,
        401,
        "round {round}: the successor of a refresh that raced the reset still works"
    );
}

#[actix_web::test]
async fn a_refresh_racing_a_password_reset_never_outlives_it() {
    let app = spawn_app_with(|settings| settings.rate_limit.enabled = false).await;
    for round in 0..40 {
        let email = format!("race{round}@example.com");
        let user = verified_user(&app, &email, "user").await;
        let (_, stolen) = sign_in(&app, &email).await;
        let token = reset_token(&app, &user).await;
        let reset = post(
            &app,
            "/api/v1/auth/reset-password",
            json!({"token": token, "password": "a brand new password"}),
        );
        let (reset, refreshed) = tokio::join!(reset, refresh(&app, &stolen));
        assert_eq!(reset.0, 200, "round {round}: {}", reset.1);
        assert_dead(&app, round, &refreshed).await;
    }
}

#[actix_web::test]
async fn a_refresh_racing_a_password_change_never_outlives_it() {
    let app = spawn_app_with(|settings| settings.rate_limit.enabled = false).await;
    for round in 0..40 {
        let email = format!("change{round}@example.com");
        verified_user(&app, &email, "user").await;
        let (access, _) = sign_in(&app, &email).await;
        let (_, stolen) = sign_in(&app, &email).await;
        let change = post_as(
            &app,
            "/api/v1/auth/change-password",
            &access,
            json!({"currentPassword": PASSWORD, "newPassword": "a brand new password"}),
        );
        let (change, refreshed) = tokio::join!(change, refresh(&app, &stolen));
        assert_eq!(change.0, 200, "round {round}: {}", change.1);
        assert_dead(&app, round, &refreshed).await;
    }
}

#[actix_web::test]
async fn signing_out_ends_the_access_token_of_that_session_only() {
    let app = spawn_app().await;
    verified_user(&app, "out@example.com", "user").await;
    let (access, refresh_token) = sign_in(&app, "out@example.com").await;
    let (other_access, _) = sign_in(&app, "out@example.com").await;
    let (status, body) = post_as(
        &app,
        "/api/v1/auth/logout",
        &access,
        json!({ "refreshToken": refresh_token }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(get_as(&app, "/api/v1/profile", &access).await.0, 401);
    assert_eq!(refresh(&app, &refresh_token).await.0, 401);
    let refused = app
        .http
        .get(format!("{}/ws?token={access}", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(
        refused.status(),
        401,
        "no new socket for a signed-out session"
    );
    assert_eq!(get_as(&app, "/api/v1/profile", &other_access).await.0, 200);
}

#[actix_web::test]
async fn disabling_an_account_ends_its_sessions_for_good() {
    let app = spawn_app().await;
    verified_user(&app, "boss@example.com", "admin").await;
    let (admin, _) = sign_in(&app, "boss@example.com").await;
    let user = verified_user(&app, "gone@example.com", "user").await;
    let (access, refresh_token) = sign_in(&app, "gone@example.com").await;
    let path = format!("/api/v1/users/{}", user["id"].as_str().unwrap());
    for disabled in [true, false] {
        let response = app
            .http
            .put(app.url(&path))
            .bearer_auth(&admin)
            .json(&json!({ "disabled": disabled }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    // Enabled again: the sessions from before stay ended.
    assert_eq!(get_as(&app, "/api/v1/profile", &access).await.0, 401);
    assert_eq!(refresh(&app, &refresh_token).await.0, 401);
    let client = app.db.get().await.unwrap();
    let live: i64 = client
        .query_one(
            "SELECT count(*) FROM refresh_tokens WHERE user_id = $1::text::uuid AND revoked_at IS NULL",
            &[&user["id"].as_str().unwrap()],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(live, 0);
    assert_eq!(login(&app, "gone@example.com", PASSWORD).await.0, 200);
}

#[actix_web::test]
async fn a_reset_voids_every_other_unused_reset_link() {
    let app = spawn_app().await;
    let user = verified_user(&app, "links@example.com", "user").await;
    let first = reset_token(&app, &user).await;
    let second = reset_token(&app, &user).await;
    let reset = |token: String| {
        post(
            &app,
            "/api/v1/auth/reset-password",
            json!({"token": token, "password": "a brand new password"}),
        )
    };
    assert_eq!(reset(first).await.0, 200);
    let (status, body) = reset(second).await;
    assert_eq!(status, 400, "an older link still worked: {body}");
}

/// CPU time the password-hashing threads of this process have used.
fn hashing_cpu() -> Duration {
    let ticks_per_second = 100.0;
    let mut ticks = 0u64;
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        let Some((name, rest)) = stat.split_once(") ") else {
            continue;
        };
        if !name.contains("(bcrypt-") {
            continue;
        }
        let fields: Vec<&str> = rest.split_whitespace().collect();
        ticks += fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    }
    Duration::from_secs_f64(ticks as f64 / ticks_per_second)
}

#[actix_web::test]
async fn a_reset_with_a_bad_link_costs_no_password_hash() {
    // Cost 13 takes about half a second of CPU per hash on this machine.
    let app = spawn_app_with(|settings| settings.auth.bcrypt_cost = 13).await;
    let before = hashing_cpu();
    for n in 0..8 {
        let (status, _) = post(
            &app,
            "/api/v1/auth/reset-password",
            json!({"token": format!("not a token {n}"), "password": "a brand new password"}),
        )
        .await;
        assert_eq!(status, 400);
    }
    let spent = hashing_cpu().saturating_sub(before);
    // Eight hashes would be about 4 s; other tests' cost-4 hashes are a few milliseconds each.
    assert!(
        spent < Duration::from_millis(1500),
        "hashing took {spent:?}"
    );
    // The measure sees hashing when there is some: a good link costs one hash.
    let user = verified_user(&app, "measured@example.com", "user").await;
    let token = reset_token(&app, &user).await;
    let before = hashing_cpu();
    let (status, _) = post(
        &app,
        "/api/v1/auth/reset-password",
        json!({"token": token, "password": "a brand new password"}),
    )
    .await;
    assert_eq!(status, 200);
    assert!(hashing_cpu().saturating_sub(before) >= Duration::from_millis(100));
}

#[actix_web::test]
async fn a_burst_when_a_lock_runs_out_gets_the_budget_and_no_more() {
    let app = spawn_app_with(|settings| {
        settings.auth.lockout = Duration::from_secs(1);
        settings.auth.max_lockout = Duration::from_secs(1);
        settings.rate_limit.enabled = false;
        settings.database.pool_size = 16;
    })
    .await;
    verified_user(&app, "burst@example.com", "user").await;
    for round in 0..8 {
        // Lock the account, then wait for the lock to run out.
        for _ in 0..3 {
            login(&app, "burst@example.com", "wrong password").await;
        }
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let attempts = (0..40).map(|_| login(&app, "burst@example.com", "wrong password"));
        let answers = futures_util::future::join_all(attempts).await;
        let guesses = answers.iter().filter(|(status, _)| *status == 401).count();
        let refused = answers.iter().filter(|(status, _)| *status == 429).count();
        assert_eq!(guesses + refused, 40, "round {round}: {answers:?}");
        assert!(
            guesses <= 3,
            "round {round}: {guesses} guesses after the lock ran out"
        );
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
}

#[actix_web::test]
async fn change_password_locks_after_the_allowed_wrong_guesses() {
    let app = spawn_app().await;
    verified_user(&app, "guess@example.com", "user").await;
    let (access, _) = sign_in(&app, "guess@example.com").await;
    let change = |current: &'static str| {
        post_as(
            &app,
            "/api/v1/auth/change-password",
            &access,
            json!({"currentPassword": current, "newPassword": "a brand new password"}),
        )
    };
    let (status, body) = change("wrong one").await;
    assert_eq!(status, 400);
    assert_eq!(body["errors"][0]["field"], "currentPassword");
    assert_eq!(body["data"]["attemptsRemaining"], 2);
    assert_eq!(change("wrong two").await.0, 400);
    let (status, body) = change("wrong three").await;
    assert_eq!(status, 429, "{body}");
    assert!(body["data"]["retryAfter"].as_u64().unwrap() >= 1);
    // Locked: even the right password waits.
    assert_eq!(change(PASSWORD).await.0, 429);
    // The login of the same account is throttled separately (by email).
    assert_eq!(login(&app, "guess@example.com", PASSWORD).await.0, 200);
}

/// The bodies of the mails queued to `address`, oldest first.
async fn mails_to(app: &TestApp, address: &str) -> Vec<String> {
    let client = app.db.get().await.unwrap();
    client
        .query(
            "SELECT body_text FROM mails WHERE to_address = $1 ORDER BY created_at",
            &[&address],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect()
}

fn token_after<'a>(text: &'a str, marker: &str) -> &'a str {
    let start = text.find(marker).unwrap() + marker.len();
    text[start..].split_whitespace().next().unwrap()
}

async fn register_victim(app: &TestApp, name: &str, password: &str) -> (u16, Value) {
    post(
        app,
        "/api/v1/auth/register",
        json!({"name": name, "email": "victim@example.com", "password": password}),
    )
    .await
}

async fn verify_status(app: &TestApp, token: &str) -> u16 {
    app.get(&format!("/api/v1/auth/verify-email/{token}"))
        .await
        .status()
        .as_u16()
}

#[actix_web::test]
async fn a_squatted_address_is_won_back_by_its_mailbox() {
    let app = spawn_app().await;
    let register = |name, password| register_victim(&app, name, password);
    assert_eq!(
        register("Click here: evil.example", "squatter password")
            .await
            .0,
        201
    );
    // A fresh registration is not replaced: the owner proves the mailbox with a reset instead.
    assert_eq!(register("Victim", "victim's own password").await.0, 409);
    let (status, _) = post(
        &app,
        "/api/v1/auth/forgot-password",
        json!({"email": "victim@example.com"}),
    )
    .await;
    assert_eq!(status, 200);
    let mails = mails_to(&app, "victim@example.com").await;
    assert_eq!(mails.len(), 2);
    assert!(
        mails.iter().all(|text| !text.contains("evil.example")),
        "a mail to an unverified address echoed the typed name: {mails:?}"
    );
    let squatter_link = token_after(&mails[0], "/verify-email/");
    let reset_link = token_after(&mails[1], "?token=");
    let (status, body) = post(
        &app,
        "/api/v1/auth/reset-password",
        json!({"token": reset_link, "password": "victim's own password"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        verify_status(&app, squatter_link).await,
        400,
        "the squatter's link is void"
    );
    assert_eq!(
        login(&app, "victim@example.com", "squatter password")
            .await
            .0,
        401
    );
    assert_eq!(
        login(&app, "victim@example.com", "victim's own password")
            .await
            .0,
        200
    );
}

#[actix_web::test]
async fn an_old_unverified_registration_is_replaced_by_a_new_one() {
    let app = spawn_app().await;
    let register = |name, password| register_victim(&app, name, password);
    assert_eq!(
        register("Click here: evil.example", "squatter password")
            .await
            .0,
        201
    );
    let client = app.db.get().await.unwrap();
    client
        .execute(
            "UPDATE users SET created_at = now() - interval '31 minutes'",
            &[],
        )
        .await
        .unwrap();
    let (status, body) = register("Victim", "victim's own password").await;
    assert_eq!(status, 201, "{body}");
    let mails = mails_to(&app, "victim@example.com").await;
    assert_eq!(mails.len(), 2);
    assert!(
        mails
            .iter()
            .all(|text| !text.contains("evil.example") && !text.contains("Victim")),
        "a mail to an unverified address echoed the typed name: {mails:?}"
    );
    let squatter_link = token_after(&mails[0], "/verify-email/");
    let own_link = token_after(&mails[1], "/verify-email/");
    assert_eq!(
        verify_status(&app, squatter_link).await,
        400,
        "the squatter's link verifies nothing"
    );
    assert_eq!(verify_status(&app, own_link).await, 200);
    assert_eq!(
        login(&app, "victim@example.com", "squatter password")
            .await
            .0,
        401
    );
    let (status, body) = login(&app, "victim@example.com", "victim's own password").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["user"]["name"], "Victim");
    let users: i64 = client
        .query_one("SELECT count(*) FROM users", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(users, 1);
}

#[actix_web::test]
async fn links_and_password_changes_of_one_account_racing_never_deadlock() {
    let app = spawn_app_with(|settings| settings.rate_limit.enabled = false).await;
    for round in 0..20 {
        let email = format!("deadlock{round}@example.com");
        let user = verified_user(&app, &email, "user").await;
        let (access, _) = sign_in(&app, &email).await;
        let first = reset_token(&app, &user).await;
        let second = reset_token(&app, &user).await;
        let reset = |token: String| {
            post(
                &app,
                "/api/v1/auth/reset-password",
                json!({"token": token, "password": "a brand new password"}),
            )
        };
        let change = post_as(
            &app,
            "/api/v1/auth/change-password",
            &access,
            json!({"currentPassword": PASSWORD, "newPassword": "another new password"}),
        );
        let (a, b, c) = tokio::join!(reset(first), reset(second), change);
        for (status, body) in [&a, &b, &c] {
            assert_ne!(*status, 500, "round {round}: {body}");
        }
        // A password change voids unused reset links, so if it came first, neither works.
        let worked = [a.0, b.0].iter().filter(|status| **status == 200).count();
        assert!(
            worked <= 1,
            "round {round}: two links of one account both worked"
        );
    }
}

#[actix_web::test]
async fn a_signed_out_session_loses_its_open_socket_and_keeps_the_others() {
    let app = spawn_app().await;
    verified_user(&app, "sockets@example.com", "user").await;
    let (access, refresh_token) = sign_in(&app, "sockets@example.com").await;
    let (other_access, _) = sign_in(&app, "sockets@example.com").await;
    let mut mine = crate::live::open(&app, &access).await;
    let mut other = crate::live::open(&app, &other_access).await;
    let (status, _) = post_as(
        &app,
        "/api/v1/auth/logout",
        &access,
        json!({ "refreshToken": refresh_token }),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(mine.close_code(Duration::from_secs(5)).await, Some(1008));
    assert_eq!(other.close_code(Duration::from_millis(1500)).await, None);
}
