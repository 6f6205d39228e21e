//! `api`: requests per second and latency for `GET /api/v1/domains?limit=20` and `GET /api/urls`
//! with 10,000 domains.

use std::time::{Duration, Instant};

use crate::hub::Hub;
use crate::stats::{per_second, Report, Samples};

#[derive(clap::Args, Debug)]
pub struct Options {
    /// Seconds per endpoint.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Domains the hub holds while measured.
    #[arg(long, default_value_t = 10_000)]
    domains: usize,
}

/// Runs `concurrency` loops of one request for `seconds`; answers (latencies, failures, elapsed).
pub async fn hammer(
    hub: &Hub,
    path: &str,
    header: (&str, &str),
    seconds: u64,
    concurrency: usize,
) -> (Samples, usize, Duration) {
    let until = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let loops: Vec<_> = (0..concurrency)
        .map(|_| {
            let request = hub
                .http
                .get(hub.url(path))
                .bearer_auth(&hub.token)
                .header(header.0, header.1);
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut failures = 0;
                while Instant::now() < until {
                    let Some(request) = request.try_clone() else {
                        break;
                    };
                    let sent = Instant::now();
                    match request.send().await {
                        Ok(response) if response.status().is_success() => {
                            let _ = response.bytes().await;
                            latencies.push(sent.elapsed());
                        }
                        _ => failures += 1,
                    }
                }
                (latencies, failures)
            })
        })
        .collect();
    let mut samples = Samples::default();
    let mut failures = 0;
    for handle in loops {
        if let Ok((latencies, failed)) = handle.await {
            samples.extend(latencies);
            failures += failed;
        }
    }
    (samples, failures, started.elapsed())
}

pub async fn run(hub: &Hub, options: &Options) -> anyhow::Result<Report> {
    hub.domains(options.domains).await?;
    let key = hub.key().await?;
    let mut report = Report::new("api");
    report
        .add("domains", options.domains)
        .add("concurrency", options.concurrency);
    for (name, path, header) in [
        ("domains_page", "/api/v1/domains?limit=20", ("x-bench", "1")),
        ("urls", "/api/urls", ("x-api-key", key.as_str())),
    ] {
        let (mut samples, failures, elapsed) =
            hammer(hub, path, header, options.seconds, options.concurrency).await;
        report
            .add(
                &format!("{name}_requests_per_s"),
                per_second(samples.len(), elapsed),
            )
            .add(&format!("{name}_failures"), failures)
            .add(&format!("{name}_latency_ms"), samples.summary());
    }
    Ok(report)
}
