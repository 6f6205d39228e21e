//! `login`: concurrent logins while `GET /health` is sampled; the health check's p99 shows whether
//! bcrypt blocks the server's threads.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::hub::Hub;
use crate::stats::{per_second, Report, Samples};

#[derive(clap::Args, Debug)]
pub struct Options {
    /// Logins in flight at once (each as its own bench user).
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Interval between health samples, in milliseconds.
    #[arg(long, default_value_t = 10)]
    sample_every_ms: u64,
}

const PASSWORD: &str = "hub-bench-password";

fn email(n: usize) -> String {
    format!("bench-login-{n}@example.com")
}

pub async fn run(hub: &Hub, options: &Options) -> anyhow::Result<Report> {
    for n in 0..options.concurrency {
        let body =
            json!({"name": "Bench", "email": email(n), "password": PASSWORD, "role": "user"});
        hub.call(
            reqwest::Method::POST,
            "/api/v1/users",
            Some(409),
            Some(&body),
        )
        .await?;
    }
    let until = Instant::now() + Duration::from_secs(options.seconds);
    let started = Instant::now();
    let logins: Vec<_> = (0..options.concurrency)
        .map(|n| {
            let hub = hub.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut failures = 0;
                while Instant::now() < until {
                    let sent = Instant::now();
                    match hub.login(&email(n), PASSWORD).await {
                        Ok(_) => latencies.push(sent.elapsed()),
                        Err(_) => failures += 1,
                    }
                }
                (latencies, failures)
            })
        })
        .collect();
    // Its own connection, so that health samples never queue behind logins on the client side.
    let prober = reqwest::Client::builder().no_proxy().build()?;
    let mut health = Samples::default();
    let mut health_failures = 0;
    let mut ticker = tokio::time::interval(Duration::from_millis(options.sample_every_ms.max(1)));
    while Instant::now() < until {
        ticker.tick().await;
        let sent = Instant::now();
        match prober.get(hub.url("/health")).send().await {
            Ok(response) if response.status().is_success() => health.push(sent.elapsed()),
            _ => health_failures += 1,
        }
    }
    let mut login_latency = Samples::default();
    let mut login_failures = 0;
    for handle in logins {
        if let Ok((latencies, failures)) = handle.await {
            login_latency.extend(latencies);
            login_failures += failures;
        }
    }
    let elapsed = started.elapsed();
    let mut report = Report::new("login");
    report
        .add("concurrency", options.concurrency)
        .add("logins", login_latency.len())
        .add("logins_per_s", per_second(login_latency.len(), elapsed))
        .add("login_failures", login_failures)
        .add("login_latency_ms", login_latency.summary())
        .add("health_samples", health.len())
        .add("health_failures", health_failures)
        .add("health_latency_ms", health.summary());
    Ok(report)
}
