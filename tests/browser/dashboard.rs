//! The dashboard as people use it: signing in, rows flipping live, reconnecting, roles, signing out.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::browser::Browser;
use crate::fixture::{book_a_haircut, call, user, Monitored, PASSWORD};
use crate::helpers::{spawn_app, spawn_app_with, WebProcess};

fn names(prefix: &str, count: usize) -> Vec<String> {
    (1..=count)
        .map(|n| format!("{prefix}-{n:03}.example.com"))
        .collect()
}

fn row(id: &str) -> String {
    format!("document.querySelector(\"tr[data-domain-id='{id}']\")")
}

/// A script answering true once `id`'s row shows blocked and a toast says `domain` is.
fn blocked_with_toast(id: &str, domain: &str) -> String {
    format!(
        "const row = {}; const toast = [...document.querySelectorAll('.toast')]
           .some(t => t.textContent.includes('{domain} is now blocked'));
         return !!row && row.querySelector('td.status').classList.contains('blocked') && toast;",
        row(id)
    )
}

async fn rows_shown(browser: &Browser, count: usize) {
    let script = format!(
        "return document.querySelectorAll('#domains-table tr[data-domain-id]').length === {count}"
    );
    browser
        .until(&format!("{count} rows"), &script, Duration::from_secs(10))
        .await;
}

#[actix_web::test]
async fn an_admin_sees_the_checkers_report_flip_a_row_with_a_toast_within_a_second() {
    let app = spawn_app().await;
    let monitored = Monitored::set_up(&app, &names("site", 30)).await;
    let browser = Browser::open().await;
    browser.login_page(&app.address).await;
    browser.screenshot("login").await;
    browser
        .sign_in(&app.address, &monitored.admin, PASSWORD)
        .await;
    browser.live().await;
    browser
        .until(
            "the brand counts",
            "return document.querySelectorAll('#brand-counts tbody tr').length === 1",
            Duration::from_secs(10),
        )
        .await;

    browser.goto(&format!("{}/#/domains", app.address)).await;
    rows_shown(&browser, 30).await;
    let id = monitored.domain_id(&app, "site-007.example.com").await;
    let cell = browser
        .js(&format!(
            "return {}.querySelector('td.status').textContent",
            row(&id)
        ))
        .await;
    assert_eq!(cell, "⚪ unchecked");
    browser.js("window.sameDocument = true; return null").await;

    let started = Instant::now();
    monitored.report(&app.address, &id, "blocked").await;
    browser
        .until(
            "the row to turn blocked with a toast",
            &blocked_with_toast(&id, "site-007.example.com"),
            Duration::from_secs(1),
        )
        .await;
    println!(
        "row and toast shown {:?} after the report was sent",
        started.elapsed()
    );
    let cell = browser
        .js(&format!(
            "return {}.querySelector('td.status').textContent",
            row(&id)
        ))
        .await;
    assert_eq!(cell, "🔴 ada");
    assert_eq!(
        browser.js("return window.sameDocument === true").await,
        true,
        "no reload"
    );
    browser.screenshot("domains").await;

    browser.goto(&format!("{}/#/", app.address)).await;
    browser.until("the latest change on home", "return document.querySelector('#recent-changes')?.textContent.includes('site-007.example.com')", Duration::from_secs(10)).await;
    browser.screenshot("home").await;
    browser
        .goto(&format!("{}/#/domains/{id}", app.address))
        .await;
    browser.until("the scan history", "return document.querySelectorAll('#history tbody tr').length === 1 && document.querySelector('#history').textContent.includes('blocked')", Duration::from_secs(10)).await;
    browser.screenshot("domain-history").await;
    browser
        .client
        .set_window_size(400, 860)
        .await
        .expect("a phone-sized window");
    browser.goto(&format!("{}/#/domains", app.address)).await;
    rows_shown(&browser, 30).await;
    browser.screenshot("domains-phone").await;
}

