//! Booking (seed 002), part 2: reviews and the experts' ratings, the gallery, courses and their
//! applications.

use reqwest::Method;
use serde_json::{json, Value};

use crate::auth::{sign_in, verified_user};
use crate::booking::{salon, Salon};
use crate::helpers::{json, spawn_app, spawn_app_with, TestApp};
use crate::live::open;

/// `count` completed appointments of the salon's customer with expert 0, straight into the table
/// (their booking and moves are tested elsewhere); answers their ids.
async fn completed(app: &TestApp, salon: &Salon, count: usize) -> Vec<String> {
    let client = app.db.get().await.unwrap();
    let rows = client
        .query(
            "INSERT INTO appointments (user_id, service_id, expert_id, starts_at, ends_at, status,
                 payment_status, total_price, currency)
             SELECT u.id, $1::text::uuid, $2::text::uuid, now() - (n || ' days')::interval,
                    now() - (n || ' days')::interval + interval '1 hour', 'completed', 'paid', 100000, 'IDR'
             FROM users u, generate_series(1, $3::int) AS n WHERE u.email = 'client@example.com'
             RETURNING id::text",
            &[&salon.service, &salon.experts[0], &(count as i32)],
        )
        .await
        .unwrap();
    rows.iter().map(|row| row.get(0)).collect()
}

async fn expert(app: &TestApp, id: &str) -> Value {
    let (_, experts) = json(app.get("/api/v1/experts").await).await;
    experts["data"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|expert| expert["id"] == id)
        .cloned()
        .unwrap()
}

/// The mean of the review rows of `expert`, to two decimals, and their count.
async fn mean_of_rows(app: &TestApp, expert: &str) -> (f64, i64) {
    let client = app.db.get().await.unwrap();
    let row = client
        .query_one(
            "SELECT COALESCE(round(avg(rating), 2), 0)::float8, count(*) FROM reviews WHERE expert_id = $1::text::uuid",
            &[&expert],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1))
}

