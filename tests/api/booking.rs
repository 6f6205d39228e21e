//! Booking (seed 002), part 1: the catalogue, experts, appointments and their expiry, against
//! real PostgreSQL, Redis, SMTP and `hub worker` as a process.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use crate::auth::{sign_in, verified_user};
use crate::helpers::{json, spawn_app, spawn_app_with, spawn_app_with_smtp, TestApp};
use crate::live::open;

/// A small salon: a category, a one-hour service with a half-hour add-on, two experts offering it.
pub struct Salon {
    pub admin: String,
    pub user: String,
    pub service: String,
    pub sub_service: String,
    pub experts: Vec<String>,
    /// Tomorrow in `booking.timezone`, as `YYYY-MM-DD`.
    pub date: String,
}

pub async fn salon(app: &TestApp) -> Salon {
    verified_user(app, "owner@example.com", "admin").await;
    verified_user(app, "client@example.com", "user").await;
    let (admin, _) = sign_in(app, "owner@example.com").await;
    let (user_token, _) = sign_in(app, "client@example.com").await;
    let post = |path: &'static str, body: Value| {
        let admin = admin.clone();
        async move {
            let (status, answer) = app.send_as(Method::POST, path, &admin, Some(&body)).await;
            assert_eq!(status, 201, "{path}: {answer}");
            answer["data"].clone()
        }
    };
    let category = post(
        "/api/v1/categories",
        json!({"name": "Hair", "displayOrder": 1}),
    )
    .await;
    let category_id = category["category"]["id"].as_str().unwrap().to_owned();
    let service = post(
        "/api/v1/services",
        json!({"categoryId": category_id, "name": "Haircut", "price": 100000, "durationMinutes": 60}),
    )
    .await["service"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, sub) = app
        .send_as(
            Method::POST,
            &format!("/api/v1/services/{service}/sub-services"),
            &admin,
            Some(&json!({"name": "Wash", "price": 20000, "durationMinutes": 30})),
        )
        .await;
    assert_eq!(status, 201, "{sub}");
    let mut experts = Vec::new();
    for name in ["Ayu", "Budi"] {
        let expert = post("/api/v1/experts", json!({"name": name})).await["expert"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let (status, answer) = app
            .send_as(
                Method::PUT,
                &format!("/api/v1/experts/{expert}/services"),
                &admin,
                Some(&json!({"serviceIds": [service]})),
            )
            .await;
        assert_eq!(status, 200, "{answer}");
        experts.push(expert);
    }
    let tomorrow = chrono::Utc::now()
        .with_timezone(&app.settings.booking.timezone)
        .date_naive()
        + chrono::Days::new(1);
    Salon {
        admin,
        user: user_token,
        service,
        sub_service: sub["data"]["subService"]["id"].as_str().unwrap().to_owned(),
        experts,
        date: tomorrow.format("%Y-%m-%d").to_string(),
    }
}

async fn book(app: &TestApp, token: &str, body: Value) -> (u16, Value) {
    app.send_as(Method::POST, "/api/v1/appointments", token, Some(&body))
        .await
}