#[actix_web::test]
async fn a_500_domain_scan_batch_updates_every_visible_row() {
    let mut app = spawn_app().await;
    let domains = names("scan", 500);
    let monitored = Monitored::set_up(&app, &domains).await;
    app.start_worker();
    let browser = Browser::open().await;
    browser
        .sign_in(&app.address, &monitored.admin, PASSWORD)
        .await;
    browser.goto(&format!("{}/#/domains", app.address)).await;
    rows_shown(&browser, 50).await;
    browser.live().await;

    let results: Vec<Value> = domains
        .iter()
        .map(|domain| json!({"domain": domain, "status": "blocked"}))
        .collect();
    let response = reqwest::Client::new()
        .post(app.url("/api/v1/scans"))
        .bearer_auth(&monitored.checker_key)
        .json(&json!({"results": results}))
        .send()
        .await
        .expect("posting a scan batch");
    assert_eq!(response.status(), 202);
    browser
        .until(
            "every visible row blocked",
            "return document.querySelectorAll('#domains-table td.status.blocked').length === 50",
            Duration::from_secs(30),
        )
        .await;
    browser
        .until(
            "one toast for the batch",
            "return [...document.querySelectorAll('.toast')].some(t => t.textContent.includes('500 domains changed: 500 blocked'))",
            Duration::from_secs(5),
        )
        .await;
    let toasts = browser
        .js("return document.querySelectorAll('.toast').length")
        .await;
    assert!(
        toasts.as_u64().is_some_and(|n| n <= 4),
        "a burst is a few toasts: {toasts}"
    );
    browser.screenshot("domains-after-scan").await;
}

#[actix_web::test]
async fn the_page_reconnects_after_a_web_restart_and_shows_what_changed_meanwhile() {
    let app = spawn_app().await;
    let monitored = Monitored::set_up(&app, &names("away", 10)).await;
    let web = WebProcess::start(&app.settings).await;
    let browser = Browser::open().await;
    browser
        .sign_in(&web.address, &monitored.admin, PASSWORD)
        .await;
    browser.goto(&format!("{}/#/domains", web.address)).await;
    rows_shown(&browser, 10).await;
    browser.live().await;
    browser.js("window.sameDocument = true; return null").await;

    let (address, port) = (web.address.clone(), web.port);
    web.kill().await;
    browser
        .until(
            "the page to notice",
            "return !document.querySelector('#live.live')",
            Duration::from_secs(10),
        )
        .await;
    // Made through another web instance while this one is down.
    let id = monitored.domain_id(&app, "away-004.example.com").await;
    monitored.report(&app.address, &id, "blocked").await;

    let _web = WebProcess::start_on(&app.settings, port).await;
    browser
        .until(
            "the change made while away",
            &blocked_with_toast(&id, "away-004.example.com"),
            Duration::from_secs(30),
        )
        .await;
    browser.live().await;
    assert_eq!(
        browser.js("return window.sameDocument === true").await,
        true,
        "resumed, not reloaded"
    );
    assert!(browser
        .js("return location.href")
        .await
        .as_str()
        .unwrap()
        .starts_with(&address));
}

