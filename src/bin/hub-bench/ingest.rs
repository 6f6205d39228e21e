//! `ingest`: batches of results through `POST /api/v1/scans`; the time from the request to the
//! `scan:completed` event on a live session, the frames that session received per batch, results
//! applied per second, and the CPU the web and worker processes spent per batch.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use futures_util::StreamExt;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use crate::hub::Hub;
use crate::stats::{millis, per_second, CpuMeter, Report, Samples};

#[derive(clap::Args, Debug)]
pub struct Options {
    /// Batches to send, one after the other; each flips every domain's status.
    #[arg(long, default_value_t = 5)]
    batches: usize,
    /// Results per batch (one per bench domain).
    #[arg(long, default_value_t = 10_000)]
    size: usize,
    /// The pid of `hub serve`, to read its CPU time.
    #[arg(long)]
    server_pid: Option<u32>,
    /// The pid of `hub worker`, to read its CPU time.
    #[arg(long)]
    worker_pid: Option<u32>,
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
    let mut frames = 0;
    let server_cpu = CpuMeter::start(options.server_pid);
    let worker_cpu = CpuMeter::start(options.worker_pid);
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
        // Frames of earlier work (the domains' creation) are not this batch's.
        while let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(300), ws.next()).await {}
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
                    frames += 1;
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
        )
        .add("frames_per_batch", frames / options.batches.max(1));
    let per_batch = |ms: Option<f64>| ms.map(|ms| (ms / options.batches.max(1) as f64).round());
    if let Some(ms) = per_batch(server_cpu.used_ms()) {
        report.add("server_cpu_ms_per_batch", ms);
    }
    if let Some(ms) = per_batch(worker_cpu.used_ms()) {
        report.add("worker_cpu_ms_per_batch", ms);
    }
    Ok(report)
}
