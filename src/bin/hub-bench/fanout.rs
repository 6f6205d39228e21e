//! `fanout`: N signed-in WebSocket sessions, events at a set rate through `POST /api/urls/update`;
//! deliveries per second, latency from each request's send to each client's receipt, deliveries
//! missing, the server's CPU per delivery and its resident memory per open session. With
//! `--reference`, the same against the [reference server](crate::reference).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::sync::{watch, Semaphore};
use tokio_tungstenite::tungstenite::Message;

use crate::hub::Hub;
use crate::reference;
use crate::stats::{millis, per_second, CpuMeter, Report, Samples};

#[derive(clap::Args, Debug)]
pub struct Options {
    /// WebSocket sessions to hold open.
    #[arg(long, default_value_t = 10_000)]
    sessions: usize,
    /// Events per second.
    #[arg(long, default_value_t = 10.0)]
    rate: f64,
    /// Events to send in all (each on its own domain).
    #[arg(long, default_value_t = 300)]
    events: usize,
    /// Loopback source addresses (127.0.0.1, .2, …) to spread the sessions over.
    #[arg(long, default_value_t = 4)]
    sources: u8,
    /// The pid of `hub serve`, to read its CPU time and resident memory.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Drive the reference server (started by hub-bench) instead of the hub.
    #[arg(long)]
    pub reference: bool,
}

/// What the sessions connect to and the events are sent through.
enum Target {
    Hub {
        hub: Hub,
        key: String,
    },
    Reference {
        server: reference::Child,
        publisher: Box<tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>>,
    },
}

impl Target {
    /// Sends event `n` (on domain `id`); for the hub, answers the request to await.
    async fn send(
        &mut self,
        n: usize,
        id: &str,
    ) -> anyhow::Result<Option<tokio::task::JoinHandle<reqwest::Result<reqwest::Response>>>> {
        let status = crate::hub::reported_status(n);
        match self {
            Target::Hub { hub, key } => Ok(Some(tokio::spawn(hub.report(key, id, status).send()))),
            Target::Reference { publisher, .. } => {
                // The hub's frame for the same change, as far as the bench reads it.
                let frame = json!({
                    "event": "domain:nawala-updated",
                    "topic": "domains",
                    "id": format!("00000001:{n}-0"),
                    "data": {
                        "domainId": id,
                        "domain": crate::hub::domain_name(n),
                        "brandId": id,
                        "nawala": {"status": status, "checkedAt": "2026-11-22T00:00:00Z"},
                        "updatedAt": "2026-11-22T00:00:00Z",
                    },
                });
                publisher.send(Message::text(frame.to_string())).await?;
                Ok(None)
            }
        }
    }
}

/// Resident memory of `pid` in bytes, from /proc.
fn resident_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The id in `"domainId":"<id>"` of a `domain:nawala-updated` frame, without parsing it all.
fn domain_id(frame: &str) -> Option<&str> {
    if !frame.contains("domain:nawala-updated") {
        return None;
    }
    let start = frame.find(r#""domainId":""#)? + 12;
    frame.get(start..start + 36)
}

/// The loopback address session `index` connects from, one of `sources` (127.0.0.1, .2, …): one
/// source address has too few ports for 10,000 sessions beside everything else.
pub fn source_address(index: usize, sources: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, 1 + (index % sources.max(1) as usize) as u8)
}

pub async fn server_address(base: &str) -> anyhow::Result<SocketAddr> {
    let host = base
        .split("://")
        .nth(1)
        .unwrap_or(base)
        .split('/')
        .next()
        .unwrap_or_default();
    tokio::net::lookup_host(host)
        .await?
        .find(SocketAddr::is_ipv4)
        .context("the hub's address does not resolve to IPv4")
}

type Receipts = Vec<(u32, Instant)>;

/// A live session recording when each event arrives.
pub struct Watcher {
    pub index: usize,
    pub source: Ipv4Addr,
    pub server: SocketAddr,
    pub url: String,
}