#[actix_web::test]
async fn a_plain_user_sees_no_admin_controls_and_a_note_stays_text() {
    let app = spawn_app().await;
    let monitored = Monitored::set_up(&app, &names("note", 3)).await;
    let id = monitored.domain_id(&app, "note-002.example.com").await;
    let hostile = "<img src=x onerror=alert(1)>";
    call(
        &app,
        &monitored.token,
        reqwest::Method::PUT,
        &format!("/api/v1/domains/{id}"),
        json!({"note": hostile}),
    )
    .await;
    user(&app, "viewer@example.com", "user").await;

    let browser = Browser::open().await;
    browser
        .sign_in(&app.address, "viewer@example.com", PASSWORD)
        .await;
    browser.goto(&format!("{}/#/domains", app.address)).await;
    rows_shown(&browser, 3).await;
    let note = browser
        .js(&format!(
            "return {}.querySelector('td.note').textContent",
            row(&id)
        ))
        .await;
    assert_eq!(note, hostile);
    assert_eq!(
        browser
            .js("return document.querySelectorAll('main img').length")
            .await,
        0
    );
    let controls = browser
        .js("return document.querySelectorAll('#add-domain, #import-domains, .row-actions, button.edit, button.delete').length")
        .await;
    assert_eq!(controls, 0);
    let nav = browser
        .js("return document.querySelector('header nav').textContent")
        .await;
    for admin_page in ["Users", "Checker keys", "Appointments"] {
        assert!(!nav.as_str().unwrap().contains(admin_page), "{nav}");
    }
    browser.screenshot("domains-as-user").await;
    browser
        .goto(&format!("{}/#/domains/{id}", app.address))
        .await;
    browser
        .until(
            "the note on the domain's page",
            &format!(
                "return document.querySelector('dd.note')?.textContent === {}",
                json!(hostile)
            ),
            Duration::from_secs(10),
        )
        .await;
    assert!(
        browser.client.get_alert_text().await.is_err(),
        "no script ran"
    );
    browser.goto(&format!("{}/#/users", app.address)).await;
    browser
        .until(
            "a user sent home from an admin page",
            "return location.hash === '#/' && !!document.querySelector('#brand-counts')",
            Duration::from_secs(10),
        )
        .await;
}

#[actix_web::test]
async fn signing_out_returns_to_login_and_the_old_refresh_token_is_dead() {
    let app = spawn_app().await;
    let monitored = Monitored::set_up(&app, &names("out", 2)).await;
    let browser = Browser::open().await;
    browser
        .sign_in(&app.address, &monitored.admin, PASSWORD)
        .await;
    browser.live().await;
    let refresh = browser
        .js("return JSON.parse(localStorage.getItem('hub.session')).refreshToken")
        .await;
    browser.click("#sign-out").await;
    browser
        .until(
            "the login form",
            "return !!document.querySelector('#login-form')",
            Duration::from_secs(10),
        )
        .await;
    assert_eq!(
        browser
            .js("return localStorage.getItem('hub.session')")
            .await,
        Value::Null
    );
    let (status, body) = crate::helpers::json(
        app.post_json("/api/v1/auth/refresh", &json!({"refreshToken": refresh}))
            .await,
    )
    .await;
    assert_eq!(status, 401, "{body}");
}

#[actix_web::test]
async fn a_short_lived_access_token_is_refreshed_halfway_without_a_storm() {
    let app = spawn_app_with(|settings| settings.auth.access_ttl = Duration::from_secs(8)).await;
    let monitored = Monitored::set_up(&app, &names("fresh", 2)).await;
    let browser = Browser::open().await;
    browser
        .sign_in(&app.address, &monitored.admin, PASSWORD)
        .await;
    let first = browser
        .js("return JSON.parse(localStorage.getItem('hub.session')).accessToken")
        .await;
    browser
        .until(
            "a refreshed access token",
            &format!(
                "return JSON.parse(localStorage.getItem('hub.session')).accessToken !== {first}"
            ),
            Duration::from_secs(10),
        )
        .await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    // Signed in at 0 s, then a refresh every ~4 s (half of 8 s): about 4 rows by now, not hundreds.
    let client = app.db.get().await.expect("a connection");
    let issued: i64 = client
        .query_one("SELECT count(*) FROM refresh_tokens", &[])
        .await
        .expect("counting refresh tokens")
        .get(0);
    assert!(
        (2..=6).contains(&issued),
        "{issued} refresh tokens issued in ~10 s"
    );
    browser.goto(&format!("{}/#/brands", app.address)).await;
    browser
        .until(
            "the brands, with the new token",
            "return document.querySelector('#brands-table')?.textContent.includes('Money')",
            Duration::from_secs(10),
        )
        .await;
    browser.screenshot("brands").await;
}

