//! `resume`: a storm of reconnections. N sessions come back at once, each resuming `--behind`
//! events in the past (`GET /ws?since=<id>`), while watchers already live keep receiving events
//! sent at `--rate`: the time until every resumed session is live, what each replayed, and the
//! watchers' latency before and during the storm (does live delivery stall?).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::Context;
use futures_util::StreamExt;
use serde_json::Value;
use tokio::sync::{watch, Semaphore};
use tokio_tungstenite::tungstenite::Message;

use crate::fanout::{server_address, source_address, Watcher};
use crate::hub::{reported_status, Hub};
use crate::stats::{millis, CpuMeter, Report, Samples};

#[derive(clap::Args, Debug)]
pub struct Options {
    /// Sessions resuming at once.
    #[arg(long, default_value_t = 10_000)]
    sessions: usize,
    /// How many events behind each resumes.
    #[arg(long, default_value_t = 1_000)]
    behind: usize,
    /// Sessions live all along, whose latency shows whether delivery stalls.
    #[arg(long, default_value_t = 100)]
    watchers: usize,
    /// Live events per second meanwhile.
    #[arg(long, default_value_t = 2.0)]
    rate: f64,
    /// Loopback source addresses (127.0.0.1, .2, …) to spread the sessions over.
    #[arg(long, default_value_t = 4)]
    sources: u8,
    /// The pid of `hub serve`, to read its CPU time.
    #[arg(long)]
    server_pid: Option<u32>,
}

/// How long live events flow before the storm, to compare with during it.
const QUIET: Duration = Duration::from_secs(5);
/// The longest the storm is waited for.
const STORM_LIMIT: Duration = Duration::from_secs(300);

/// What one resuming session saw: when its `resumed` came, and what it said.
struct Resumed {
    after: Duration,
    replayed: u64,
    complete: bool,
}

/// Connects from `source` with `since`, and reads until `resumed`, which it tells `done` (or
/// `None` when it failed); then keeps reading until `stop`, as a live client does.
async fn resume(
    url: String,
    source: Ipv4Addr,
    server: SocketAddr,
    storm: Instant,
    opening: tokio::sync::OwnedSemaphorePermit,
    done: tokio::sync::mpsc::Sender<Option<Resumed>>,
    stop: watch::Receiver<bool>,
) {
    let resumed = resumed_then_live(url, source, server, storm, opening, &done, stop).await;
    if resumed.is_err() {
        let _ = done.send(None).await;
    }
}

async fn resumed_then_live(
    url: String,
    source: Ipv4Addr,
    server: SocketAddr,
    storm: Instant,
    opening: tokio::sync::OwnedSemaphorePermit,
    done: &tokio::sync::mpsc::Sender<Option<Resumed>>,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(IpAddr::V4(source), 0))?;
    let stream = socket.connect(server).await?;
    let (mut ws, _) = tokio_tungstenite::client_async(url.as_str(), stream).await?;
    drop(opening);
    let resumed = loop {
        let Message::Text(text) = ws.next().await.context("closed before resumed")?? else {
            continue;
        };
        if text.contains(r#""event":"resumed""#) {
            let frame: Value = serde_json::from_str(&text)?;
            break Resumed {
                after: storm.elapsed(),
                replayed: frame["data"]["replayed"].as_u64().unwrap_or_default(),
                complete: frame["data"]["complete"] == true,
            };
        }
    };
    let _ = done.send(Some(resumed)).await;
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            message = ws.next() => if !matches!(message, Some(Ok(_))) { break },
        }
    }
    Ok(())
}

/// Reports a check of `id` as the checker, the `n`th of the run.
async fn report(hub: &Hub, key: &str, id: &str, n: usize) -> anyhow::Result<()> {
    let status = reported_status(n);
    hub.report(key, id, status)
        .send()
        .await?
        .error_for_status()?;
    Ok(())
}

/// The id of the newest event: a change is reported and a fresh session reads its frame.
async fn newest_event(hub: &Hub, key: &str, url: &str, domain: &str) -> anyhow::Result<String> {
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await?;
    report(hub, key, domain, 0).await?;
    while let Some(message) = ws.next().await {
        if let Message::Text(text) = message? {
            let frame: Value = serde_json::from_str(&text)?;
            if frame["event"] == "domain:nawala-updated" {
                return frame["id"].as_str().map(str::to_owned).context("no id");
            }
        }
    }
    anyhow::bail!("the probe closed before its event came")
}