impl Watcher {
    /// Connects, reads the hello, then records when each event arrives until `stop`.
    pub async fn run(
        self,
        events: Arc<std::collections::HashMap<String, u32>>,
        received: Arc<AtomicUsize>,
        ready: tokio::sync::mpsc::Sender<bool>,
        opening: tokio::sync::OwnedSemaphorePermit,
        mut stop: watch::Receiver<bool>,
    ) -> Receipts {
        let connected = async {
            let socket = tokio::net::TcpSocket::new_v4()?;
            socket.bind(SocketAddr::new(IpAddr::V4(self.source), 0))?;
            let stream = socket.connect(self.server).await?;
            let (mut ws, _) = tokio_tungstenite::client_async(self.url.as_str(), stream).await?;
            ws.next().await.context("no hello")??;
            anyhow::Ok(ws)
        }
        .await;
        drop(opening);
        let mut ws = match connected {
            Ok(ws) => {
                let _ = ready.send(true).await;
                ws
            }
            Err(error) => {
                if self.index < 3 {
                    eprintln!("session {}: {error:#}", self.index);
                }
                let _ = ready.send(false).await;
                return Vec::new();
            }
        };
        drop(ready);
        let mut receipts = Vec::new();
        loop {
            tokio::select! {
                _ = stop.changed() => break,
                message = ws.next() => match message {
                    Some(Ok(Message::Text(text))) => {
                        if let Some(event) = domain_id(&text).and_then(|id| events.get(id)) {
                            receipts.push((*event, Instant::now()));
                            received.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Some(Ok(_)) => {}
                    _ => break,
                },
            }
        }
        receipts
    }
}

/// Ids shaped like the hub's domain ids, for the reference server's events.
fn reference_ids(count: usize) -> Vec<String> {
    (0..count)
        .map(|n| format!("{n:08x}-0000-4000-8000-{n:012x}"))
        .collect()
}

pub async fn run(hub: Option<Hub>, options: &Options) -> anyhow::Result<Report> {
    hub::cli::raise_open_file_limit();
    let (mut target, ids, base, token) = match hub {
        Some(hub) if !options.reference => {
            let ids = hub.domains(options.events.max(1)).await?;
            let key = hub.key().await?;
            let (base, token) = (hub.base.clone(), hub.token.clone());
            (Target::Hub { hub, key }, ids, base, token)
        }
        _ => {
            let server = reference::Child::start().await?;
            let base = format!("http://{}", server.address);
            let stream = tokio::net::TcpStream::connect(server.address).await?;
            let (publisher, _) = tokio_tungstenite::client_async(
                format!("{base}/publish").replacen("http", "ws", 1),
                stream,
            )
            .await?;
            let ids = reference_ids(options.events.max(1));
            (
                Target::Reference {
                    server,
                    publisher: Box::new(publisher),
                },
                ids,
                base,
                String::new(),
            )
        }
    };
    let server_pid = match &target {
        Target::Reference { server, .. } => server.pid(),
        Target::Hub { .. } => options.server_pid,
    };
    let events: Arc<std::collections::HashMap<String, u32>> = Arc::new(
        ids.iter()
            .enumerate()
            .map(|(n, id)| (id.clone(), n as u32))
            .collect(),
    );
    let server = server_address(&base).await?;
    let url = format!("{}/ws?token={token}", base.replacen("http", "ws", 1));
    let memory_before = server_pid.and_then(resident_bytes);

    let received = Arc::new(AtomicUsize::new(0));
    let (stop_tx, stop_rx) = watch::channel(false);
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel(1024);
    let opening = Arc::new(Semaphore::new(256));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(options.sessions);
    for index in 0..options.sessions {
        let session = Watcher {
            index,
            source: source_address(index, options.sources),
            server,
            url: url.clone(),
        };
        let permit = opening.clone().acquire_owned().await?;
        tasks.push(tokio::spawn(session.run(
            events.clone(),
            received.clone(),
            ready_tx.clone(),
            permit,
            stop_rx.clone(),
        )));
    }
    drop(ready_tx);
    let mut open = 0;
    for _ in 0..options.sessions {
        if ready_rx.recv().await == Some(true) {
            open += 1;
        }
    }
    let opened_in = started.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let memory_idle = server_pid.and_then(resident_bytes);

    let cpu = CpuMeter::start(server_pid);
    let interval = Duration::from_secs_f64(1.0 / options.rate.max(0.001));
    let mut ticker = tokio::time::interval(interval);
    let mut sent = Vec::with_capacity(ids.len());
    let sending = Instant::now();
    let mut requests = Vec::new();
    for (n, id) in ids.iter().enumerate() {
        ticker.tick().await;
        sent.push(Instant::now());
        requests.extend(target.send(n, id).await?);
    }
    let mut failed_requests = 0;
    for request in requests {
        if !matches!(request.await, Ok(Ok(response)) if response.status().is_success()) {
            failed_requests += 1;
        }
    }
    let expected = open * ids.len();
    let deadline = Instant::now() + Duration::from_secs(10);
    while received.load(Ordering::Relaxed) < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let window = sending.elapsed();
    let server_cpu_ms = cpu.used_ms();
    let _ = stop_tx.send(true);
    let mut latencies = Samples::default();
    // The last receipt of each event: how long its whole fan-out took.
    let mut fanned_out = vec![Duration::ZERO; sent.len()];
    let mut delivered = 0;
    for task in tasks {
        let receipts = task.await.unwrap_or_default();
        let mut seen = std::collections::HashSet::new();
        for (event, at) in receipts {
            if seen.insert(event) {
                delivered += 1;
                let latency = at.saturating_duration_since(sent[event as usize]);
                latencies.push(latency);
                let last = &mut fanned_out[event as usize];
                *last = (*last).max(latency);
            }
        }
    }
    let mut slowest: Vec<(usize, Duration)> = fanned_out.into_iter().enumerate().collect();
    slowest.sort_by_key(|(_, took)| std::cmp::Reverse(*took));
    let slowest: Vec<String> = slowest
        .iter()
        .take(5)
        .map(|(event, took)| {
            let at = sent[*event].saturating_duration_since(sending);
            format!(
                "#{event} at {:.1} s: {} ms",
                at.as_secs_f64(),
                millis(*took)
            )
        })
        .collect();

    let mut report = Report::new("fanout");
    report
        .add(
            "server",
            if matches!(target, Target::Reference { .. }) {
                "reference (tokio broadcast over WebSockets)"
            } else {
                "hub"
            },
        )
        .add("sessions_open", open)
        .add(
            "sessions_opened_in_s",
            (opened_in.as_secs_f64() * 10.0).round() / 10.0,
        )
        .add("events_sent", ids.len())
        .add("event_requests_failed", failed_requests)
        .add("deliveries", delivered)
        .add("deliveries_missing", expected - delivered.min(expected))
        .add("deliveries_per_s", per_second(delivered, window))
        .add("latency_ms", latencies.summary())
        .add("slowest_fan_outs", slowest);
    if let Some(cpu_ms) = server_cpu_ms {
        report.add("server_cpu_s", cpu_ms / 1000.0).add(
            "server_cpu_us_per_delivery",
            (cpu_ms * 1000.0 / delivered.max(1) as f64 * 100.0).round() / 100.0,
        );
    }
    if let (Some(before), Some(idle)) = (memory_before, memory_idle) {
        report
            .add("server_rss_before_mib", before / (1 << 20))
            .add("server_rss_idle_sessions_mib", idle / (1 << 20))
            .add(
                "server_bytes_per_session",
                idle.saturating_sub(before) / open.max(1) as u64,
            );
    }
    Ok(report)
}
