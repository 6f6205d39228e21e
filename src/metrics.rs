//! Prometheus metrics of the web process. Job counters live in Redis (the worker is another
//! process) and are read from there when `/metrics` is scraped.

use std::time::Duration;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder,
};

pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    durations: HistogramVec,
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new_custom(Some("hub".into()), None)
            .expect("a static prefix is a valid registry");
        let requests = IntCounterVec::new(
            Opts::new("http_requests_total", "HTTP requests by route and status"),
            &["route", "status"],
        )
        .expect("static metric definition");
        let durations = HistogramVec::new(
            HistogramOpts::new("http_request_duration_seconds", "HTTP request duration").buckets(
                vec![
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                ],
            ),
            &["route"],
        )
        .expect("static metric definition");
        for collector in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(durations.clone()),
        ] {
            registry
                .register(collector)
                .expect("each metric is registered once");
        }
        Metrics {
            registry,
            requests,
            durations,
        }
    }

    pub fn observe_request(&self, route: &str, status: u16, elapsed: Duration) {
        self.requests
            .with_label_values(&[route, &status.to_string()])
            .inc();
        self.durations
            .with_label_values(&[route])
            .observe(elapsed.as_secs_f64());
    }

    /// The text exposition, followed by the broadcaster's counters, the job counters read from
    /// Redis, and the event outbox's backlog (count, age of the oldest in seconds).
    pub fn render(
        &self,
        realtime: &hub_actors::Stats,
        job_counts: &[(String, String, u64)],
        outbox: Option<(i64, f64)>,
    ) -> String {
        let mut buffer = Vec::new();
        if let Err(error) = TextEncoder::new().encode(&self.registry.gather(), &mut buffer) {
            tracing::error!(%error, "encoding metrics");
        }
        let mut text = String::from_utf8_lossy(&buffer).into_owned();
        for (name, help, kind, value) in realtime.snapshot() {
            text.push_str(&format!(
                "# HELP hub_{name} {help}\n# TYPE hub_{name} {kind}\nhub_{name} {value}\n"
            ));
        }
        text.push_str(
            "# HELP hub_jobs_total Jobs by queue and outcome (enqueued, succeeded, failed)\n",
        );
        text.push_str("# TYPE hub_jobs_total counter\n");
        for (queue, outcome, count) in job_counts {
            text.push_str(&format!(
                "hub_jobs_total{{queue=\"{queue}\",outcome=\"{outcome}\"}} {count}\n"
            ));
        }
        if let Some((pending, oldest)) = outbox {
            text.push_str(&format!(
                "# HELP hub_event_outbox_pending Events committed and not yet relayed to Redis\n\
                 # TYPE hub_event_outbox_pending gauge\nhub_event_outbox_pending {pending}\n\
                 # HELP hub_event_outbox_oldest_seconds Age of the oldest event not yet relayed\n\
                 # TYPE hub_event_outbox_oldest_seconds gauge\n\
                 hub_event_outbox_oldest_seconds {oldest:.3}\n"
            ));
        }
        text
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