pub async fn run(hub: &Hub, options: &Options) -> anyhow::Result<Report> {
    hub::cli::raise_open_file_limit();
    let live_events = (options.rate * (STORM_LIMIT + QUIET * 2).as_secs_f64()).ceil() as usize;
    // The probe's, the missed ones, the live ones.
    let ids = hub.domains(1 + options.behind + live_events).await?;
    let key = hub.key().await?;
    let server = server_address(&hub.base).await?;
    let url = format!(
        "{}/ws?token={}",
        hub.base.replacen("http", "ws", 1),
        hub.token
    );
    let since = newest_event(hub, &key, &url, &ids[0]).await?;

    let missed = &ids[1..=options.behind];
    let sending = Arc::new(Semaphore::new(16));
    let mut reports = Vec::with_capacity(missed.len());
    for (n, id) in missed.iter().enumerate() {
        let permit = sending.clone().acquire_owned().await?;
        let (hub, key, id) = (hub.clone(), key.clone(), id.clone());
        reports.push(tokio::spawn(async move {
            let sent = report(&hub, &key, &id, n).await;
            drop(permit);
            sent
        }));
    }
    for sent in reports {
        sent.await??;
    }

    let live_ids = &ids[1 + options.behind..];
    let events: Arc<std::collections::HashMap<String, u32>> = Arc::new(
        live_ids
            .iter()
            .enumerate()
            .map(|(n, id)| (id.clone(), n as u32))
            .collect(),
    );
    let (stop_tx, stop_rx) = watch::channel(false);
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel(1024);
    let opening = Arc::new(Semaphore::new(256));
    let received = Arc::new(AtomicUsize::new(0));
    let mut watchers = Vec::new();
    for index in 0..options.watchers {
        let watcher = Watcher {
            index,
            source: source_address(index, options.sources),
            server,
            url: url.clone(),
        };
        watchers.push(tokio::spawn(watcher.run(
            events.clone(),
            received.clone(),
            ready_tx.clone(),
            opening.clone().acquire_owned().await?,
            stop_rx.clone(),
        )));
    }
    drop(ready_tx);
    while ready_rx.recv().await.is_some() {}

    // Live events all along, from before the storm until after it.
    let sent: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let flowing = Arc::new(AtomicBool::new(true));
    let sender = {
        let (hub, key, sent, flowing) = (hub.clone(), key.clone(), sent.clone(), flowing.clone());
        let live_ids = live_ids.to_vec();
        let interval = Duration::from_secs_f64(1.0 / options.rate.max(0.001));
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            for (n, id) in live_ids.iter().enumerate() {
                ticker.tick().await;
                if !flowing.load(Ordering::Relaxed) {
                    break;
                }
                sent.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(Instant::now());
                let (hub, key, id) = (hub.clone(), key.clone(), id.clone());
                tokio::spawn(async move { report(&hub, &key, &id, n).await });
            }
        })
    };
    tokio::time::sleep(QUIET).await;

    let cpu = CpuMeter::start(options.server_pid);
    let storm = Instant::now();
    let resume_url = format!("{url}&since={since}");
    let (done_tx, mut done_rx) = tokio::sync::mpsc::channel(options.sessions.max(1));
    let mut resumers = Vec::with_capacity(options.sessions);
    for index in 0..options.sessions {
        let permit = opening.clone().acquire_owned().await?;
        resumers.push(tokio::spawn(resume(
            resume_url.clone(),
            source_address(index, options.sources),
            server,
            storm,
            permit,
            done_tx.clone(),
            stop_rx.clone(),
        )));
    }
    drop(done_tx);
    // Every session is live once it has said `resumed`: wait for the last (or the limit).
    let deadline = tokio::time::Instant::now() + STORM_LIMIT;
    let mut live_after = Duration::ZERO;
    let mut resume_times = Samples::default();
    let (mut resumed, mut failed, mut complete, mut replayed) = (0, 0, 0, 0u64);
    while resumed + failed < options.sessions {
        match tokio::time::timeout_at(deadline, done_rx.recv()).await {
            Ok(Some(Some(outcome))) => {
                resumed += 1;
                complete += usize::from(outcome.complete);
                replayed += outcome.replayed;
                resume_times.push(outcome.after);
                live_after = live_after.max(outcome.after);
            }
            Ok(Some(None)) => failed += 1,
            Ok(None) | Err(_) => break,
        }
    }
    let storm_ended = storm + live_after;
    let server_cpu_ms = cpu.used_ms();
    tokio::time::sleep(QUIET).await;
    flowing.store(false, Ordering::Relaxed);
    sender.await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let _ = stop_tx.send(true);
    for resumer in resumers {
        let _ = resumer.await;
    }
    let sent = sent.lock().unwrap_or_else(PoisonError::into_inner).clone();
    let (mut before_storm, mut during_storm) = (Samples::default(), Samples::default());
    for watcher in watchers {
        for (event, at) in watcher.await.unwrap_or_default() {
            let Some(sent_at) = sent.get(event as usize) else {
                continue;
            };
            let latency = at.saturating_duration_since(*sent_at);
            if *sent_at < storm {
                before_storm.push(latency);
            } else if *sent_at <= storm_ended {
                during_storm.push(latency);
            }
        }
    }

    let mut report = Report::new("resume");
    report
        .add("sessions", options.sessions)
        .add("events_behind", options.behind)
        .add("sessions_resumed", resumed)
        .add("sessions_failed", failed)
        .add("resumed_complete", complete)
        .add("frames_replayed", replayed)
        .add("all_live_after_s", millis(live_after) / 1000.0)
        .add("resumed_after_ms", resume_times.summary())
        .add("watchers", options.watchers)
        .add("live_latency_before_storm_ms", before_storm.summary())
        .add("live_latency_during_storm_ms", during_storm.summary())
        .add("live_deliveries_during_storm", during_storm.len());
    if let Some(cpu_ms) = server_cpu_ms {
        report
            .add("server_cpu_s_during_storm", cpu_ms / 1000.0)
            .add(
                "server_cpu_us_per_replayed_frame",
                (cpu_ms * 1000.0 / replayed.max(1) as f64 * 100.0).round() / 100.0,
            );
    }
    Ok(report)
}
