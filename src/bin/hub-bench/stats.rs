//! Percentiles and the report every scenario prints: a table, or one JSON object with `--json`.

use std::time::Duration;

use serde_json::{Map, Value};

/// Latency samples, summarised as p50/p95/p99/max in milliseconds.
#[derive(Default)]
pub struct Samples(Vec<Duration>);

impl Samples {
    pub fn push(&mut self, sample: Duration) {
        self.0.push(sample);
    }

    pub fn extend(&mut self, samples: impl IntoIterator<Item = Duration>) {
        self.0.extend(samples);
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    fn at(sorted: &[Duration], quantile: f64) -> f64 {
        if sorted.is_empty() {
            return 0.0;
        }
        let rank = ((sorted.len() as f64 * quantile).ceil() as usize).clamp(1, sorted.len());
        millis(sorted[rank - 1])
    }

    /// `{p50, p95, p99, max}` in ms.
    pub fn summary(&mut self) -> Value {
        self.0.sort_unstable();
        let sorted = &self.0;
        serde_json::json!({
            "p50": Self::at(sorted, 0.50),
            "p95": Self::at(sorted, 0.95),
            "p99": Self::at(sorted, 0.99),
            "max": Self::at(sorted, 1.0),
        })
    }
}

pub fn millis(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 1000.0 * 100.0).round() / 100.0
}

pub fn per_second(count: usize, over: Duration) -> f64 {
    (count as f64 / over.as_secs_f64().max(1e-9)).round()
}

/// Named figures, in the order they were added.
pub struct Report {
    scenario: &'static str,
    figures: Map<String, Value>,
}

impl Report {
    pub fn new(scenario: &'static str) -> Self {
        Report {
            scenario,
            figures: Map::new(),
        }
    }

    pub fn add(&mut self, name: &str, value: impl Into<Value>) -> &mut Self {
        self.figures.insert(name.to_owned(), value.into());
        self
    }

    pub fn print(&self, as_json: bool) {
        if as_json {
            let mut object = Map::new();
            object.insert("scenario".into(), self.scenario.into());
            object.extend(self.figures.clone());
            println!("{}", Value::Object(object));
            return;
        }
        println!("hub-bench {}", self.scenario);
        let width = self.figures.keys().map(String::len).max().unwrap_or(0);
        for (name, value) in &self.figures {
            let shown = match value {
                Value::Object(parts) => parts
                    .iter()
                    .map(|(key, value)| format!("{key} {value}"))
                    .collect::<Vec<_>>()
                    .join("  "),
                other => other.to_string(),
            };
            println!("  {name:<width$}  {shown}");
        }
    }
}

/// CPU time (user + system) `pid` has used so far, from `/proc/<pid>/stat`.
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    let per_second = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .unwrap_or(100) as u64;
    Some(Duration::from_micros(ticks * 1_000_000 / per_second.max(1)))
}

/// CPU used by a process over a stretch of work.
pub struct CpuMeter {
    pid: Option<u32>,
    start: Option<Duration>,
}

impl CpuMeter {
    pub fn start(pid: Option<u32>) -> Self {
        CpuMeter {
            pid,
            start: pid.and_then(cpu_time),
        }
    }

    /// CPU time used since the start, in ms.
    pub fn used_ms(&self) -> Option<f64> {
        let now = cpu_time(self.pid?)?;
        Some(millis(now.saturating_sub(self.start?)))
    }
}
