//! `hub dev`'s first five minutes: the demo owner, brand and domains on an empty database, and the
//! demo checker reporting through the real checker routes.

use hub::domains::demo;

use crate::auth::login;
use crate::helpers::spawn_app;
use crate::live::open;

#[actix_web::test]
async fn an_empty_database_gets_a_demo_owner_and_the_demo_checker_flips_rows_live() {
    let app = spawn_app().await;
    let mut client = app.db.get().await.unwrap();
    let owner = demo::seed_if_empty(&mut client, &app.settings.auth)
        .await
        .unwrap()
        .expect("a demo owner on an empty database");
    assert!(owner.password.len() >= 16);
    assert!(
        demo::seed_if_empty(&mut client, &app.settings.auth)
            .await
            .unwrap()
            .is_none(),
        "once"
    );
    let (status, signed_in) = login(&app, owner.email, &owner.password).await;
    assert_eq!(status, 200, "{signed_in}");
    assert_eq!(signed_in["data"]["user"]["role"], "owner");
    let token = signed_in["data"]["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut dashboard = open(&app, &token).await;

    let key = demo::checker_key(&client).await.unwrap().expect("a key");
    let again = demo::checker_key(&client)
        .await
        .unwrap()
        .expect("a new key");
    let http = reqwest::Client::new();
    let stale = demo::check_round(&http, &app.address, &key).await;
    assert!(stale.is_err(), "the previous run's key is revoked");
    let reported = demo::check_round(&http, &app.address, &again)
        .await
        .unwrap();
    assert_eq!(reported, 3);
    let update = dashboard.expect("domain:nawala-updated").await;
    assert!(update["data"]["domain"]
        .as_str()
        .unwrap()
        .ends_with(".example.com"));
    let checked: i64 = client
        .query_one(
            "SELECT count(*) FROM domains WHERE nawala_status IS NOT NULL",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!((1..=3).contains(&checked), "{checked}");
    let total: i64 = client
        .query_one("SELECT count(*) FROM domains", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(total, 36);
}
