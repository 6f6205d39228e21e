//! Request budgets as an attacker meets them: through encoded paths, behind a proxy, on the
//! routes that had none.

use serde_json::json;

use crate::helpers::{spawn_app_with, PrivateRedis, TestApp};

async fn login_status(app: &TestApp, path: &str, forwarded_for: Option<&str>) -> u16 {
    let mut request = app
        .http
        .post(app.url(path))
        .json(&json!({"email": format!("{}@example.com", uuid::Uuid::new_v4().simple()), "password": "whatever1"}));
    if let Some(hops) = forwarded_for {
        request = request.header("x-forwarded-for", hops);
    }
    request.send().await.expect("POST").status().as_u16()
}

#[actix_web::test]
async fn percent_encoded_paths_spend_the_budget_of_the_route_they_reach() {
    let app = spawn_app_with(|settings| {
        settings.rate_limit.auth = "3/1m".parse().unwrap();
    })
    .await;
    // Each reaches the login handler (401: unknown email), and each counts against the auth budget.
    for path in [
        "/%61pi/v1/auth/login",
        "/api/v1/%61uth/login",
        "/api/v1/auth/log%69n",
    ] {
        assert_eq!(login_status(&app, path, None).await, 401, "{path}");
    }
    assert_eq!(login_status(&app, "/api/v1/auth/login", None).await, 429);
    assert_eq!(login_status(&app, "/%61pi/v1/auth/login", None).await, 429);
}

#[actix_web::test]
async fn forwarded_addresses_count_only_from_trusted_proxies() {
    let untrusting = spawn_app_with(|settings| {
        settings.rate_limit.auth = "2/1m".parse().unwrap();
    })
    .await;
    // Without a trusted proxy, a client cannot buy itself a fresh budget with a header.
    for n in 0..2 {
        let hops = format!("203.0.113.{n}");
        assert_eq!(
            login_status(&untrusting, "/api/v1/auth/login", Some(&hops)).await,
            401
        );
    }
    let spoofed = login_status(&untrusting, "/api/v1/auth/login", Some("203.0.113.99")).await;
    assert_eq!(spoofed, 429);

    let proxied = spawn_app_with(|settings| {
        settings.rate_limit.auth = "2/1m".parse().unwrap();
        settings.server.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await;
    let login = "/api/v1/auth/login";
    // The client is the rightmost untrusted hop; what it wrote to the left is ignored.
    assert_eq!(
        login_status(&proxied, login, Some("198.51.100.1")).await,
        401
    );
    assert_eq!(
        login_status(&proxied, login, Some("9.9.9.9, 198.51.100.1")).await,
        401
    );
    assert_eq!(
        login_status(&proxied, login, Some("8.8.8.8, 198.51.100.1")).await,
        429
    );
    // Behind the same proxy, another client has its own budget.
    assert_eq!(
        login_status(&proxied, login, Some("198.51.100.2")).await,
        401
    );
    // IPv6 clients are one client per /64.
    assert_eq!(
        login_status(&proxied, login, Some("2001:db8:1:1::1")).await,
        401
    );
    assert_eq!(
        login_status(&proxied, login, Some("2001:db8:1:1::2")).await,
        401
    );
    assert_eq!(
        login_status(&proxied, login, Some("2001:db8:1:1:abcd::3")).await,
        429
    );
    assert_eq!(
        login_status(&proxied, login, Some("2001:db8:1:2::1")).await,
        401
    );

    // `X-Forwarded-Proto: https` is believed from the proxy only: then browsers are told to stay.
    for (app, believed) in [(&untrusting, false), (&proxied, true)] {
        let response = app
            .http
            .get(app.url("/health"))
            .header("x-forwarded-proto", "https")
            .send()
            .await
            .unwrap();
        let hsts = response.headers().get("strict-transport-security");
        assert_eq!(hsts.is_some(), believed, "{hsts:?}");
    }
}

#[actix_web::test]
async fn the_checker_routes_and_socket_upgrades_have_budgets_of_their_own() {
    let app = spawn_app_with(|settings| {
        settings.rate_limit.checker = "2/1m".parse().unwrap();
        settings.rate_limit.socket = "2/1m".parse().unwrap();
    })
    .await;
    for _ in 0..2 {
        assert_eq!(app.get("/api/urls").await.status(), 401);
    }
    assert_eq!(app.get("/api/urls").await.status(), 429);
    for _ in 0..2 {
        assert_eq!(app.get("/ws").await.status(), 401);
    }
    let refused = app.get("/ws").await;
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().contains_key("retry-after"));
    // The API's budget is untouched.
    assert_eq!(app.get("/api/v1/brands").await.status(), 401);
}

#[actix_web::test]
async fn one_account_holds_at_most_its_share_of_sockets() {
    let app = spawn_app_with(|settings| settings.realtime.max_sessions_per_user = 2).await;
    crate::auth::verified_user(&app, "many@example.com", "user").await;
    crate::auth::verified_user(&app, "other@example.com", "user").await;
    let (token, _) = crate::auth::sign_in(&app, "many@example.com").await;
    let (other, _) = crate::auth::sign_in(&app, "other@example.com").await;
    let url = crate::live::ws_url(&app, &token);
    let first = crate::live::try_open(&url).await.expect("the first socket");
    let _second = crate::live::try_open(&url)
        .await
        .expect("the second socket");
    assert_eq!(crate::live::try_open(&url).await.err(), Some(429));
    // Another account is not affected.
    let _theirs = crate::live::open(&app, &other).await;
    // A socket closed frees its place.
    first.close().await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        match crate::live::try_open(&url).await {
            Ok(_) => break,
            Err(status) => {
                assert_eq!(status, 429);
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "the closed socket kept its place"
                );
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}

/// PINGs the Redis at `url` has answered so far.
async fn pings(url: &str) -> u64 {
    let client = redis::Client::open(url).unwrap();
    let mut redis = client.get_multiplexed_async_connection().await.unwrap();
    let stats: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut redis)
        .await
        .unwrap();
    stats
        .lines()
        .find_map(|line| line.strip_prefix("cmdstat_ping:calls="))
        .and_then(|rest| rest.split(',').next())
        .map_or(0, |calls| calls.parse().unwrap())
}

#[actix_web::test]
async fn a_flood_of_readiness_checks_costs_the_services_one_check_a_second() {
    let redis = PrivateRedis::start();
    let url = redis.url();
    let app = spawn_app_with(|settings| settings.redis.url = url.clone()).await;
    let before = pings(&url).await;
    let checks = (0..200).map(|_| app.get("/ready"));
    let answers = futures_util::future::join_all(checks).await;
    assert!(answers.iter().all(|response| response.status() == 200));
    let spent = pings(&url).await - before;
    // Without reuse: one PING (and one PostgreSQL query) per request.
    assert!(spent < 20, "{spent} PINGs for 200 readiness checks");
}