#[actix_web::test]
async fn a_review_needs_a_completed_appointment_of_ones_own_and_comes_once() {
    let app = spawn_app().await;
    let salon = salon(&app).await;
    let done = completed(&app, &salon, 1).await;
    let body = json!({"serviceId": salon.service, "date": salon.date, "time": "09:00"});
    let (_, upcoming) = app
        .send_as(
            Method::POST,
            "/api/v1/appointments",
            &salon.user,
            Some(&body),
        )
        .await;
    let upcoming = upcoming["data"]["appointment"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let review = |token: &str, appointment: &str, rating: i64| {
        let body = json!({"appointmentId": appointment, "rating": rating, "comment": "Lovely"});
        let token = token.to_owned();
        let app = &app;
        async move {
            app.send_as(Method::POST, "/api/v1/reviews", &token, Some(&body))
                .await
        }
    };
    assert_eq!(
        review(&salon.user, &upcoming, 5).await.0,
        409,
        "not completed yet"
    );
    let (status, answer) = review(&salon.user, &done[0], 6).await;
    assert_eq!(
        (status, answer["errors"][0]["field"].clone()),
        (400, json!("rating"))
    );
    verified_user(&app, "stranger@example.com", "user").await;
    let (stranger, _) = sign_in(&app, "stranger@example.com").await;
    assert_eq!(review(&stranger, &done[0], 5).await.0, 404, "not theirs");
    let (status, created) = review(&salon.user, &done[0], 4).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["data"]["review"]["user"]["name"], "Test User");
    assert!(created["data"]["review"]["user"].get("email").is_none());
    let (status, answer) = review(&salon.user, &done[0], 5).await;
    assert_eq!(status, 409, "{answer}");
    let rated = expert(&app, &salon.experts[0]).await;
    assert_eq!(
        (rated["rating"].clone(), rated["totalReviews"].clone()),
        (json!(4.0), json!(1))
    );
    // Public, newest first, filtered by expert.
    let (status, list) = json(
        app.get(&format!("/api/v1/reviews?expertId={}", salon.experts[0]))
            .await,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(list["data"]["total"], 1);
    let id = created["data"]["review"]["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/reviews/{id}");
    assert_eq!(
        app.send_as(Method::DELETE, &path, &stranger, None).await.0,
        403
    );
    assert_eq!(
        app.send_as(Method::DELETE, &path, &salon.user, None)
            .await
            .0,
        200
    );
    let rated = expert(&app, &salon.experts[0]).await;
    assert_eq!(
        (rated["rating"].clone(), rated["totalReviews"].clone()),
        (json!(0.0), json!(0))
    );
}

#[actix_web::test]
async fn the_rating_stays_the_mean_of_the_rows_through_50_concurrent_reviews_and_deletions() {
    let app = spawn_app_with(|settings| {
        settings.rate_limit.enabled = false;
        settings.database.pool_size = 16;
    })
    .await;
    let salon = salon(&app).await;
    let done = completed(&app, &salon, 50).await;
    let reviews = done.iter().enumerate().map(|(n, appointment)| {
        let body = json!({"appointmentId": appointment, "rating": (n % 5) as i64 + 1});
        let app = &app;
        let token = salon.user.clone();
        async move {
            app.send_as(Method::POST, "/api/v1/reviews", &token, Some(&body))
                .await
        }
    });
    let answers = futures_util::future::join_all(reviews).await;
    assert!(answers.iter().all(|(status, _)| *status == 201));
    let (mean, count) = mean_of_rows(&app, &salon.experts[0]).await;
    let rated = expert(&app, &salon.experts[0]).await;
    assert_eq!(count, 50);
    assert_eq!(rated["totalReviews"], 50);
    assert_eq!(rated["rating"].as_f64().unwrap(), mean);
    // Delete ten of them at once, by their author and by an admin, while five more come in.
    let ids: Vec<String> = answers
        .iter()
        .take(10)
        .map(|(_, body)| body["data"]["review"]["id"].as_str().unwrap().to_owned())
        .collect();
    let deletions = ids.iter().enumerate().map(|(n, id)| {
        let token = if n % 2 == 0 {
            salon.user.clone()
        } else {
            salon.admin.clone()
        };
        let path = format!("/api/v1/reviews/{id}");
        let app = &app;
        async move { app.send_as(Method::DELETE, &path, &token, None).await.0 }
    });
    let more = completed(&app, &salon, 5).await;
    let additions = more.iter().map(|appointment| {
        let body = json!({"appointmentId": appointment, "rating": 5});
        let app = &app;
        let token = salon.user.clone();
        async move {
            app.send_as(Method::POST, "/api/v1/reviews", &token, Some(&body))
                .await
                .0
        }
    });
    let (deleted, added) = tokio::join!(
        futures_util::future::join_all(deletions),
        futures_util::future::join_all(additions)
    );
    assert!(deleted.iter().all(|status| *status == 200), "{deleted:?}");
    assert!(added.iter().all(|status| *status == 201), "{added:?}");
    let (mean, count) = mean_of_rows(&app, &salon.experts[0]).await;
    let rated = expert(&app, &salon.experts[0]).await;
    assert_eq!(count, 45);
    assert_eq!(rated["totalReviews"], 45);
    assert_eq!(rated["rating"].as_f64().unwrap(), mean);
}

#[actix_web::test]
async fn the_gallery_takes_absolute_web_urls_from_admins_only() {
    let app = spawn_app().await;
    let salon = salon(&app).await;
    let add = |token: &str, body: Value| {
        let token = token.to_owned();
        let app = &app;
        async move {
            app.send_as(Method::POST, "/api/v1/gallery", &token, Some(&body))
                .await
        }
    };
    assert_eq!(
        add(
            &salon.user,
            json!({"imageUrl": "https://img.example.com/a.jpg"})
        )
        .await
        .0,
        403
    );
    for bad in [
        "/local/a.jpg",
        "javascript:alert(1)",
        "ftp://x.example.com/a.jpg",
        "https://",
    ] {
        let (status, answer) = add(&salon.admin, json!({"imageUrl": bad})).await;
        assert_eq!(
            (status, answer["errors"][0]["field"].clone()),
            (400, json!("imageUrl")),
            "{bad}"
        );
    }
    let (status, _) = add(
        &salon.admin,
        json!({"imageUrl": "https://img.example.com/a.jpg", "expertId": uuid::Uuid::new_v4()}),
    )
    .await;
    assert_eq!(status, 404);
    let (status, image) = add(
        &salon.admin,
        json!({"imageUrl": "https://img.example.com/a.jpg", "caption": "Bob", "expertId": salon.experts[0]}),
    )
    .await;
    assert_eq!(status, 201, "{image}");
    add(
        &salon.admin,
        json!({"imageUrl": "http://img.example.com/b.jpg", "serviceId": salon.service}),
    )
    .await;
    let (_, by_expert) = json(
        app.get(&format!("/api/v1/gallery?expertId={}", salon.experts[0]))
            .await,
    )
    .await;
    assert_eq!(by_expert["data"]["total"], 1);
    let (_, all) = json(app.get("/api/v1/gallery").await).await;
    assert_eq!(all["data"]["total"], 2);
    let id = image["data"]["image"]["id"].as_str().unwrap();
    let path = format!("/api/v1/gallery/{id}");
    assert_eq!(
        app.send_as(Method::DELETE, &path, &salon.user, None)
            .await
            .0,
        403
    );
    assert_eq!(
        app.send_as(Method::DELETE, &path, &salon.admin, None)
            .await
            .0,
        200
    );
    assert_eq!(
        app.send_as(Method::DELETE, &path, &salon.admin, None)
            .await
            .0,
        404
    );
}

async fn course(app: &TestApp, admin: &str, seats: i64) -> String {
    let body = json!({"title": "Colouring basics", "price": 500000, "startsOn": "2030-03-01", "seats": seats});
    let (status, created) = app
        .send_as(Method::POST, "/api/v1/courses", admin, Some(&body))
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["data"]["course"]["seatsTaken"], 0);
    created["data"]["course"]["id"].as_str().unwrap().to_owned()
}

