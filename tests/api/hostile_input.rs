//! Input that used to reach PostgreSQL and come back as 500 (or as its error text): NUL
//! characters, page numbers that overflow, a batch that fails in the worker.

use reqwest::Method;
use serde_json::json;

use crate::dashboard::{dashboard, submit_scan};
use crate::helpers::{json, spawn_app};

#[actix_web::test]
async fn a_nul_character_anywhere_is_a_400_naming_where() {
    let app = spawn_app().await;
    let board = dashboard(&app, &["one.com"]).await;
    let cases = [
        (
            Method::GET,
            "/api/v1/domains?search=a%00b".to_owned(),
            None,
            "search",
        ),
        (
            Method::GET,
            "/api/v1/users?search=%00".to_owned(),
            None,
            "search",
        ),
        (
            Method::POST,
            "/api/v1/brands".to_owned(),
            Some(json!({"name": "Bad\u{0}Brand", "code": "BB"})),
            "name",
        ),
        (
            Method::PUT,
            format!("/api/v1/domains/{}", board.domains[0].0),
            Some(json!({"note": "hello\u{0}"})),
            "note",
        ),
        (
            Method::PUT,
            "/api/v1/profile".to_owned(),
            Some(json!({"name": "Zero\u{0}"})),
            "name",
        ),
    ];
    for (method, path, body, field) in cases {
        let (status, answer) = app
            .send_as(method.clone(), &path, &board.admin, body.as_ref())
            .await;
        assert_eq!(status, 400, "{method} {path}: {answer}");
        assert_eq!(answer["success"], false);
        assert_eq!(
            answer["errors"][0]["field"], field,
            "{method} {path}: {answer}"
        );
    }
    let scan = json!({"results": [
        {"domain": "one.com", "status": "blocked"},
        {"domain": "one.com", "status": "error", "detail": "timeout\u{0}"},
    ]});
    let (status, answer) = submit_scan(&app, &board.key, &scan).await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["errors"][0]["field"], "results[1].detail");
    let register = json!({"name": "N", "email": "n@example.com", "password": "pass\u{0}word1"});
    let (status, answer) = json(app.post_json("/api/v1/auth/register", &register).await).await;
    assert_eq!(status, 400);
    assert_eq!(answer["errors"][0]["field"], "password");
    // Nothing was stored, and a backslash written out (`\\u0000`) is ordinary text.
    let client = app.db.get().await.unwrap();
    let brands: i64 = client
        .query_one("SELECT count(*) FROM brands", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(brands, 1);
    let (status, answer) = app
        .send_as(
            Method::POST,
            "/api/v1/brands",
            &board.admin,
            Some(&json!({"name": "Back\\u0000slash", "code": "BS"})),
        )
        .await;
    assert_eq!(status, 201, "{answer}");
    assert_eq!(answer["data"]["brand"]["name"], "Back\\u0000slash");
}

#[actix_web::test]
async fn a_nul_in_the_path_is_a_400_and_compressed_bodies_still_work() {
    use std::io::Write;

    let app = spawn_app().await;
    let board = dashboard(&app, &["one.com"]).await;
    let (status, answer) = json(app.get("/api/v1/auth/verify-email/ab%00cd").await).await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["errors"][0]["field"], "path");

    // The NUL check reads the body; a gzip-encoded one still reaches the handler decoded once.
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gzip.write_all(br#"{"name": "Zipped", "code": "ZP"}"#)
        .unwrap();
    let response = app
        .http
        .post(app.url("/api/v1/brands"))
        .bearer_auth(&board.admin)
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(gzip.finish().unwrap())
        .send()
        .await
        .unwrap();
    let (status, answer) = json(response).await;
    assert_eq!(status, 201, "{answer}");
    assert_eq!(answer["data"]["brand"]["name"], "Zipped");
}

#[actix_web::test]
async fn a_page_past_any_list_is_a_400_not_an_overflow() {
    let app = spawn_app().await;
    let board = dashboard(&app, &["one.com"]).await;
    for path in [
        "/api/v1/domains?page=9223372036854775807",
        "/api/v1/users?page=9223372036854775807&limit=100",
        "/api/v1/domains?page=99999999999999999999",
    ] {
        let (status, answer) = app.send_as(Method::GET, path, &board.admin, None).await;
        assert_eq!(status, 400, "{path}: {answer}");
        assert_eq!(answer["errors"][0]["field"], "page", "{path}: {answer}");
    }
    let (status, answer) = app
        .send_as(
            Method::GET,
            "/api/v1/domains?page=1000000",
            &board.admin,
            None,
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["data"]["items"], json!([]));
}

