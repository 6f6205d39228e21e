//! Profiles and the admin and owner rules.

use serde_json::json;

use crate::auth::{get_as, sign_in, verified_user};
use crate::helpers::{json, spawn_app, TestApp};

async fn send(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    json(
        app.http
            .request(method, app.url(path))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap(),
    )
    .await
}

#[actix_web::test]
async fn a_user_edits_their_profile_but_cannot_administer() {
    let app = spawn_app().await;
    verified_user(&app, "u@example.com", "user").await;
    let (token, _) = sign_in(&app, "u@example.com").await;
    let (status, body) = send(
        &app,
        reqwest::Method::PUT,
        "/api/v1/profile",
        &token,
        json!({"name": "New Name", "phone": "0812345678"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["user"]["name"], "New Name");
    let (status, _) = send(
        &app,
        reqwest::Method::PUT,
        "/api/v1/profile",
        &token,
        json!({"name": ""}),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(get_as(&app, "/api/v1/users", &token).await.0, 403);
    assert_eq!(app.get("/api/v1/profile").await.status(), 401);
}

#[actix_web::test]
async fn admins_manage_users_within_the_role_rules() {
    let app = spawn_app().await;
    let owner = verified_user(&app, "owner@example.com", "owner").await;
    let admin = verified_user(&app, "admin@example.com", "admin").await;
    let (admin_token, _) = sign_in(&app, "admin@example.com").await;
    let (owner_token, _) = sign_in(&app, "owner@example.com").await;
    let post = reqwest::Method::POST;

    let (status, body) = send(&app, post.clone(), "/api/v1/users", &admin_token,
        json!({"name": "Made", "email": "made@example.com", "password": "password123", "role": "user"})).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["data"]["user"]["emailVerified"], true);
    let made = body["data"]["user"]["id"].as_str().unwrap().to_owned();

    let (status, _) = send(&app, post.clone(), "/api/v1/users", &admin_token,
        json!({"name": "O2", "email": "o2@example.com", "password": "password123", "role": "owner"})).await;
    assert_eq!(status, 403, "only an owner creates an owner");
    let (status, _) = send(&app, post, "/api/v1/users", &owner_token,
        json!({"name": "O2", "email": "o2@example.com", "password": "password123", "role": "owner"})).await;
    assert_eq!(status, 201);

    let (status, body) = get_as(&app, "/api/v1/users?role=admin&limit=10", &admin_token).await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["total"], 1);
    assert_eq!(body["data"]["items"][0]["email"], "admin@example.com");
    let (status, body) = get_as(&app, "/api/v1/users?search=made", &admin_token).await;
    assert_eq!((status, body["data"]["total"].clone()), (200, json!(1)));
    assert_eq!(
        get_as(&app, "/api/v1/users?limit=101", &admin_token)
            .await
            .0,
        400
    );

    let owner_path = format!("/api/v1/users/{}", owner["id"].as_str().unwrap());
    let admin_path = format!("/api/v1/users/{}", admin["id"].as_str().unwrap());
    let made_path = format!("/api/v1/users/{made}");
    let put = reqwest::Method::PUT;
    let delete = reqwest::Method::DELETE;
    assert_eq!(
        send(
            &app,
            put.clone(),
            &owner_path,
            &admin_token,
            json!({"disabled": true})
        )
        .await
        .0,
        403,
        "only an owner touches an owner"
    );
    assert_eq!(
        send(&app, delete.clone(), &owner_path, &admin_token, json!({}))
            .await
            .0,
        403
    );
    assert_eq!(
        send(
            &app,
            put.clone(),
            &admin_path,
            &admin_token,
            json!({"role": "user"})
        )
        .await
        .0,
        403,
        "nobody demotes themself"
    );
    assert_eq!(
        send(&app, delete.clone(), &admin_path, &admin_token, json!({}))
            .await
            .0,
        403,
        "nobody deletes themself"
    );
    assert_eq!(
        send(
            &app,
            put.clone(),
            &made_path,
            &admin_token,
            json!({"role": "owner"})
        )
        .await
        .0,
        403
    );
    let (status, body) = send(
        &app,
        put,
        &made_path,
        &admin_token,
        json!({"role": "admin", "name": "Promoted"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["user"]["role"], "admin");
    assert_eq!(
        get_as(
            &app,
            "/api/v1/users/00000000-0000-0000-0000-000000000000",
            &admin_token
        )
        .await
        .0,
        404
    );
}

#[actix_web::test]
async fn a_deleted_or_disabled_users_token_fails_at_once() {
    let app = spawn_app().await;
    verified_user(&app, "admin@example.com", "admin").await;
    let gone = verified_user(&app, "gone@example.com", "user").await;
    let off = verified_user(&app, "off@example.com", "user").await;
    let (admin_token, _) = sign_in(&app, "admin@example.com").await;
    let (gone_token, _) = sign_in(&app, "gone@example.com").await;
    let (off_token, _) = sign_in(&app, "off@example.com").await;
    assert_eq!(get_as(&app, "/api/v1/profile", &gone_token).await.0, 200);

    let path = format!("/api/v1/users/{}", gone["id"].as_str().unwrap());
    assert_eq!(
        send(
            &app,
            reqwest::Method::DELETE,
            &path,
            &admin_token,
            json!({})
        )
        .await
        .0,
        200
    );
    assert_eq!(get_as(&app, "/api/v1/profile", &gone_token).await.0, 401);

    let path = format!("/api/v1/users/{}", off["id"].as_str().unwrap());
    assert_eq!(
        send(
            &app,
            reqwest::Method::PUT,
            &path,
            &admin_token,
            json!({"disabled": true})
        )
        .await
        .0,
        200
    );
    assert_eq!(get_as(&app, "/api/v1/profile", &off_token).await.0, 401);
}