/// The page's own modules, imported into the page to drive them directly.
fn module(name: &str) -> String {
    format!("await import(document.querySelector('script[type=module]').src.replace('main.js', '{name}'))")
}

#[actix_web::test]
async fn requests_at_once_share_one_refresh_even_without_web_locks() {
    let app = spawn_app().await;
    let monitored = Monitored::set_up(&app, &names("race", 2)).await;
    let browser = Browser::open().await;
    browser.login_page(&app.address).await;
    // Ten rounds: an access token past its time (as after a laptop's sleep) meets three callers
    // at once (the timer and two requests), on an origin without Web Locks (plain HTTP, not
    // localhost). Each round must rotate once and keep the session.
    let script = format!(
        "const {{ Session }} = {};
         let rotations = 0;
         const realFetch = window.fetch;
         window.fetch = (url, init) => {{ if (String(url).includes('/auth/refresh')) rotations++; return realFetch(url, init); }};
         Object.defineProperty(navigator, 'locks', {{ value: undefined, configurable: true }});
         const session = new Session();
         await session.signIn({}, {});
         const expired = 'x.' + btoa(JSON.stringify({{ exp: 1, iat: 0 }})) + '.x';
         const outcomes = [];
         for (let round = 0; round < 10; round++) {{
           rotations = 0;
           session.save({{ ...session.state, accessToken: expired }});
           const answers = await Promise.allSettled([session.api('GET', '/api/v1/profile'), session.api('GET', '/api/v1/brands')]);
           outcomes.push({{ rotations, ok: answers.every(a => a.status === 'fulfilled'), signedIn: !!session.state }});
         }}
         window.fetch = realFetch;
         return outcomes;",
        module("session.js"),
        json!(monitored.admin),
        json!(PASSWORD)
    );
    let outcomes = browser
        .js(&format!("return (async () => {{ {script} }})()"))
        .await;
    for (round, outcome) in outcomes.as_array().expect("outcomes").iter().enumerate() {
        assert_eq!(
            outcome,
            &json!({"rotations": 1, "ok": true, "signedIn": true}),
            "round {round}"
        );
    }
}

#[actix_web::test]
async fn a_network_coming_back_while_connecting_opens_one_socket_not_two() {
    let app = spawn_app().await;
    let monitored = Monitored::set_up(&app, &names("twice", 2)).await;
    let browser = Browser::open().await;
    browser.login_page(&app.address).await;
    let script = format!(
        "const {{ HubSocket }} = {};
         const Real = window.WebSocket;
         let opened = 0;
         window.WebSocket = class extends Real {{ constructor(url) {{ super(url); opened++; }} }};
         const results = [];
         for (let round = 0; round < 10; round++) {{
           opened = 0;
           let live = 0;
           const socket = new HubSocket({{
             token: () => new Promise(resolve => setTimeout(() => resolve({}), 100)),
             onState: state => {{ if (state === 'live') live++; }},
           }});
           socket.start();
           window.dispatchEvent(new Event('online'));
           document.dispatchEvent(new Event('visibilitychange'));
           await new Promise(resolve => setTimeout(resolve, 600));
           results.push({{ opened, live }});
           socket.stop();
         }}
         window.WebSocket = Real;
         return results;",
        module("hub-socket.js"),
        json!(monitored.token)
    );
    let results = browser
        .js(&format!("return (async () => {{ {script} }})()"))
        .await;
    for (round, result) in results.as_array().expect("results").iter().enumerate() {
        assert_eq!(result, &json!({"opened": 1, "live": 1}), "round {round}");
    }
}

