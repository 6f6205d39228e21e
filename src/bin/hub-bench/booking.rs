//! `booking`: (1) concurrent booking attempts on one expert's day: how many succeed, and that no
//! two overlap; (2) many reservations expiring close together: how late each `appointment:expired`
//! reaches an admin's socket after its `expiresAt`, and the worker's CPU per expiry (run the hub
//! with a short `booking.reservation_ttl`); (3) cached against uncached catalogue reads.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use chrono::{DateTime, Utc};
use futures_util::{stream, StreamExt};
use reqwest::Method;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use crate::api::hammer;
use crate::hub::Hub;
use crate::stats::{per_second, CpuMeter, Report, Samples};

#[derive(clap::Args, Debug)]
pub struct Options {
    /// Concurrent attempts on one expert's day.
    #[arg(long, default_value_t = 1_000)]
    attempts: usize,
    /// Reservations made to expire (each its own expert and slot).
    #[arg(long, default_value_t = 10_000)]
    reservations: usize,
    /// Requests in flight while booking.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Seconds per catalogue endpoint.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// `hub worker`'s pid, to report its CPU per expiry.
    #[arg(long)]
    worker_pid: Option<u32>,
}

/// Start times of the default opening hours (09:00-18:00) on a 30-minute grid.
fn grid() -> Vec<String> {
    (18..36)
        .map(|half| format!("{:02}:{:02}", half / 2, (half % 2) * 30))
        .collect()
}

/// The date `offset` days from today in the default `booking.timezone`.
fn day(offset: u64) -> String {
    let today = Utc::now()
        .with_timezone(&chrono_tz::Asia::Jakarta)
        .date_naive();
    (today + chrono::Days::new(offset))
        .format("%Y-%m-%d")
        .to_string()
}

async fn created_id(hub: &Hub, path: &str, body: Value, name: &str) -> anyhow::Result<String> {
    let answer = hub.call(Method::POST, path, None, Some(&body)).await?;
    answer["data"][name]["id"]
        .as_str()
        .map(str::to_owned)
        .context("no id")
}

/// A category and a 30-minute service for this run; answers the service's id.
async fn service(hub: &Hub, run: &str) -> anyhow::Result<String> {
    let category = created_id(
        hub,
        "/api/v1/categories",
        json!({"name": format!("bench {run}")}),
        "category",
    )
    .await?;
    created_id(
        hub,
        "/api/v1/services",
        json!({"categoryId": category, "name": format!("bench {run}"), "price": 100000, "durationMinutes": 30}),
        "service",
    )
    .await
}

async fn expert(hub: &Hub, name: String, service: &str) -> anyhow::Result<String> {
    let id = created_id(hub, "/api/v1/experts", json!({ "name": name }), "expert").await?;
    hub.call(
        Method::PUT,
        &format!("/api/v1/experts/{id}/services"),
        None,
        Some(&json!({"serviceIds": [service]})),
    )
    .await?;
    Ok(id)
}

/// POST one booking; answers (status, body).
async fn book(hub: &Hub, body: &Value) -> (u16, Value) {
    let sent = hub
        .http
        .post(hub.url("/api/v1/appointments"))
        .bearer_auth(&hub.token)
        .json(body)
        .send()
        .await;
    match sent {
        Ok(response) => {
            let status = response.status().as_u16();
            (status, response.json().await.unwrap_or(Value::Null))
        }
        Err(_) => (0, Value::Null),
    }
}