#[actix_web::test]
async fn twenty_concurrent_approvals_on_five_seats_approve_exactly_five() {
    let app = spawn_app_with(|settings| {
        settings.rate_limit.enabled = false;
        settings.database.pool_size = 16;
    })
    .await;
    let salon = salon(&app).await;
    let course = course(&app, &salon.admin, 5).await;
    let mut applications = Vec::new();
    for n in 0..20 {
        let email = format!("student{n}@example.com");
        verified_user(&app, &email, "user").await;
        let (token, _) = sign_in(&app, &email).await;
        let (status, applied) = app
            .send_as(
                Method::POST,
                &format!("/api/v1/courses/{course}/apply"),
                &token,
                Some(&json!({"message": "Please"})),
            )
            .await;
        assert_eq!(status, 201, "{applied}");
        assert_eq!(applied["data"]["application"]["status"], "pending");
        applications.push(
            applied["data"]["application"]["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let approvals = applications.iter().map(|id| {
        let path = format!("/api/v1/course-applications/{id}/status");
        let admin = salon.admin.clone();
        let app = &app;
        async move {
            app.send_as(
                Method::PUT,
                &path,
                &admin,
                Some(&json!({"status": "approved"})),
            )
            .await
            .0
        }
    });
    let answers = futures_util::future::join_all(approvals).await;
    assert_eq!(
        answers.iter().filter(|status| **status == 200).count(),
        5,
        "{answers:?}"
    );
    assert_eq!(answers.iter().filter(|status| **status == 409).count(), 15);
    let (_, shown) = json(app.get(&format!("/api/v1/courses/{course}")).await).await;
    assert_eq!(shown["data"]["course"]["seatsTaken"], 5);
    let (_, approved) = app
        .send_as(
            Method::GET,
            &format!("/api/v1/course-applications?courseId={course}&status=approved"),
            &salon.admin,
            None,
        )
        .await;
    assert_eq!(approved["data"]["total"], 5);
    // Full: a new application is refused.
    let (status, _) = app
        .send_as(
            Method::POST,
            &format!("/api/v1/courses/{course}/apply"),
            &salon.user,
            Some(&json!({})),
        )
        .await;
    assert_eq!(status, 409);
}

#[actix_web::test]
async fn an_applicant_applies_once_and_hears_the_decision_live() {
    let app = spawn_app().await;
    let salon = salon(&app).await;
    let course = course(&app, &salon.admin, 3).await;
    let apply = format!("/api/v1/courses/{course}/apply");
    let (status, applied) = app
        .send_as(Method::POST, &apply, &salon.user, Some(&json!({})))
        .await;
    assert_eq!(status, 201);
    assert_eq!(
        app.send_as(Method::POST, &apply, &salon.user, Some(&json!({})))
            .await
            .0,
        409,
        "once"
    );
    let missing = format!("/api/v1/courses/{}/apply", uuid::Uuid::new_v4());
    assert_eq!(
        app.send_as(Method::POST, &missing, &salon.user, Some(&json!({})))
            .await
            .0,
        404
    );
    let (status, mine) = app
        .send_as(
            Method::GET,
            "/api/v1/course-applications/my",
            &salon.user,
            None,
        )
        .await;
    assert_eq!((status, mine["data"]["total"].clone()), (200, json!(1)));
    assert_eq!(
        app.send_as(
            Method::GET,
            "/api/v1/course-applications",
            &salon.user,
            None
        )
        .await
        .0,
        403
    );
    let id = applied["data"]["application"]["id"].as_str().unwrap();
    let decide = format!("/api/v1/course-applications/{id}/status");
    assert_eq!(
        app.send_as(
            Method::PUT,
            &decide,
            &salon.user,
            Some(&json!({"status": "approved"}))
        )
        .await
        .0,
        403
    );
    assert_eq!(
        app.send_as(
            Method::PUT,
            &decide,
            &salon.admin,
            Some(&json!({"status": "maybe"}))
        )
        .await
        .0,
        400
    );
    let mut socket = open(&app, &salon.user).await;
    let (status, decided) = app
        .send_as(
            Method::PUT,
            &decide,
            &salon.admin,
            Some(&json!({"status": "rejected"})),
        )
        .await;
    assert_eq!(status, 200, "{decided}");
    let notice = socket.expect("notification:created").await;
    assert_eq!(
        notice["data"]["notification"]["kind"],
        "course_application_rejected"
    );
    assert_eq!(notice["data"]["notification"]["data"]["applicationId"], id);
    assert_eq!(
        app.send_as(
            Method::PUT,
            &decide,
            &salon.admin,
            Some(&json!({"status": "rejected"}))
        )
        .await
        .0,
        409
    );
    // Courses: public reads, admin writes.
    let (status, list) = json(app.get("/api/v1/courses").await).await;
    assert_eq!(status, 200);
    assert_eq!(list["data"]["items"][0]["title"], "Colouring basics");
    let body = json!({"title": "x", "price": 1, "startsOn": "2030-01-01", "seats": 1});
    assert_eq!(
        app.send_as(Method::POST, "/api/v1/courses", &salon.user, Some(&body))
            .await
            .0,
        403
    );
    let bad = json!({"title": "", "price": -1, "seats": 0});
    let (status, answer) = app
        .send_as(Method::POST, "/api/v1/courses", &salon.admin, Some(&bad))
        .await;
    assert_eq!(status, 400);
    let fields: Vec<&str> = answer["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["title", "price", "startsOn", "seats"]);
    let path = format!("/api/v1/courses/{course}");
    let (status, _) = app
        .send_as(
            Method::PUT,
            &path,
            &salon.admin,
            Some(&json!({"title": "Colour, advanced"})),
        )
        .await;
    assert_eq!(status, 200);
    let (_, after) = json(app.get("/api/v1/courses").await).await;
    assert_eq!(
        after["data"]["items"][0]["title"], "Colour, advanced",
        "no stale cached read"
    );
    assert_eq!(
        app.send_as(Method::DELETE, &path, &salon.admin, None)
            .await
            .0,
        200
    );
    assert_eq!(json(app.get(&path).await).await.0, 404);
}

#[actix_web::test]
async fn deleting_a_reviewer_recomputes_the_experts_rating() {
    let app = spawn_app().await;
    let salon = salon(&app).await;
    let done = completed(&app, &salon, 2).await;
    for (appointment, rating) in done.iter().zip([5, 2]) {
        let body = json!({"appointmentId": appointment, "rating": rating});
        assert_eq!(
            app.send_as(Method::POST, "/api/v1/reviews", &salon.user, Some(&body))
                .await
                .0,
            201
        );
    }
    assert_eq!(expert(&app, &salon.experts[0]).await["rating"], json!(3.5));
    let client = app.db.get().await.unwrap();
    let customer: String = client
        .query_one(
            "SELECT id::text FROM users WHERE email = 'client@example.com'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let (status, _) = app
        .send_as(
            Method::DELETE,
            &format!("/api/v1/users/{customer}"),
            &salon.admin,
            None,
        )
        .await;
    assert_eq!(status, 200);
    let rated = expert(&app, &salon.experts[0]).await;
    assert_eq!(
        (rated["rating"].clone(), rated["totalReviews"].clone()),
        (json!(0.0), json!(0))
    );
}

#[actix_web::test]
async fn seats_follow_decisions_and_an_inactive_course_takes_no_applications() {
    let app = spawn_app().await;
    let salon = salon(&app).await;
    let course = course(&app, &salon.admin, 1).await;
    let (_, applied) = app
        .send_as(
            Method::POST,
            &format!("/api/v1/courses/{course}/apply"),
            &salon.user,
            Some(&json!({})),
        )
        .await;
    let decide = format!(
        "/api/v1/course-applications/{}/status",
        applied["data"]["application"]["id"].as_str().unwrap()
    );
    let status_to = |status: &'static str| {
        let app = &app;
        let admin = salon.admin.clone();
        let decide = decide.clone();
        async move {
            app.send_as(
                Method::PUT,
                &decide,
                &admin,
                Some(&json!({ "status": status })),
            )
            .await
            .0
        }
    };
    assert_eq!(status_to("approved").await, 200);
    let path = format!("/api/v1/courses/{course}");
    let (_, shown) = json(app.get(&path).await).await;
    assert_eq!(shown["data"]["course"]["seatsTaken"], 1);
    let (status, _) = app
        .send_as(Method::PUT, &path, &salon.admin, Some(&json!({"seats": 0})))
        .await;
    assert_eq!(status, 400);
    assert_eq!(status_to("rejected").await, 200);
    let (_, shown) = json(app.get(&path).await).await;
    assert_eq!(
        shown["data"]["course"]["seatsTaken"], 0,
        "a rejection frees the seat"
    );
    let (status, _) = app
        .send_as(
            Method::PUT,
            &path,
            &salon.admin,
            Some(&json!({"isActive": false})),
        )
        .await;
    assert_eq!(status, 200);
    verified_user(&app, "late@example.com", "user").await;
    let (late, _) = sign_in(&app, "late@example.com").await;
    let (status, _) = app
        .send_as(
            Method::POST,
            &format!("/api/v1/courses/{course}/apply"),
            &late,
            Some(&json!({})),
        )
        .await;
    assert_eq!(status, 404, "an inactive course is not there to apply to");
}