#[actix_web::test]
async fn signing_in_again_after_a_password_change_elsewhere_is_not_undone_by_the_old_revocation() {
    let app = spawn_app().await;
    let monitored = Monitored::set_up(&app, &names("again", 2)).await;
    let web = WebProcess::start(&app.settings).await;
    let browser = Browser::open().await;
    browser
        .sign_in(&web.address, &monitored.admin, PASSWORD)
        .await;
    browser.live().await;
    let port = web.port;
    web.kill().await;
    // While this page is cut off, the password is changed from another device.
    let new_password = "a brand new password";
    let body = json!({"currentPassword": PASSWORD, "newPassword": new_password});
    call(
        &app,
        &monitored.token,
        reqwest::Method::POST,
        "/api/v1/auth/change-password",
        body,
    )
    .await;
    let web = WebProcess::start_on(&app.settings, port).await;
    browser
        .until(
            "the page to sign out",
            "return !!document.querySelector('#login-form')",
            Duration::from_secs(30),
        )
        .await;
    browser
        .sign_in(&web.address, &monitored.admin, new_password)
        .await;
    browser.live().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let signed_in = browser
        .js("return !!document.querySelector('#sign-out') && !!localStorage.getItem('hub.session')")
        .await;
    assert_eq!(signed_in, true, "the new sign-in stays");
}

#[actix_web::test]
async fn an_admin_adds_a_user_a_checker_key_and_a_domain_and_sees_bookings_arrive() {
    let app = spawn_app().await;
    let monitored = Monitored::set_up(&app, &names("admin", 3)).await;
    let browser = Browser::open().await;
    browser
        .sign_in(&app.address, &monitored.admin, PASSWORD)
        .await;
    browser.live().await;

    browser.goto(&format!("{}/#/users", app.address)).await;
    browser.click("#add-user").await;
    browser
        .type_into("#user-form input[name=name]", "Dewi")
        .await;
    browser
        .type_into("#user-form input[name=email]", "dewi@example.com")
        .await;
    browser
        .type_into("#user-form input[name=password]", "dewi's password")
        .await;
    browser.click("#user-form button[type=submit]").await;
    browser.until("the new user listed", "return document.querySelector('#users-table')?.textContent.includes('dewi@example.com')", Duration::from_secs(10)).await;
    browser.screenshot("users").await;

    browser.goto(&format!("{}/#/keys", app.address)).await;
    browser.click("#add-key").await;
    browser
        .type_into("#key-form input[name=name]", "checker on host-2")
        .await;
    browser.click("#key-form button[type=submit]").await;
    let key = browser
        .until(
            "the new key, shown once",
            "return document.querySelector('#new-key')?.textContent",
            Duration::from_secs(10),
        )
        .await;
    let urls = reqwest::Client::new()
        .get(app.url("/api/urls"))
        .bearer_auth(key.as_str().expect("the key"))
        .send()
        .await
        .expect("the checker's list");
    assert_eq!(urls.status(), 200, "the key shown works for the checker");
    browser.screenshot("keys").await;

    browser.goto(&format!("{}/#/domains", app.address)).await;
    rows_shown(&browser, 3).await;
    browser.click("#add-domain").await;
    browser
        .type_into(
            "#domain-form input[name=domain]",
            "https://Added.Example.com/path",
        )
        .await;
    browser
        .type_into("#domain-form input[name=note]", "added in the browser")
        .await;
    browser.click("#domain-form button[type=submit]").await;
    rows_shown(&browser, 4).await;
    let added = browser.js("return document.querySelector('#domains-table').textContent.includes('added.example.com')").await;
    assert_eq!(added, true, "the name is normalised by the hub");

    browser
        .goto(&format!("{}/#/appointments", app.address))
        .await;
    browser.until("the empty list", "return document.querySelector('#appointments-table')?.textContent.includes('Nothing today or later')", Duration::from_secs(10)).await;
    book_a_haircut(&app, &monitored.token).await;
    browser
        .until(
            "the booking, live",
            "return document.querySelector('#appointments-table')?.textContent.includes('Haircut')",
            Duration::from_secs(10),
        )
        .await;
    browser.screenshot("appointments").await;
}
