//! A domain block dashboard set up through the API: an admin, a user, a brand, its domains and a
//! checker key.

use reqwest::Method;
use serde_json::{json, Value};

use crate::auth::{sign_in, verified_user};
use crate::helpers::TestApp;

pub struct Dashboard {
    pub admin: String,
    pub user: String,
    pub user_id: String,
    pub brand_id: String,
    /// `(id, name)` of each domain, in the order given.
    pub domains: Vec<(String, String)>,
    pub key: String,
}

pub async fn dashboard(app: &TestApp, names: &[&str]) -> Dashboard {
    verified_user(app, "admin@example.com", "admin").await;
    let user = verified_user(app, "user@example.com", "user").await;
    let (admin, _) = sign_in(app, "admin@example.com").await;
    let (user_token, _) = sign_in(app, "user@example.com").await;
    let body = json!({"name": "Brand One", "code": "B1"});
    let (status, brand) = app
        .send_as(Method::POST, "/api/v1/brands", &admin, Some(&body))
        .await;
    assert_eq!(status, 201, "{brand}");
    let brand_id = brand["data"]["brand"]["id"].as_str().unwrap().to_owned();
    let mut domains = Vec::new();
    for name in names {
        let body = json!({"domain": name, "brandId": brand_id});
        let (status, created) = app
            .send_as(Method::POST, "/api/v1/domains", &admin, Some(&body))
            .await;
        assert_eq!(status, 201, "{created}");
        let domain = &created["data"]["domain"];
        domains.push((
            domain["id"].as_str().unwrap().to_owned(),
            domain["domain"].as_str().unwrap().to_owned(),
        ));
    }
    let key = checker_key(app, &admin).await;
    Dashboard {
        admin,
        user: user_token,
        user_id: user["id"].as_str().unwrap().to_owned(),
        brand_id,
        domains,
        key,
    }
}

pub async fn checker_key(app: &TestApp, admin: &str) -> String {
    let body = json!({"name": "checker"});
    let (status, key) = app
        .send_as(Method::POST, "/api/v1/checker-keys", admin, Some(&body))
        .await;
    assert_eq!(status, 201, "{key}");
    key["data"]["key"].as_str().unwrap().to_owned()
}

/// `POST /api/urls/update` as the seed's checker sends it.
pub async fn report(app: &TestApp, key: &str, id: &str, status: &str) -> (u16, Value) {
    let body = json!({"id": id, "scanResult": {"status": status}});
    crate::helpers::json(
        app.http
            .post(app.url("/api/urls/update"))
            .header("x-api-key", key)
            .json(&body)
            .send()
            .await
            .unwrap(),
    )
    .await
}

pub async fn submit_scan(app: &TestApp, key: &str, body: &Value) -> (u16, Value) {
    app.send_as(Method::POST, "/api/v1/scans", key, Some(body))
        .await
}

/// The batch's status once it has left `queued`/`processing` (or after 15 s).
pub async fn finished_batch(app: &TestApp, key: &str, batch_id: &str) -> Value {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let (_, body) = app
            .send_as(Method::GET, &format!("/api/v1/scans/{batch_id}"), key, None)
            .await;
        let state = body["data"]["state"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if state == "done" || state == "failed" || tokio::time::Instant::now() > deadline {
            return body["data"].clone();
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