#[actix_web::test]
async fn the_seed_flow_books_with_and_without_paying() {
    let mut app = spawn_app_with_smtp(|_| {}).await;
    app.start_worker();
    let salon = salon(&app).await;
    // A new customer registers and follows the mailed link.
    let register =
        json!({"name": "Sari", "email": "sari@example.com", "password": "sari's password"});
    let (status, _) = json(app.post_json("/api/v1/auth/register", &register).await).await;
    assert_eq!(status, 201);
    let mails = app
        .smtp()
        .wait_for("sari@example.com", 1, Duration::from_secs(20))
        .await;
    let prefix = format!(
        "{}/api/v1/auth/verify-email/",
        app.settings.server.public_url
    );
    let link = crate::helpers::link_in(&mails[0], &prefix).expect("a verification link");
    let path = link
        .trim_start_matches(&app.settings.server.public_url)
        .to_owned();
    assert_eq!(app.get(&path).await.status(), 200);
    let (status, signed_in) = crate::auth::login(&app, "sari@example.com", "sari's password").await;
    assert_eq!(status, 200, "{signed_in}");
    let customer = signed_in["data"]["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    // The catalogue needs no token.
    let (status, services) = json(app.get("/api/v1/services").await).await;
    assert_eq!(status, 200);
    assert_eq!(services["data"]["items"][0]["name"], "Haircut");
    assert_eq!(
        services["data"]["items"][0]["subServices"][0]["name"],
        "Wash"
    );
    let (status, experts) = json(
        app.get(&format!("/api/v1/experts?serviceId={}", salon.service))
            .await,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(experts["data"]["items"].as_array().unwrap().len(), 2);
    let availability = format!(
        "/api/v1/experts/{}/availability?date={}&serviceId={}&subServiceId={}",
        salon.experts[0], salon.date, salon.service, salon.sub_service
    );
    let (status, free) = json(app.get(&availability).await).await;
    assert_eq!(status, 200, "{free}");
    // 90 minutes fit from 09:00 to 16:30, every half hour.
    assert_eq!(free["data"]["slots"][0], "09:00");
    assert_eq!(
        free["data"]["slots"].as_array().unwrap().last().unwrap(),
        "16:30"
    );

    let (status, paid) = book(
        &app,
        &customer,
        json!({"serviceId": salon.service, "subServiceId": salon.sub_service,
               "expertId": salon.experts[0], "date": salon.date, "time": "10:00", "payNow": true}),
    )
    .await;
    assert_eq!(status, 201, "{paid}");
    assert_eq!(paid["message"], "Booking confirmed");
    let appointment = &paid["data"]["appointment"];
    assert_eq!(appointment["status"], "confirmed");
    assert_eq!(appointment["paymentStatus"], "paid");
    assert_eq!(appointment["totalPrice"], 120000);
    assert_eq!(appointment["expiresAt"], Value::Null);
    assert_eq!(appointment["subService"]["name"], "Wash");

    let (status, held) = book(
        &app,
        &customer,
        json!({"serviceId": salon.service, "date": salon.date, "time": "10:00"}),
    )
    .await;
    assert_eq!(status, 201, "{held}");
    let appointment = &held["data"]["appointment"];
    assert_eq!(appointment["status"], "reserved");
    assert_eq!(appointment["paymentStatus"], "unpaid");
    assert_eq!(
        appointment["expert"]["id"], salon.experts[1],
        "the free expert is assigned"
    );
    let created: chrono::DateTime<chrono::Utc> =
        appointment["createdAt"].as_str().unwrap().parse().unwrap();
    let expires: chrono::DateTime<chrono::Utc> =
        appointment["expiresAt"].as_str().unwrap().parse().unwrap();
    let ttl = (expires - created).num_seconds();
    assert!((4 * 3600 - 2..=4 * 3600 + 2).contains(&ttl), "{ttl}");
    assert!(held["message"]
        .as_str()
        .unwrap()
        .starts_with("Reservation held until"));

    let mails = app
        .smtp()
        .wait_for("sari@example.com", 3, Duration::from_secs(30))
        .await;
    assert!(mails
        .iter()
        .any(|mail| mail.contains("Your booking is confirmed")));
    assert!(mails
        .iter()
        .any(|mail| mail.contains("Your reservation is held")));
    let (status, mine) = app
        .send_as(Method::GET, "/api/v1/appointments/my", &customer, None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(mine["data"]["total"], 2);
    let (status, notes) = app
        .send_as(
            Method::GET,
            "/api/v1/notifications?unread=true",
            &customer,
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(notes["data"]["unread"], 2);
    // Both experts are now busy at 10:00: a third booking there is refused.
    let (status, none) = book(
        &app,
        &customer,
        json!({"serviceId": salon.service, "date": salon.date, "time": "10:00"}),
    )
    .await;
    assert_eq!(status, 409, "{none}");
    // The admin's dashboard counts them.
    let (status, stats) = app
        .send_as(
            Method::GET,
            &format!(
                "/api/v1/dashboard/stats?from={}T00:00:00Z&to=2100-01-01T00:00:00Z",
                salon.date
            ),
            &salon.admin,
            None,
        )
        .await;
    assert_eq!(status, 200, "{stats}");
    assert_eq!(stats["data"]["appointments"]["total"], 2);
    assert_eq!(stats["data"]["appointments"]["byStatus"]["confirmed"], 1);
    assert_eq!(stats["data"]["appointments"]["byStatus"]["reserved"], 1);
    assert_eq!(stats["data"]["revenue"]["paid"], 120000);
    assert_eq!(stats["data"]["topServices"][0]["name"], "Haircut");
    assert_eq!(stats["data"]["upcoming"], 2);
}

#[actix_web::test]
async fn every_refusal_of_a_booking_names_its_reason() {
    let app = spawn_app().await;
    let salon = salon(&app).await;
    let other = uuid::Uuid::new_v4();
    let base = json!({"serviceId": salon.service, "date": salon.date, "time": "11:00"});
    let with = |changes: Value| {
        let mut body = base.clone();
        for (key, value) in changes.as_object().unwrap() {
            body[key] = value.clone();
        }
        body
    };
    let cases = [
        (with(json!({"serviceId": other})), 404, None),
        (with(json!({"expertId": other})), 404, None),
        (with(json!({"offerId": other})), 404, None),
        (with(json!({"subServiceId": other})), 404, None),
        (with(json!({"time": "11:15"})), 400, Some("time")),
        (with(json!({"time": "08:00"})), 400, Some("time")),
        (with(json!({"time": "17:30"})), 400, Some("time")),
        (with(json!({"date": "2020-01-01"})), 400, Some("time")),
        (with(json!({"date": "tomorrow"})), 400, Some("date")),
        (
            json!({"date": salon.date, "time": "11:00"}),
            400,
            Some("serviceId"),
        ),
    ];
    for (body, status, field) in cases {
        let (got, answer) = book(&app, &salon.user, body.clone()).await;
        assert_eq!(got, status, "{body}: {answer}");
        assert_eq!(answer["success"], false);
        if let Some(field) = field {
            assert_eq!(answer["errors"][0]["field"], field, "{body}: {answer}");
        }
    }
    // An expert who does not offer the service, and an offer that is not active now.
    let (_, loner) = app
        .send_as(
            Method::POST,
            "/api/v1/experts",
            &salon.admin,
            Some(&json!({"name": "Citra"})),
        )
        .await;
    let loner = loner["data"]["expert"]["id"].as_str().unwrap().to_owned();
    let (status, answer) = book(&app, &salon.user, with(json!({"expertId": loner}))).await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["errors"][0]["field"], "expertId");
    let (_, offer) = app
        .send_as(
            Method::POST,
            "/api/v1/offers",
            &salon.admin,
            Some(&json!({"title": "Later", "discountPercent": 10,
                         "validFrom": "2099-01-01T00:00:00Z", "validTo": "2099-02-01T00:00:00Z"})),
        )
        .await;
    let offer = offer["data"]["offer"]["id"].as_str().unwrap().to_owned();
    let (status, answer) = book(&app, &salon.user, with(json!({"offerId": offer}))).await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["errors"][0]["field"], "offerId");
    // Nothing was booked by any of it.
    let client = app.db.get().await.unwrap();
    let count: i64 = client
        .query_one("SELECT count(*) FROM appointments", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 0);
}

#[actix_web::test]
async fn an_offer_discounts_and_moves_follow_the_rules() {
    let app = spawn_app().await;
    let salon = salon(&app).await;
    let (_, offer) = app
        .send_as(
            Method::POST,
            "/api/v1/offers",
            &salon.admin,
            Some(&json!({"title": "Opening week", "discountPercent": 15,
                         "validFrom": "2020-01-01T00:00:00Z", "validTo": "2099-01-01T00:00:00Z"})),
        )
        .await;
    let offer = offer["data"]["offer"]["id"].as_str().unwrap().to_owned();
    let (status, booked) = book(
        &app,
        &salon.user,
        json!({"serviceId": salon.service, "date": salon.date, "time": "12:00", "offerId": offer}),
    )
    .await;
    assert_eq!(status, 201, "{booked}");
    assert_eq!(booked["data"]["appointment"]["totalPrice"], 85000);
    let id = booked["data"]["appointment"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let status_to = |status: &'static str| {
        let path = format!("/api/v1/appointments/{id}/status");
        let admin = salon.admin.clone();
        let app = &app;
        async move {
            app.send_as(
                Method::PUT,
                &path,
                &admin,
                Some(&json!({ "status": status })),
            )
            .await
        }
    };
    // reserved → completed is not a move.
    assert_eq!(status_to("completed").await.0, 409);
    // Another user sees nothing of it.
    verified_user(&app, "stranger@example.com", "user").await;
    let (stranger, _) = sign_in(&app, "stranger@example.com").await;
    let path = format!("/api/v1/appointments/{id}");
    assert_eq!(
        app.send_as(Method::GET, &path, &stranger, None).await.0,
        404
    );
    assert_eq!(
        app.send_as(Method::PUT, &format!("{path}/pay"), &stranger, None)
            .await
            .0,
        404
    );
    // Its user pays: confirmed, paid, no expiry; paying again is a conflict.
    let (status, paid) = app
        .send_as(Method::PUT, &format!("{path}/pay"), &salon.user, None)
        .await;
    assert_eq!(status, 200, "{paid}");
    assert_eq!(paid["data"]["appointment"]["status"], "confirmed");
    assert_eq!(paid["data"]["appointment"]["expiresAt"], Value::Null);
    assert_eq!(
        app.send_as(Method::PUT, &format!("{path}/pay"), &salon.user, None)
            .await
            .0,
        409
    );
    assert_eq!(status_to("completed").await.0, 200);
    assert_eq!(status_to("cancelled").await.0, 409);
    assert_eq!(status_to("sideways").await.0, 400);
}

#[actix_web::test]
async fn of_200_concurrent_requests_for_one_slot_exactly_one_books_it() {
    let app = spawn_app_with(|settings| {
        settings.rate_limit.enabled = false;
        settings.database.pool_size = 16;
    })
    .await;
    let salon = salon(&app).await;
    let body = json!({"serviceId": salon.service, "expertId": salon.experts[0],
                      "date": salon.date, "time": "14:00"});
    let attempts = (0..200).map(|_| book(&app, &salon.user, body.clone()));
    let answers = futures_util::future::join_all(attempts).await;
    let created = answers.iter().filter(|(status, _)| *status == 201).count();
    let taken = answers.iter().filter(|(status, _)| *status == 409).count();
    assert_eq!(
        created,
        1,
        "{:?}",
        answers.iter().map(|a| a.0).collect::<Vec<_>>()
    );
    assert_eq!(taken, 199);
    let client = app.db.get().await.unwrap();
    let live: i64 = client
        .query_one(
            "SELECT count(*) FROM appointments WHERE status IN ('reserved', 'confirmed')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(live, 1);
}

#[actix_web::test]
async fn a_catalogue_read_after_a_write_shows_the_write_and_the_next_is_a_hit() {
    let app = spawn_app().await;
    let salon = salon(&app).await;
    let read = || async {
        let response = app.get("/api/v1/services").await;
        let cache = response.headers()["x-cache"].to_str().unwrap().to_owned();
        let (_, body) = json(response).await;
        (cache, body)
    };
    let (first, _) = read().await;
    let (second, body) = read().await;
    assert_eq!((first.as_str(), second.as_str()), ("miss", "hit"));
    assert_eq!(body["data"]["items"][0]["price"], 100000);
    let (status, _) = app
        .send_as(
            Method::PUT,
            &format!("/api/v1/services/{}", salon.service),
            &salon.admin,
            Some(&json!({"price": 110000})),
        )
        .await;
    assert_eq!(status, 200);
    let (after, body) = read().await;
    assert_eq!(after, "miss");
    assert_eq!(body["data"]["items"][0]["price"], 110000);
    assert_eq!(read().await.0, "hit");
}

#[actix_web::test]
async fn an_unpaid_reservation_expires_by_itself_and_frees_its_slot() {
    let mut app = spawn_app_with_smtp(|settings| {
        settings.booking.reservation_ttl = Duration::from_secs(3);
        // The user's socket is read only after the admin's: it must not time out meanwhile.
        settings.realtime.client_timeout = Duration::from_secs(30);
        // Only the job can expire it in time: the sweep comes once a minute.
        settings.worker.sweep_interval = Duration::from_secs(60);
    })
    .await;
    app.start_worker();
    let salon = salon(&app).await;
    let mut admin_socket = open(&app, &salon.admin).await;
    let mut user_socket = open(&app, &salon.user).await;
    let body = json!({"serviceId": salon.service, "expertId": salon.experts[0],
                      "date": salon.date, "time": "15:00"});
    let (status, held) = book(&app, &salon.user, body.clone()).await;
    assert_eq!(status, 201, "{held}");
    let expires: chrono::DateTime<chrono::Utc> = held["data"]["appointment"]["expiresAt"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let expired = admin_socket.expect("appointment:expired").await;
    assert_eq!(expired["data"]["appointment"]["status"], "expired");
    // By the database's clock: when the row changed, against when it was due.
    let at = |field: &str| -> chrono::DateTime<chrono::Utc> {
        expired["data"]["appointment"][field]
            .as_str()
            .unwrap()
            .parse()
            .unwrap()
    };
    let late = at("updatedAt") - at("expiresAt");
    assert!(
        late >= chrono::Duration::zero(),
        "expired {late} before expiresAt"
    );
    assert!(
        late < chrono::Duration::seconds(1),
        "expired {late} after expiresAt"
    );
    assert_eq!(at("expiresAt"), expires);
    let mine = user_socket.expect("appointment:expired").await;
    assert_eq!(
        mine["data"]["appointment"]["id"],
        held["data"]["appointment"]["id"]
    );
    user_socket.expect("notification:created").await;
    let mails = app
        .smtp()
        .wait_for("client@example.com", 2, Duration::from_secs(20))
        .await;
    assert!(mails
        .iter()
        .any(|mail| mail.contains("Your reservation expired")));
    let (_, notes) = app
        .send_as(Method::GET, "/api/v1/notifications", &salon.user, None)
        .await;
    let kinds: Vec<&str> = notes["data"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|note| note["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["appointment_expired", "appointment_created"]);
    // The slot is free again.
    let (status, again) = book(&app, &salon.user, body).await;
    assert_eq!(status, 201, "{again}");
}

#[actix_web::test]
async fn a_worker_killed_before_the_expiry_and_back_after_it_expires_the_reservation_once() {
    let mut app = spawn_app_with(|settings| {
        settings.booking.reservation_ttl = Duration::from_secs(2);
        // The job, not the sweep, is what must survive the kill.
        settings.worker.sweep_interval = Duration::from_secs(60);
    })
    .await;
    app.start_worker();
    let salon = salon(&app).await;
    let body = json!({"serviceId": salon.service, "date": salon.date, "time": "16:00"});
    let (status, held) = book(&app, &salon.user, body).await;
    assert_eq!(status, 201, "{held}");
    let id = held["data"]["appointment"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.kill_workers().await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let client = app.db.get().await.unwrap();
    let status_of = || async {
        client
            .query_one(
                "SELECT status FROM appointments WHERE id = $1::text::uuid",
                &[&id],
            )
            .await
            .unwrap()
            .get::<_, String>(0)
    };
    assert_eq!(
        status_of().await,
        "reserved",
        "nobody expired it while no worker ran"
    );
    app.start_worker();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while status_of().await != "expired" {
        assert!(tokio::time::Instant::now() < deadline, "never expired");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let expiries: i64 = client
        .query_one(
            "SELECT count(*) FROM notifications WHERE kind = 'appointment_expired' AND data->>'appointmentId' = $1",
            &[&id],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(expiries, 1, "expired once");
    // Paying an expired reservation is a conflict.
    let (status, answer) = app
        .send_as(
            Method::PUT,
            &format!("/api/v1/appointments/{id}/pay"),
            &salon.user,
            None,
        )
        .await;
    assert_eq!(status, 409, "{answer}");
}

#[actix_web::test]
async fn paying_just_before_the_expiry_keeps_the_booking() {
    let mut app = spawn_app_with(|settings| {
        settings.booking.reservation_ttl = Duration::from_secs(3);
    })
    .await;
    app.start_worker();
    let salon = salon(&app).await;
    let mut admin_socket = open(&app, &salon.admin).await;
    let body = json!({"serviceId": salon.service, "date": salon.date, "time": "13:00"});
    let (_, held) = book(&app, &salon.user, body).await;
    let id = held["data"]["appointment"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let expires: chrono::DateTime<chrono::Utc> = held["data"]["appointment"]["expiresAt"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let until = (expires - chrono::Utc::now() - chrono::Duration::milliseconds(1000))
        .to_std()
        .unwrap();
    tokio::time::sleep(until).await;
    let (status, paid) = app
        .send_as(
            Method::PUT,
            &format!("/api/v1/appointments/{id}/pay"),
            &salon.user,
            None,
        )
        .await;
    assert_eq!(status, 200, "{paid}");
    admin_socket.expect("appointment:paid").await;
    admin_socket
        .expect_none("appointment:expired", Duration::from_secs(3))
        .await;
    let (_, one) = app
        .send_as(
            Method::GET,
            &format!("/api/v1/appointments/{id}"),
            &salon.user,
            None,
        )
        .await;
    assert_eq!(one["data"]["appointment"]["status"], "confirmed");
}

#[actix_web::test]
async fn the_dev_demo_catalogue_is_seeded_once_and_bookable() {
    let app = spawn_app().await;
    let client = app.db.get().await.unwrap();
    assert!(hub::booking::demo::seed_if_empty(&client).await.unwrap());
    assert!(!hub::booking::demo::seed_if_empty(&client).await.unwrap());
    let (status, services) = json(app.get("/api/v1/services").await).await;
    assert_eq!(status, 200);
    assert_eq!(services["data"]["total"], 3);
    let haircut = services["data"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|service| service["name"] == "Haircut")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    verified_user(&app, "visitor@example.com", "user").await;
    let (token, _) = sign_in(&app, "visitor@example.com").await;
    let tomorrow = chrono::Utc::now()
        .with_timezone(&app.settings.booking.timezone)
        .date_naive()
        + chrono::Days::new(1);
    let (status, booked) = book(
        &app,
        &token,
        json!({"serviceId": haircut, "date": tomorrow.format("%Y-%m-%d").to_string(), "time": "09:00"}),
    )
    .await;
    assert_eq!(status, 201, "{booked}");
}

#[actix_web::test]
async fn a_reservation_whose_job_was_lost_is_expired_by_the_sweep() {
    let mut app = spawn_app_with(|settings| {
        settings.booking.reservation_ttl = Duration::from_secs(1);
    })
    .await;
    let salon = salon(&app).await;
    let body = json!({"serviceId": salon.service, "date": salon.date, "time": "11:00"});
    let (_, held) = book(&app, &salon.user, body).await;
    let id = held["data"]["appointment"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Lose the job: Redis forgets the queue before any worker ran.
    let mut redis = redis::Client::open(app.settings.redis.url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let pattern = format!("{}reservation-expiry*", app.settings.redis.namespace);
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
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // Paying once it is due, before anything expired it, is already refused.
    let (status, answer) = app
        .send_as(
            Method::PUT,
            &format!("/api/v1/appointments/{id}/pay"),
            &salon.user,
            None,
        )
        .await;
    assert_eq!(status, 409, "{answer}");
    assert_eq!(
        answer["message"],
        "This reservation has expired; book again"
    );
    app.start_worker();
    let client = app.db.get().await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let status: String = client
            .query_one(
                "SELECT status FROM appointments WHERE id = $1::text::uuid",
                &[&id],
            )
            .await
            .unwrap()
            .get(0);
        if status == "expired" {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the sweep never expired it"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[actix_web::test]
async fn cancelling_frees_the_slot_and_only_the_owner_or_an_admin_may() {
    let app = spawn_app().await;
    let salon = salon(&app).await;
    let body = json!({"serviceId": salon.service, "expertId": salon.experts[0],
                      "date": salon.date, "time": "09:00"});
    let (_, booked) = book(&app, &salon.user, body.clone()).await;
    let id = booked["data"]["appointment"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let cancel = format!("/api/v1/appointments/{id}/cancel");
    verified_user(&app, "stranger@example.com", "user").await;
    let (stranger, _) = sign_in(&app, "stranger@example.com").await;
    assert_eq!(
        app.send_as(Method::DELETE, &cancel, &stranger, None)
            .await
            .0,
        404
    );
    let (status, cancelled) = app
        .send_as(Method::DELETE, &cancel, &salon.user, None)
        .await;
    assert_eq!(status, 200, "{cancelled}");
    assert_eq!(cancelled["data"]["appointment"]["status"], "cancelled");
    assert_eq!(
        app.send_as(Method::DELETE, &cancel, &salon.user, None)
            .await
            .0,
        409
    );
    // The slot is free again; once it has started, its user can no longer cancel it.
    let (status, again) = book(&app, &salon.user, body).await;
    assert_eq!(status, 201, "{again}");
    let again = again["data"]["appointment"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let client = app.db.get().await.unwrap();
    client
        .execute(
            "UPDATE appointments SET starts_at = now() - interval '10 minutes',
                 ends_at = now() + interval '50 minutes' WHERE id = $1::text::uuid",
            &[&again],
        )
        .await
        .unwrap();
    let path = format!("/api/v1/appointments/{again}/cancel");
    let (status, answer) = app.send_as(Method::DELETE, &path, &salon.user, None).await;
    assert_eq!(status, 409);
    assert_eq!(
        answer["message"],
        "An appointment that has started can no longer be cancelled"
    );
    assert_eq!(
        app.send_as(Method::DELETE, &path, &salon.admin, None)
            .await
            .0,
        200
    );
    // No appointment moves back to reserved.
    let (status, _) = app
        .send_as(
            Method::PUT,
            &format!("/api/v1/appointments/{again}/status"),
            &salon.admin,
            Some(&json!({"status": "reserved"})),
        )
        .await;
    assert_eq!(status, 409);
}

#[actix_web::test]
async fn notifications_are_each_users_own() {
    let app = spawn_app().await;
    let salon = salon(&app).await;
    for time in ["09:00", "10:00"] {
        let body = json!({"serviceId": salon.service, "date": salon.date, "time": time});
        assert_eq!(book(&app, &salon.user, body).await.0, 201);
    }
    let (_, list) = app
        .send_as(Method::GET, "/api/v1/notifications", &salon.user, None)
        .await;
    assert_eq!(list["data"]["unread"], 2);
    let first = list["data"]["items"][0]["id"].as_str().unwrap().to_owned();
    let read = format!("/api/v1/notifications/{first}/read");
    assert_eq!(
        app.send_as(Method::PUT, &read, &salon.admin, None).await.0,
        404,
        "not the admin's"
    );
    let (status, one) = app.send_as(Method::PUT, &read, &salon.user, None).await;
    assert_eq!(status, 200);
    assert_eq!(one["data"]["notification"]["read"], true);
    let (_, unread) = app
        .send_as(
            Method::GET,
            "/api/v1/notifications?unread=true",
            &salon.user,
            None,
        )
        .await;
    assert_eq!(unread["data"]["total"], 1);
    let (status, all) = app
        .send_as(
            Method::PUT,
            "/api/v1/notifications/read-all",
            &salon.user,
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(all["data"]["marked"], 1);
    let (_, after) = app
        .send_as(Method::GET, "/api/v1/notifications", &salon.user, None)
        .await;
    assert_eq!(after["data"]["unread"], 0);
    assert_eq!(after["data"]["total"], 2);
}

#[actix_web::test]
async fn booked_things_are_deactivated_not_deleted_and_a_used_category_stays() {
    let app = spawn_app().await;
    let salon = salon(&app).await;
    let body = json!({"serviceId": salon.service, "expertId": salon.experts[0], "date": salon.date, "time": "09:00"});
    assert_eq!(book(&app, &salon.user, body).await.0, 201);
    let (status, answer) = app
        .send_as(
            Method::DELETE,
            &format!("/api/v1/services/{}", salon.service),
            &salon.admin,
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(answer["data"]["deactivated"], true);
    let (status, _) = json(
        app.get(&format!("/api/v1/services/{}", salon.service))
            .await,
    )
    .await;
    assert_eq!(status, 404, "an inactive service is hidden from the public");
    let (status, admin_view) = app
        .send_as(
            Method::GET,
            &format!("/api/v1/services/{}", salon.service),
            &salon.admin,
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(admin_view["data"]["service"]["isActive"], false);
    let (status, answer) = app
        .send_as(
            Method::DELETE,
            &format!("/api/v1/experts/{}", salon.experts[0]),
            &salon.admin,
            None,
        )
        .await;
    assert_eq!(
        (status, answer["data"]["deactivated"].clone()),
        (200, json!(true))
    );
    let (status, answer) = app
        .send_as(
            Method::DELETE,
            &format!("/api/v1/experts/{}", salon.experts[1]),
            &salon.admin,
            None,
        )
        .await;
    assert_eq!(
        (status, answer["data"]["deactivated"].clone()),
        (200, json!(false))
    );
    let category = admin_view["data"]["service"]["category"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = app
        .send_as(
            Method::DELETE,
            &format!("/api/v1/categories/{category}"),
            &salon.admin,
            None,
        )
        .await;
    assert_eq!(status, 409);
}

#[actix_web::test]
async fn with_two_free_experts_200_unassigned_requests_book_exactly_two() {
    let app = spawn_app_with(|settings| {
        settings.rate_limit.enabled = false;
        settings.database.pool_size = 16;
    })
    .await;
    let salon = salon(&app).await;
    let body = json!({"serviceId": salon.service, "date": salon.date, "time": "15:00"});
    let attempts = (0..200).map(|_| book(&app, &salon.user, body.clone()));
    let answers = futures_util::future::join_all(attempts).await;
    let created: Vec<&Value> = answers
        .iter()
        .filter(|(status, _)| *status == 201)
        .map(|(_, body)| body)
        .collect();
    assert_eq!(created.len(), 2);
    assert_eq!(
        answers.iter().filter(|(status, _)| *status == 409).count(),
        198
    );
    let mut experts: Vec<&str> = created
        .iter()
        .map(|body| {
            body["data"]["appointment"]["expert"]["id"]
                .as_str()
                .unwrap()
        })
        .collect();
    experts.sort();
    let mut all: Vec<&str> = salon.experts.iter().map(String::as_str).collect();
    all.sort();
    assert_eq!(experts, all, "one each");
}
