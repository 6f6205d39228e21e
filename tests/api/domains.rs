//! Brands, domains, the checker's routes and scan batches, over HTTP.

use reqwest::Method;
use serde_json::json;

use crate::dashboard::{dashboard, finished_batch, report, submit_scan};
use crate::helpers::{json, spawn_app, spawn_app_with};

#[actix_web::test]
async fn domain_names_are_normalised_validated_and_unique() {
    let app = spawn_app().await;
    let board = dashboard(
        &app,
        &["https://WWW.Example.com:8443/landing", "münchen.de"],
    )
    .await;
    assert_eq!(board.domains[0].1, "www.example.com");
    assert_eq!(board.domains[1].1, "xn--mnchen-3ya.de");

    let post = |body| {
        let app = &app;
        let admin = board.admin.clone();
        async move {
            app.send_as(Method::POST, "/api/v1/domains", &admin, Some(&body))
                .await
        }
    };
    let (status, body) = post(json!({"domain": "not a domain", "brandId": board.brand_id})).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["errors"][0]["field"], "domain");
    let (status, body) =
        post(json!({"domain": "www.example.com.", "brandId": board.brand_id})).await;
    assert_eq!(status, 409, "{body}");
    let unknown_brand = uuid::Uuid::new_v4().to_string();
    let (status, body) = post(json!({"domain": "fresh.com", "brandId": unknown_brand})).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["errors"][0]["field"], "brandId");
    let (status, _) = app
        .send_as(
            Method::POST,
            "/api/v1/domains",
            &board.user,
            Some(&json!({"domain": "x.com", "brandId": board.brand_id})),
        )
        .await;
    assert_eq!(status, 403);
    let (_, list) = app
        .send_as(Method::GET, "/api/v1/domains", &board.user, None)
        .await;
    assert_eq!(list["data"]["total"], 2, "nothing else was created: {list}");

    let body = json!({"brandId": board.brand_id, "domains": ["a.com", "A.com/x", "www.example.com", "bad name", "b.com"]});
    let (status, imported) = app
        .send_as(
            Method::POST,
            "/api/v1/domains/import",
            &board.admin,
            Some(&body),
        )
        .await;
    assert_eq!(status, 200, "{imported}");
    assert_eq!(imported["data"]["created"], 2);
    assert_eq!(imported["data"]["alreadyPresent"], 2);
    assert_eq!(imported["data"]["invalid"][0]["domain"], "bad name");
    let (_, list) = app
        .send_as(
            Method::GET,
            "/api/v1/domains?search=.com&limit=10",
            &board.user,
            None,
        )
        .await;
    assert_eq!(list["data"]["total"], 3, "{list}");
    let first = &list["data"]["items"][0];
    assert_eq!(first["domain"], "a.com");
    assert_eq!(first["brand"]["code"], "B1");
    assert_eq!(first["nawala"]["status"], serde_json::Value::Null);
}

#[actix_web::test]
async fn brands_are_unique_counted_and_kept_while_they_have_domains() {
    let app = spawn_app().await;
    let board = dashboard(&app, &["one.com", "two.com"]).await;
    let (status, body) = app
        .send_as(
            Method::POST,
            "/api/v1/brands",
            &board.admin,
            Some(&json!({"name": "Brand One", "code": "B2"})),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["errors"][0]["field"], "name");
    report(&app, &board.key, &board.domains[0].0, "blocked").await;
    let (_, brands) = app
        .send_as(Method::GET, "/api/v1/brands", &board.user, None)
        .await;
    let counts = &brands["data"]["items"][0]["domains"];
    assert_eq!(
        counts,
        &json!({"total": 2, "ada": 1, "tidakAda": 0, "unchecked": 1})
    );
    let path = format!("/api/v1/brands/{}", board.brand_id);
    let (status, body) = app.send_as(Method::DELETE, &path, &board.admin, None).await;
    assert_eq!(status, 409, "{body}");
    for (id, _) in &board.domains {
        let (status, _) = app
            .send_as(
                Method::DELETE,
                &format!("/api/v1/domains/{id}"),
                &board.admin,
                None,
            )
            .await;
        assert_eq!(status, 200);
    }
    let (status, _) = app.send_as(Method::DELETE, &path, &board.admin, None).await;
    assert_eq!(status, 200);
    let (status, _) = app.send_as(Method::DELETE, &path, &board.admin, None).await;
    assert_eq!(status, 404);
}

