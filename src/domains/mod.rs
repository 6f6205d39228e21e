//! The domain block dashboard (seed 001): brands, their domains, each domain's Nawala status as
//! the checker reports it, and the checker's keys and scan batches.

pub mod brands;
pub mod checker;
pub mod history;
pub mod ingest;
pub mod keys;
pub mod model;
pub mod names;
pub mod routes;
pub mod scans;
pub mod store;

use actix_web::web;
use hub_actors::Event;
use serde::Serialize;
use serde_json::json;
use tokio_postgres::Row;

pub use model::Nawala;

use crate::state::AppState;

/// Topics of this module's events.
pub const DOMAINS: &str = "domains";
pub const BRANDS: &str = "brands";

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.configure(brands::routes)
        .configure(routes::routes)
        .configure(keys::routes)
        .configure(checker::routes)
        .configure(scans::routes);
}

fn event_of(topic: &str, name: &str, object: &impl Serialize) -> Event {
    Event::new(
        topic,
        name,
        serde_json::to_value(object).unwrap_or_default(),
    )
}

/// Announces a change to `object` on `topic`, after its commit.
pub async fn announce(state: &AppState, topic: &str, name: &str, object: &impl Serialize) {
    state
        .events
        .publish_logged(event_of(topic, name, object))
        .await;
}

/// As [`announce`], for many objects in one round trip.
pub async fn announce_all<T: Serialize>(state: &AppState, topic: &str, name: &str, objects: &[T]) {
    let events: Vec<Event> = objects
        .iter()
        .map(|object| event_of(topic, name, object))
        .collect();
    state.events.publish_all_logged(&events).await;
}

/// `domain:nawala-updated` for a `domains` row: the seed's event.
pub fn nawala_updated(row: &Row) -> Event {
    let domain_id: uuid::Uuid = row.get("id");
    let brand_id: uuid::Uuid = row.get("brand_id");
    let domain: String = row.get("domain");
    Event::new(
        DOMAINS,
        "domain:nawala-updated",
        json!({ "domainId": domain_id, "domain": domain, "brandId": brand_id, "nawala": Nawala::from_row(row) }),
    )
}
