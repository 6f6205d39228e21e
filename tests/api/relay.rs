//! The relay's own guarantees: a relay that takes over does not relay again what its predecessor
//! appended before dying, and a relay that lost its turn cannot append at all.

use std::time::Duration;

use redis::AsyncCommands;
use serde_json::json;

use crate::helpers::{prepared_settings, spawn_app, start};
use crate::plumbing::wait_for_entries;

fn keys(app_namespace: &str) -> (String, String) {
    (
        format!("{app_namespace}events"),
        format!("{app_namespace}events:meta"),
    )
}

#[actix_web::test]
async fn a_relay_taking_over_does_not_relay_again_what_its_predecessor_appended() {
    let settings = prepared_settings(|_| {}).await;
    let (stream, meta) = keys(&settings.redis.namespace);
    // As a relay that died between its append and its delete leaves things.
    let db = hub::db::connect(&settings.database.url, 1).unwrap();
    let client = db.get().await.unwrap();
    let first = hub_actors::Event::new("domains", "test:once", json!({"n": 1}));
    hub::events::record(&client, &first).await.unwrap();
    let uid: uuid::Uuid = client
        .query_one("SELECT uid FROM event_outbox", &[])
        .await
        .unwrap()
        .get(0);
    let mut redis = hub::redis_client::connect(&settings.redis).unwrap();
    let uid = uid.simple().to_string();
    let fields = [
        ("topic", "domains"),
        ("event", "test:once"),
        ("data", r#"{"n":1}"#),
        ("epoch", "0000abcd"),
        ("n", "1"),
        ("uid", uid.as_str()),
    ];
    let _: String = redis.xadd(&stream, "*", &fields).await.unwrap();
    let _: () = redis
        .hset_multiple(&meta, &[("epoch", "0000abcd"), ("n", "1"), ("fence", "7")])
        .await
        .unwrap();

    let app = start(settings, None).await;
    assert_eq!(
        app.outbox_rows_settled().await,
        0,
        "the taken-over row is deleted"
    );
    let second = hub_actors::Event::new("domains", "test:once", json!({"n": 2}));
    hub::events::record(&client, &second).await.unwrap();
    let entries = wait_for_entries(&mut redis, &stream, 2).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let entries_after: redis::streams::StreamRangeReply = redis.xrange_all(&stream).await.unwrap();
    assert_eq!(entries_after.ids.len(), 2, "nothing relayed twice");
    let field = |n: usize, name: &str| -> String { entries.ids[n].get(name).unwrap() };
    assert_eq!(
        [field(0, "data"), field(1, "data")],
        [r#"{"n":1}"#.to_owned(), r#"{"n":2}"#.to_owned()]
    );
    assert_eq!(
        (field(1, "epoch"), field(1, "n")),
        ("0000abcd".into(), "2".into())
    );
}

#[actix_web::test]
async fn a_relay_whose_fence_term_is_stale_cannot_append() {
    let app = spawn_app().await;
    let (stream, meta) = keys(&app.settings.redis.namespace);
    let client = app.db.get().await.unwrap();
    let event = hub_actors::Event::new("domains", "test:fresh", json!({}));
    hub::events::record(&client, &event).await.unwrap();
    let mut redis = hub::redis_client::connect(&app.settings.redis).unwrap();
    wait_for_entries(&mut redis, &stream, 1).await;
    let term: i64 = redis.hget(&meta, "fence").await.unwrap();

    let appended: redis::RedisResult<i64> = redis::Script::new(hub::events::relay::APPEND)
        .key(&stream)
        .key(&meta)
        .arg(term - 1)
        .arg(100)
        .arg("deadbeef")
        .arg(uuid::Uuid::new_v4().simple().to_string())
        .arg("domains")
        .arg("test:stale")
        .arg("{}")
        .invoke_async(&mut redis)
        .await;
    let error = appended.expect_err("a stale term is refused");
    assert!(error.to_string().contains("FENCED"), "{error}");
    let entries: redis::streams::StreamRangeReply = redis.xrange_all(&stream).await.unwrap();
    assert_eq!(entries.ids.len(), 1, "nothing appended");
}