#[actix_web::test]
async fn the_seed_checker_reads_urls_and_reports_with_a_live_key() {
    let app = spawn_app().await;
    let board = dashboard(&app, &["one.com"]).await;
    let (id, _) = &board.domains[0];

    let response = app.http.get(app.url("/api/urls")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 401);
    let response = app
        .http
        .get(app.url("/api/urls"))
        .bearer_auth("hubck_wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    let response = app
        .http
        .get(app.url("/api/urls"))
        .bearer_auth(&board.key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let urls: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        urls,
        json!([{"id": id, "brand": "Brand One", "Domain": "one.com", "noto": null}])
    );

    let (status, body) = report(&app, &board.key, id, "blocked").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["domainId"], id.as_str());
    assert_eq!(body["data"]["nawala"]["status"], "ada");
    assert!(body["data"]["nawala"]["blockedId"]
        .as_str()
        .unwrap()
        .starts_with("scan_"));

    let (status, body) = report(&app, &board.key, id, "maybe").await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = report(
        &app,
        &board.key,
        &uuid::Uuid::new_v4().to_string(),
        "blocked",
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = report(&app, &board.key, "not-an-id", "blocked").await;
    assert_eq!(status, 404);
    let (_, domain) = app
        .send_as(
            Method::GET,
            &format!("/api/v1/domains/{id}"),
            &board.user,
            None,
        )
        .await;
    assert_eq!(
        domain["data"]["domain"]["nawala"]["status"], "ada",
        "the refused reports changed nothing"
    );
    let (_, history) = app
        .send_as(
            Method::GET,
            &format!("/api/v1/domains/{id}/history"),
            &board.user,
            None,
        )
        .await;
    assert_eq!(history["data"]["total"], 1);
    assert_eq!(history["data"]["items"][0]["status"], "blocked");

    let (_, keys) = app
        .send_as(Method::GET, "/api/v1/checker-keys", &board.admin, None)
        .await;
    let key_id = keys["data"]["items"][0]["id"].as_str().unwrap().to_owned();
    assert!(
        keys["data"]["items"][0].get("key").is_none(),
        "a key is shown only once"
    );
    let (status, _) = app
        .send_as(
            Method::DELETE,
            &format!("/api/v1/checker-keys/{key_id}"),
            &board.admin,
            None,
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = report(&app, &board.key, id, "accessible").await;
    assert_eq!(status, 401, "a revoked key is refused");
}

#[actix_web::test]
async fn the_seed_routes_open_without_a_key_when_configured() {
    let app = spawn_app_with(|settings| settings.checker.require_key = false).await;
    let board = dashboard(&app, &["one.com"]).await;
    let (status, body) = json(
        app.post_json(
            "/api/urls/update",
            &json!({"id": board.domains[0].0, "scanResult": {"status": "accessible"}}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["nawala"]["status"], "tidak ada");
    assert_eq!(app.get("/api/urls").await.status().as_u16(), 200);
    let (status, _) = json(
        app.post_json("/api/v1/scans", &json!({"results": []}))
            .await,
    )
    .await;
    assert_eq!(status, 401, "batches still need a key");
}

#[actix_web::test]
async fn a_bad_batch_is_refused_whole_and_stores_nothing() {
    let app = spawn_app().await;
    let board = dashboard(&app, &["one.com"]).await;
    let body = json!({"results": [
        {"id": board.domains[0].0, "status": "blocked"},
        {"domain": "one.com", "status": "sideways"},
        {"status": "blocked"},
        {"domain": "one.com", "status": "error", "checkedAt": "yesterday"},
        {"domain": "one.com", "status": "blocked", "checkedAt": "2099-01-01T00:00:00Z"},
    ]});
    let (status, answer) = submit_scan(&app, &board.key, &body).await;
    assert_eq!(status, 400, "{answer}");
    let fields: Vec<&str> = answer["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        [
            "results[1].status",
            "results[2].id",
            "results[3].checkedAt",
            "results[4].checkedAt"
        ]
    );
    let client = app.db.get().await.unwrap();
    let batches: i64 = client
        .query_one("SELECT count(*) FROM scan_batches", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(batches, 0);
    let (status, _) = app
        .send_as(
            Method::GET,
            &format!("/api/v1/scans/{}", uuid::Uuid::new_v4()),
            &board.key,
            None,
        )
        .await;
    assert_eq!(status, 404);
}

#[actix_web::test]
async fn a_batch_whose_job_was_lost_is_applied_by_the_sweep_once() {
    let mut app = spawn_app().await;
    let board = dashboard(&app, &["one.com", "two.com"]).await;
    let body = json!({"scanId": "scan-1", "results": [
        {"domain": "one.com", "status": "blocked"},
        {"domain": "two.com", "status": "accessible"},
    ]});
    let (status, answer) = submit_scan(&app, &board.key, &body).await;
    assert_eq!(status, 202, "{answer}");
    let batch_id = answer["data"]["batchId"].as_str().unwrap().to_owned();
    // Lose the job: wipe the queue in Redis before any worker has seen it.
    let mut redis = redis::Client::open(app.settings.redis.url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let pattern = format!("{}scan-ingest*", app.settings.redis.namespace);
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(&pattern)
        .query_async(&mut redis)
        .await
        .unwrap();
    assert!(!keys.is_empty(), "the job was queued under {pattern}");
    let _: () = redis::cmd("DEL")
        .arg(&keys)
        .query_async(&mut redis)
        .await
        .unwrap();

    app.start_worker();
    let batch = finished_batch(&app, &board.key, &batch_id).await;
    assert_eq!(batch["state"], "done", "{batch}");
    assert_eq!(
        (batch["applied"].as_i64(), batch["changed"].as_i64()),
        (Some(2), Some(2))
    );

    let (status, again) = submit_scan(&app, &board.key, &body).await;
    assert_eq!(status, 409, "{again}");
    assert_eq!(again["data"]["batchId"], batch_id.as_str());
    let client = app.db.get().await.unwrap();
    let scans: i64 = client
        .query_one("SELECT count(*) FROM domain_scans", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(scans, 2, "applied once");
}

#[actix_web::test]
async fn admins_rename_and_refile_domains_and_brands_and_lists_filter_by_status() {
    let app = spawn_app().await;
    let board = dashboard(&app, &["one.com", "two.com"]).await;
    let (id, _) = &board.domains[0];
    let path = format!("/api/v1/domains/{id}");
    let body = json!({"note": "landing page"});
    app.send_as(Method::PUT, &path, &board.admin, Some(&body))
        .await;

    let body = json!({"domain": "not valid", "note": null});
    let (status, answer) = app
        .send_as(Method::PUT, &path, &board.admin, Some(&body))
        .await;
    assert_eq!(status, 400, "{answer}");
    let (_, unchanged) = app.send_as(Method::GET, &path, &board.user, None).await;
    assert_eq!(unchanged["data"]["domain"]["note"], "landing page");

    let body = json!({"domain": "HTTPS://Renamed.com/", "note": null});
    let (status, answer) = app
        .send_as(Method::PUT, &path, &board.admin, Some(&body))
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["data"]["domain"]["domain"], "renamed.com");
    assert_eq!(answer["data"]["domain"]["note"], serde_json::Value::Null);
    let body = json!({"domain": "two.com"});
    let (status, _) = app
        .send_as(Method::PUT, &path, &board.admin, Some(&body))
        .await;
    assert_eq!(status, 409);
    let unknown = format!("/api/v1/domains/{}", uuid::Uuid::new_v4());
    let (status, _) = app
        .send_as(
            Method::PUT,
            &unknown,
            &board.admin,
            Some(&json!({"note": "x"})),
        )
        .await;
    assert_eq!(status, 404);

    let brand = format!("/api/v1/brands/{}", board.brand_id);
    let body = json!({"name": "Brand Renamed"});
    let (status, answer) = app
        .send_as(Method::PUT, &brand, &board.admin, Some(&body))
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["data"]["brand"]["code"], "B1", "the code is kept");
    let (status, _) = app
        .send_as(
            Method::PUT,
            &brand,
            &board.admin,
            Some(&json!({"code": "bad code!"})),
        )
        .await;
    assert_eq!(status, 400);

    report(&app, &board.key, id, "blocked").await;
    let list = |query: String| {
        let (app, user) = (&app, board.user.clone());
        async move {
            let (status, body) = app
                .send_as(
                    Method::GET,
                    &format!("/api/v1/domains?{query}"),
                    &user,
                    None,
                )
                .await;
            assert_eq!(status, 200, "{body}");
            names_listed(&body)
        }
    };
    assert_eq!(list("status=ada".into()).await, ["renamed.com"]);
    assert_eq!(list("status=blocked".into()).await, ["renamed.com"]);
    assert_eq!(list("status=unchecked".into()).await, ["two.com"]);
    assert_eq!(
        list("status=tidak%20ada".into()).await,
        Vec::<String>::new()
    );
    assert_eq!(list(format!("brandId={}", board.brand_id)).await.len(), 2);
    let (status, _) = app
        .send_as(
            Method::GET,
            "/api/v1/domains?status=sideways",
            &board.user,
            None,
        )
        .await;
    assert_eq!(status, 400);
}

#[actix_web::test]
async fn the_latest_status_changes_list_first_with_sort_since() {
    let app = spawn_app().await;
    let board = dashboard(&app, &["a.com", "b.com", "c.com", "d.com"]).await;
    let id = |n: usize| board.domains[n].0.clone();
    for (domain, status) in [(2, "blocked"), (0, "blocked"), (2, "accessible")] {
        let (code, body) = report(&app, &board.key, &id(domain), status).await;
        assert_eq!(code, 200, "{body}");
    }
    // A re-check with the same status is not a change: c.com stays the latest.
    report(&app, &board.key, &id(0), "blocked").await;
    let (status, body) = app
        .send_as(
            Method::GET,
            "/api/v1/domains?sort=-since",
            &board.user,
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let order = names_listed(&body);
    assert_eq!(
        order,
        ["c.com", "a.com", "b.com", "d.com"],
        "unchecked last, by name"
    );
    let (_, body) = app
        .send_as(
            Method::GET,
            "/api/v1/domains?sort=-lastChecked",
            &board.user,
            None,
        )
        .await;
    let order = names_listed(&body);
    assert_eq!(
        order,
        ["a.com", "c.com", "b.com", "d.com"],
        "the re-check counts here"
    );
    let (status, body) = app
        .send_as(Method::GET, "/api/v1/domains?sort=since", &board.user, None)
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["errors"][0]["field"], "sort");
}

/// The domain names of a domains page, in the order listed.
fn names_listed(page: &serde_json::Value) -> Vec<String> {
    page["data"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|domain| domain["domain"].as_str().unwrap().to_owned())
        .collect()
}
