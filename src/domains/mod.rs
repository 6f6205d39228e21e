//! The domain block dashboard (seed 001): brands, their domains, each domain's Nawala status as
//! the checker reports it, and the checker's keys and scan batches.

pub mod brands;
pub mod checker;
pub mod demo;
pub mod history;
pub mod ingest;
pub mod keys;
pub mod model;
pub mod names;
pub mod routes;
pub mod scans;
pub mod store;

use actix_web::web;
use deadpool_postgres::GenericClient;
use hub_actors::Event;
use serde::Serialize;
use serde_json::{json, Value};
use tokio_postgres::Row;

pub use model::Nawala;

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

/// Records a change to `object` on `topic`, in the change's transaction.
pub async fn announce(
    client: &impl GenericClient,
    topic: &str,
    name: &str,
    object: &impl Serialize,
) -> Result<(), tokio_postgres::Error> {
    crate::events::record(client, &event_of(topic, name, object)).await
}

/// Events about many domains at once (a scan batch, an import) carry at most this many each
/// (API.md): 10,000 changes are 20 events for every session, not 10,000.
pub const CHANGES_PER_EVENT: usize = 500;

/// `name` events on `domains` about `items`, at most [`CHANGES_PER_EVENT`] each: every event is
/// `fields` with a chunk of the items under `list`.
pub fn in_chunks<T: Serialize>(name: &str, fields: Value, list: &str, items: &[T]) -> Vec<Event> {
    items
        .chunks(CHANGES_PER_EVENT)
        .map(|chunk| {
            let mut data = fields.clone();
            data[list] = json!(chunk);
            Event::new(DOMAINS, name, data)
        })
        .collect()
}

/// A domain's status as its events carry it: `{domainId, domain, brandId, nawala, updatedAt}`.
pub fn status_change(row: &Row) -> serde_json::Value {
    let domain_id: uuid::Uuid = row.get("id");
    let brand_id: uuid::Uuid = row.get("brand_id");
    let domain: String = row.get("domain");
    let updated_at: chrono::DateTime<chrono::Utc> = row.get("updated_at");
    json!({
        "domainId": domain_id,
        "domain": domain,
        "brandId": brand_id,
        "nawala": Nawala::from_row(row),
        "updatedAt": updated_at,
    })
}

/// `domain:nawala-updated` for a `domains` row: the seed's event.
pub fn nawala_updated(row: &Row) -> Event {
    Event::new(DOMAINS, "domain:nawala-updated", status_change(row))
}
