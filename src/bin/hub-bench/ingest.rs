//! `ingest`: batches of results through `POST /api/v1/scans`; the time from the request to the
//! `scan:completed` event on a live session, and results applied per second.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use futures_util::StreamExt;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use crate::hub::Hub;
use crate::stats::{millis, per_second, Report, Samples};

#[derive(clap::Args, Debug)]
pub struct Options {
    /// Batches to send, one after the other; each flips every domain's status.
    #[arg(long, default_value_t = 5)]
    batches: usize,
    /// Results per batch (one per bench domain).
    #[arg(long, default_value_t = 10_000)]
    size: usize,
}

pub async fn run(hub: &Hub, options: &Options) -> anyhow::Result<Report> {
    let ids = hub.domains(options.size).await?;
    let key = hub.key().await?;
    let url = format!(
        "{}/ws?token={}",
        hub.base.replacen("http", "ws", 1),
        hub.token
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .context("opening a session")?;
    let run_id = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis();

    let mut accepted = Samples::default();
    let mut completed = Samples::default();
    let mut total_time = Duration::ZERO;
    for batch in 0..options.batches {
        let status = if batch % 2 == 0 {
            "blocked"
        } else {
            "accessible"
        };
        let results: Vec<Value> = ids
            .iter()
            .map(|id| json!({"id": id, "status": status}))
            .collect();
        let body = json!({"scanId": format!("bench-{run_id}-{batch}"), "results": results});
        let started = Instant::now();
        let response = hub
            .http
            .post(hub.url("/api/v1/scans"))
            .header("x-api-key", &key)
            .json(&body)
            .send()
            .await?;
        accepted.push(started.elapsed());
        let answer: Value = response.json().await?;
        let Some(batch_id) = answer["data"]["batchId"].as_str() else {
            bail!("the batch was not accepted: {answer}");
        };
        let wait = tokio::time::timeout(Duration::from_secs(120), async {
            while let Some(message) = ws.next().await {
                if let Message::Text(text) = message? {
                    if text.contains("scan:completed") && text.contains(batch_id) {
                        return anyhow::Ok(());
                    }
                }
            }
            bail!("the session closed")
        });
        wait.await.context("no scan:completed within 120 s")??;
        let elapsed = started.elapsed();
        completed.push(elapsed);
        total_time += elapsed;
    }
    let mut report = Report::new("ingest");
    report
        .add("batches", options.batches)
        .add("results_per_batch", ids.len())
        .add("accepted_ms", accepted.summary())
        .add("request_to_completed_ms", completed.summary())
        .add(
            "mean_request_to_completed_ms",
            millis(total_time / options.batches.max(1) as u32),
        )
        .add(
            "results_per_s",
            per_second(ids.len() * options.batches, total_time),
        );
    Ok(report)
}