async fn contended_day(
    hub: &Hub,
    service: &str,
    run: &str,
    options: &Options,
    report: &mut Report,
) -> anyhow::Result<()> {
    let expert = expert(hub, format!("contended {run}"), service).await?;
    let times = grid();
    let date = day(1);
    let started = Instant::now();
    let answers: Vec<(u16, Value)> = stream::iter(0..options.attempts)
        .map(|n| {
            let body = json!({"serviceId": service, "expertId": expert, "date": date,
                              "time": times[(n * 7 + n / 3) % times.len()], "payNow": true});
            async move { book(hub, &body).await }
        })
        .buffer_unordered(options.attempts)
        .collect()
        .await;
    let elapsed = started.elapsed();
    let count = |status: u16| answers.iter().filter(|(got, _)| *got == status).count();
    let listed = hub
        .call(
            Method::GET,
            &format!("/api/v1/appointments?expertId={expert}&limit=100"),
            None,
            None,
        )
        .await?;
    let mut spans: Vec<(String, String)> = listed["data"]["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|item| {
                    (
                        item["startsAt"].as_str().unwrap_or("").to_owned(),
                        item["endsAt"].as_str().unwrap_or("").to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    spans.sort();
    let overlaps = spans
        .windows(2)
        .filter(|pair| pair[1].0 < pair[0].1)
        .count();
    report
        .add("contended_attempts", options.attempts)
        .add("contended_created", count(201))
        .add("contended_conflicts", count(409))
        .add(
            "contended_other",
            options.attempts - count(201) - count(409),
        )
        .add("contended_free_slots", times.len())
        .add("contended_rows", spans.len())
        .add("contended_overlaps", overlaps)
        .add("contended_seconds", elapsed.as_secs_f64());
    Ok(())
}

/// Reads `appointment:expired` events off an admin socket, with when each arrived.
async fn watch_expiries(
    hub: &Hub,
    wanted: usize,
    deadline: Instant,
) -> anyhow::Result<HashMap<String, (DateTime<Utc>, DateTime<Utc>)>> {
    let url = format!(
        "{}/ws?token={}",
        hub.base.replacen("http", "ws", 1),
        hub.token
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(url.as_str()).await?;
    let mut seen = HashMap::new();
    while seen.len() < wanted {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(Some(message)) = tokio::time::timeout(left, ws.next()).await else {
            break;
        };
        let Message::Text(text) = message? else {
            continue;
        };
        let frame: Value = serde_json::from_str(&text)?;
        if frame["event"] != "appointment:expired" || frame["topic"] != "appointments" {
            continue;
        }
        let appointment = &frame["data"]["appointment"];
        let (Some(id), Some(expires)) = (
            appointment["id"].as_str(),
            appointment["expiresAt"].as_str(),
        ) else {
            continue;
        };
        seen.insert(id.to_owned(), (expires.parse()?, Utc::now()));
    }
    Ok(seen)
}

async fn expiring_together(
    hub: &Hub,
    service: &str,
    run: &str,
    options: &Options,
    report: &mut Report,
) -> anyhow::Result<()> {
    let times = grid();
    let per_expert = times.len() * 30;
    let experts_needed = options.reservations.div_ceil(per_expert);
    let mut experts = Vec::new();
    for n in 0..experts_needed {
        experts.push(expert(hub, format!("expiring {run} {n}"), service).await?);
    }
    let bodies: Vec<Value> = (0..options.reservations)
        .map(|n| {
            let (expert, rest) = (n / per_expert, n % per_expert);
            json!({"serviceId": service, "expertId": experts[expert], "date": day(2 + (rest / times.len()) as u64),
                   "time": times[rest % times.len()]})
        })
        .collect();
    // The watcher connects first, so no expiry goes by unseen.
    let watcher = {
        let hub = hub.clone();
        let wanted = options.reservations;
        tokio::spawn(async move {
            watch_expiries(&hub, wanted, Instant::now() + Duration::from_secs(3600)).await
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    let answers: Vec<(u16, Value)> = stream::iter(bodies.iter())
        .map(|body| book(hub, body))
        .buffer_unordered(options.concurrency)
        .collect()
        .await;
    let booking = started.elapsed();
    let made: Vec<&Value> = answers
        .iter()
        .filter(|(status, _)| *status == 201)
        .map(|(_, body)| body)
        .collect();
    if made.is_empty() {
        bail!("no reservation was made: {:?}", answers.first());
    }
    let expires: Vec<DateTime<Utc>> = made
        .iter()
        .filter_map(|body| {
            body["data"]["appointment"]["expiresAt"]
                .as_str()?
                .parse()
                .ok()
        })
        .collect();
    let first = expires.iter().min().copied().unwrap_or_else(Utc::now);
    let last = expires.iter().max().copied().unwrap_or_else(Utc::now);
    let mut per_second: HashMap<i64, usize> = HashMap::new();
    for at in &expires {
        *per_second.entry(at.timestamp()).or_default() += 1;
    }
    let wait = (first - Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(wait).await;
    let cpu = CpuMeter::start(options.worker_pid);
    let seen = watcher.await??;
    let mut lateness = Samples::default();
    for (expires_at, arrived) in seen.values() {
        lateness.push((*arrived - *expires_at).to_std().unwrap_or_default());
    }
    report
        .add("reservations_made", made.len())
        .add("reservations_booking_seconds", booking.as_secs_f64())
        .add(
            "reservations_expiring_over_seconds",
            (last - first).num_milliseconds() as f64 / 1000.0,
        )
        .add(
            "reservations_most_due_in_one_second",
            per_second.values().copied().max().unwrap_or(0),
        )
        .add("expired_seen", seen.len())
        .add("expiry_lateness_ms", lateness.summary());
    if let Some(used) = cpu.used_ms() {
        report.add("worker_cpu_ms_per_expiry", used / seen.len().max(1) as f64);
    }
    Ok(())
}

async fn catalogue_reads(hub: &Hub, options: &Options, report: &mut Report) {
    for (name, path) in [
        ("cached", "/api/v1/services?limit=20"),
        ("uncached", "/api/v1/services?limit=20&includeInactive=true"),
    ] {
        let (mut samples, failures, elapsed) =
            hammer(hub, path, ("x-bench", "1"), options.seconds, 32).await;
        report
            .add(
                &format!("catalogue_{name}_requests_per_s"),
                per_second(samples.len(), elapsed),
            )
            .add(&format!("catalogue_{name}_failures"), failures)
            .add(&format!("catalogue_{name}_latency_ms"), samples.summary());
    }
}

pub async fn run(hub: &Hub, options: &Options) -> anyhow::Result<Report> {
    let run = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let service = service(hub, &run).await?;
    let mut report = Report::new("booking");
    contended_day(hub, &service, &run, options, &mut report).await?;
    catalogue_reads(hub, options, &mut report).await;
    if options.reservations > 0 {
        expiring_together(hub, &service, &run, options, &mut report).await?;
    }
    Ok(report)
}