#[actix_web::test]
async fn a_batch_that_fails_shows_no_internal_error_text() {
    let mut app = spawn_app().await;
    let board = dashboard(&app, &["one.com"]).await;
    // Break the worker's SQL: the table the batch writes to is gone.
    let client = app.db.get().await.unwrap();
    client
        .execute("ALTER TABLE domain_scans RENAME TO domain_scans_away", &[])
        .await
        .unwrap();
    let body = json!({"results": [{"domain": "one.com", "status": "blocked"}]});
    let (status, answer) = submit_scan(&app, &board.key, &body).await;
    assert_eq!(status, 202, "{answer}");
    let batch_id = answer["data"]["batchId"].as_str().unwrap().to_owned();
    app.start_worker();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    let failure = loop {
        let (_, batch) = app
            .send_as(
                Method::GET,
                &format!("/api/v1/scans/{batch_id}"),
                &board.key,
                None,
            )
            .await;
        if let Some(failure) = batch["data"]["failure"].as_str() {
            break failure.to_owned();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no failure recorded: {batch}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert!(failure.contains("could not be applied"), "{failure}");
    for internal in ["domain_scans", "relation", "SQL", "db error"] {
        assert!(!failure.contains(internal), "{failure}");
    }
}

/// serde reads a struct from a JSON array too (`[null, null]` is `{name: null, code: null}`):
/// schemathesis found an update that "succeeded" with one. Every body the API takes is an object.
#[actix_web::test]
async fn a_body_that_is_not_a_json_object_is_a_400_and_changes_nothing() {
    let app = spawn_app().await;
    let board = dashboard(&app, &["one.com"]).await;
    let brand = format!("/api/v1/brands/{}", board.brand_id);
    let domain = format!("/api/v1/domains/{}", board.domains[0].0);
    let client = app.db.get().await.unwrap();
    let snapshot = "SELECT count(*)::text || ' ' || max(updated_at)::text FROM brands";
    let before: String = client.query_one(snapshot, &[]).await.unwrap().get(0);
    for body in [json!([null, null]), json!(["Renamed", "RN"]), json!([])] {
        for (method, path) in [
            (Method::PUT, brand.as_str()),
            (Method::PUT, domain.as_str()),
            (Method::PUT, "/api/v1/profile"),
            (Method::POST, "/api/v1/brands"),
        ] {
            let (status, answer) = app
                .send_as(method.clone(), path, &board.admin, Some(&body))
                .await;
            assert_eq!(status, 400, "{method} {path} {body}: {answer}");
            assert_eq!(answer["errors"][0]["field"], "body", "{answer}");
        }
    }
    let after: String = client.query_one(snapshot, &[]).await.unwrap().get(0);
    assert_eq!(before, after, "nothing created or changed");
}

/// A limit counts what was sent: text padded with whitespace past its maximum is refused, not
/// trimmed and stored (schemathesis sent a course description of 5,000 vertical tabs around four
/// characters, documented as at most 5,000, and it was accepted).
#[actix_web::test]
async fn text_over_its_limit_is_refused_even_when_the_excess_is_whitespace() {
    let app = spawn_app().await;
    let board = dashboard(&app, &["one.com"]).await;
    let pad = |text: &str, total: usize| format!("{text}{}", "\u{b}".repeat(total - text.len()));
    let cases = [
        (
            Method::POST,
            "/api/v1/brands".to_owned(),
            json!({"name": pad("Padded", 101), "code": "PAD"}),
            "name",
        ),
        (
            Method::PUT,
            format!("/api/v1/domains/{}", board.domains[0].0),
            json!({"note": pad("note", 1001)}),
            "note",
        ),
        (
            Method::POST,
            "/api/v1/checker-keys".to_owned(),
            json!({"name": pad("key", 101)}),
            "name",
        ),
        (
            Method::POST,
            "/api/v1/categories".to_owned(),
            json!({"name": pad("Hair", 101)}),
            "name",
        ),
        (
            Method::PUT,
            "/api/v1/profile".to_owned(),
            json!({"name": pad("Ann", 101)}),
            "name",
        ),
        (
            Method::POST,
            "/api/v1/courses".to_owned(),
            json!({"title": "Cutting", "price": 100, "startsOn": "2030-01-01", "seats": 3,
                   "description": pad("desc", 5001)}),
            "description",
        ),
    ];
    for (method, path, body, field) in cases {
        let (status, answer) = app
            .send_as(method.clone(), &path, &board.admin, Some(&body))
            .await;
        assert_eq!(status, 400, "{method} {path}: {answer}");
        assert_eq!(answer["errors"][0]["field"], field, "{answer}");
    }
    let padded_email = format!("{}a@example.com", " ".repeat(250));
    let register = json!({"name": "N", "email": padded_email, "password": "a fine password"});
    let (status, answer) = json(app.post_json("/api/v1/auth/register", &register).await).await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["errors"][0]["field"], "email");
}
