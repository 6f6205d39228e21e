//! The booking backend (seed 002): a catalogue of categories, services and sub-services, experts
//! and their availability, offers, appointments that expire when unpaid, and the notifications
//! that tell a user what happened to theirs.

pub mod applications;
pub mod appointments;
pub mod cache;
pub mod catalog;
pub mod courses;
pub mod demo;
pub mod experts;
pub mod expiry;
pub mod gallery;
pub mod input;
pub mod mails;
pub mod moves;
pub mod notifications;
pub mod offers;
pub mod reviews;
pub mod schedule;
pub mod services;
pub mod stats;

use actix_web::web;
use deadpool_postgres::GenericClient;
use hub_actors::Event;
use serde_json::json;
use uuid::Uuid;

/// The topic of catalogue changes (any signed-in user).
pub const CATALOG: &str = "catalog";
/// The topic of every appointment change (admins); each also goes to `user:<owner>`.
pub const APPOINTMENTS: &str = "appointments";

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.configure(catalog::routes)
        .configure(services::routes)
        .configure(experts::routes)
        .configure(offers::routes)
        .configure(appointments::routes)
        .configure(moves::routes)
        .configure(notifications::routes)
        .configure(reviews::routes)
        .configure(gallery::routes)
        .configure(courses::routes)
        .configure(applications::routes)
        .configure(stats::routes);
}

/// Records `catalog:changed {kind, id, action}` in the change's transaction, and moves the
/// catalogue cache's generation on in it (so no cached read outlives the change).
pub async fn catalog_changed(
    client: &impl GenericClient,
    kind: &str,
    id: Uuid,
    action: &str,
) -> Result<(), tokio_postgres::Error> {
    cache::bump(client).await?;
    let event = Event::new(
        CATALOG,
        "catalog:changed",
        json!({ "kind": kind, "id": id, "action": action }),
    );
    crate::events::record(client, &event).await
}

/// What can be retired: a service or an expert (appointments refer to both).
#[derive(Clone, Copy)]
pub enum Retirable {
    Service,
    Expert,
}

impl Retirable {
    fn names(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Retirable::Service => ("services", "service_id", "service"),
            Retirable::Expert => ("experts", "expert_id", "expert"),
        }
    }
}

/// Deletes a service or an expert, or deactivates it when appointments refer to it (they keep
/// their history), with its `catalog:changed`; answers whether it was only deactivated.
pub async fn retire(
    client: &impl GenericClient,
    what: Retirable,
    id: Uuid,
) -> crate::error::AppResult<bool> {
    let (table, column, kind) = what.names();
    client
        .query_opt(
            &format!("SELECT 1 FROM {table} WHERE id = $1 FOR UPDATE"),
            &[&id],
        )
        .await?
        .ok_or_else(|| input::not_found(kind))?;
    let booked: bool = client
        .query_one(
            &format!("SELECT EXISTS (SELECT 1 FROM appointments WHERE {column} = $1)"),
            &[&id],
        )
        .await?
        .get(0);
    let sql = if booked {
        format!(
            "UPDATE {table} SET is_active = false, updated_at = clock_timestamp() WHERE id = $1"
        )
    } else {
        format!("DELETE FROM {table} WHERE id = $1")
    };
    client.execute(&sql, &[&id]).await?;
    let action = if booked { "updated" } else { "deleted" };
    catalog_changed(client, kind, id, action).await?;
    Ok(booked)
}
