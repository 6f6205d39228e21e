//! What the browser tests start from, made through the hub's API: an admin, a brand, its domains
//! and a checker key.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::TestApp;

pub const PASSWORD: &str = "correct horse battery";

/// A verified account made directly.
pub async fn user(app: &TestApp, email: &str, role: &str) {
    let mut client = app.db.get().await.expect("a connection");
    hub::users::create_verified(
        &mut client,
        &app.settings.auth,
        email,
        PASSWORD,
        "Test User",
        role,
    )
    .await
    .expect("creating a user");
}

pub struct Monitored {
    pub admin: String,
    pub token: String,
    pub checker_key: String,
}

impl Monitored {
    /// An admin, the brand "Money" and `domains` in it, and a checker key.
    pub async fn set_up(app: &TestApp, domains: &[String]) -> Monitored {
        let admin = "admin@example.com".to_owned();
        user(app, &admin, "admin").await;
        let (status, body) = crate::helpers::json(
            app.post_json(
                "/api/v1/auth/login",
                &json!({"email": admin, "password": PASSWORD}),
            )
            .await,
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let token = body["data"]["accessToken"]
            .as_str()
            .expect("a token")
            .to_owned();
        let brand = call(
            app,
            &token,
            Method::POST,
            "/api/v1/brands",
            json!({"name": "Money", "code": "MNY"}),
        )
        .await;
        let brand_id = brand["brand"]["id"]
            .as_str()
            .expect("a brand id")
            .to_owned();
        for chunk in domains.chunks(1000) {
            let body = json!({"brandId": brand_id, "domains": chunk});
            let imported = call(app, &token, Method::POST, "/api/v1/domains/import", body).await;
            assert_eq!(imported["created"], chunk.len(), "{imported}");
        }
        let key = call(
            app,
            &token,
            Method::POST,
            "/api/v1/checker-keys",
            json!({"name": "browser test"}),
        )
        .await;
        Monitored {
            admin,
            token,
            checker_key: key["key"].as_str().expect("a key").to_owned(),
        }
    }

    /// The id of the domain named `name`.
    pub async fn domain_id(&self, app: &TestApp, name: &str) -> String {
        let path = format!("/api/v1/domains?search={name}");
        let found = call(app, &self.token, Method::GET, &path, Value::Null).await;
        found["items"][0]["id"]
            .as_str()
            .expect("the domain")
            .to_owned()
    }

    /// What the checker reports for one domain, through the seed's route.
    pub async fn report(&self, address: &str, id: &str, status: &str) {
        let response = reqwest::Client::new()
            .post(format!("{address}/api/urls/update"))
            .bearer_auth(&self.checker_key)
            .json(&json!({"id": id, "scanResult": {"status": status}}))
            .send()
            .await
            .expect("reporting a status");
        assert_eq!(response.status(), 200);
    }
}

/// `method path` as `token`; answers `data`, asserting success.
pub async fn call(app: &TestApp, token: &str, method: Method, path: &str, body: Value) -> Value {
    let body = (!body.is_null()).then_some(&body);
    let (status, answer) = app.send_as(method, path, token, body).await;
    assert!((200..300).contains(&status), "{path}: {status} {answer}");
    answer["data"].clone()
}

/// A haircut tomorrow at 10:00 (in `booking.timezone`), booked by a new customer; the catalogue it
/// needs is made by `admin_token`.
pub async fn book_a_haircut(app: &TestApp, admin_token: &str) {
    let post = |path: String, body: Value| async move {
        call(app, admin_token, Method::POST, &path, body).await
    };
    let category = post(
        "/api/v1/categories".into(),
        json!({"name": "Hair", "displayOrder": 1}),
    )
    .await;
    let service = post(
        "/api/v1/services".into(),
        json!({"categoryId": category["category"]["id"], "name": "Haircut", "price": 100000, "durationMinutes": 60}),
    )
    .await["service"]["id"]
        .clone();
    let expert =
        post("/api/v1/experts".into(), json!({"name": "Ayu"})).await["expert"]["id"].clone();
    let path = format!(
        "/api/v1/experts/{}/services",
        expert.as_str().expect("an expert id")
    );
    call(
        app,
        admin_token,
        Method::PUT,
        &path,
        json!({"serviceIds": [service]}),
    )
    .await;
    user(app, "customer@example.com", "user").await;
    let (status, signed_in) = crate::helpers::json(
        app.post_json(
            "/api/v1/auth/login",
            &json!({"email": "customer@example.com", "password": PASSWORD}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200, "{signed_in}");
    let customer = signed_in["data"]["accessToken"].as_str().expect("a token");
    let tomorrow = chrono::Utc::now()
        .with_timezone(&app.settings.booking.timezone)
        .date_naive()
        + chrono::Days::new(1);
    let booking = json!({"serviceId": service, "expertId": expert,
        "date": tomorrow.format("%Y-%m-%d").to_string(), "time": "10:00"});
    call(app, customer, Method::POST, "/api/v1/appointments", booking).await;
}
