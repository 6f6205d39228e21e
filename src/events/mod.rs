//! Events: every module announces a state change by recording an event row in the same
//! transaction as the change (the outbox, `event_outbox`). The [`relay`] moves committed rows
//! onto the Redis stream `events`, in order; each web process's bridge feeds its live clients from
//! there. So a change that commits is announced, however the process or Redis fares after.

pub mod relay;

use deadpool_postgres::GenericClient;
use hub_actors::Event;

/// Records `event` with the change it announces: call it inside that change's transaction, after
/// the statement that changed (and so locked) the object, so that two changes to one object are
/// recorded, and relayed, in the order they committed.
pub async fn record(
    client: &impl GenericClient,
    event: &Event,
) -> Result<(), tokio_postgres::Error> {
    record_all(client, std::slice::from_ref(event)).await
}

/// As [`record`], for many events, in order, in one statement.
pub async fn record_all(
    client: &impl GenericClient,
    events: &[Event],
) -> Result<(), tokio_postgres::Error> {
    if events.is_empty() {
        return Ok(());
    }
    let topics: Vec<&str> = events.iter().map(|event| event.topic.as_str()).collect();
    let names: Vec<&str> = events.iter().map(|event| event.name.as_str()).collect();
    let data: Vec<String> = events.iter().map(|event| event.data.to_string()).collect();
    client
        .execute(
            "INSERT INTO event_outbox (topic, name, data) \
             SELECT topic, name, data FROM unnest($1::text[], $2::text[], $3::text[]) \
               WITH ORDINALITY AS e(topic, name, data, ord) ORDER BY ord",
            &[&topics, &names, &data],
        )
        .await?;
    Ok(())
}
