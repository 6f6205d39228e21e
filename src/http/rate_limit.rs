//! Per-client request budgets, one fixed window each: `rate_limit.auth` on `/api/v1/auth/*`,
//! `rate_limit.api` on the rest of `/api/v1` and `/metrics`, `rate_limit.checker` on the checker's seed routes and
//! `rate_limit.socket` on WebSocket upgrades. Over budget answers 429 with `Retry-After`.
//!
//! Requests are classified on the path the router matches (percent-decoded), not on the raw one,
//! so `/%61pi/v1/auth/login` is the login it reaches. Clients are keyed by [`ClientAddr`], IPv6 by
//! its /64 (one host owns a whole /64). Memory is bounded: the counters live in shards, each
//! cleared when its window turns over; a full shard counts newcomers by their network (IPv4 /24,
//! IPv6 /48), so one attacker's many addresses share a budget without taking everyone else's, and
//! only past twice its size does a shard count the rest in one overflow budget (and log it).
//! Budgets are kept per process: behind a load balancer each instance counts its share.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, Error, HttpMessage, ResponseError};

use super::client_addr::ClientAddr;
use crate::config::{RateLimitSettings, RateSpec};
use crate::error::AppError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Budget {
    Auth,
    Api,
    Checker,
    Socket,
}

const BUDGETS: usize = 4;
const SHARDS: usize = 16;
/// Clients counted per shard and budget before newcomers share the overflow budget.
const CLIENTS_PER_SHARD: usize = 8192;

/// Whom a count belongs to: an IPv4 address or IPv6 /64, a network (when the shard is full), or
/// the shared overflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum ClientKey {
    Address(IpAddr),
    Network(IpAddr),
    Overflow,
}

fn network_of(ip: IpAddr) -> ClientKey {
    match ip {
        IpAddr::V4(v4) => ClientKey::Network(IpAddr::V4((u32::from(v4) & 0xffff_ff00).into())),
        IpAddr::V6(v6) => {
            ClientKey::Network(IpAddr::V6((u128::from(v6) & (u128::MAX << 80)).into()))
        }
    }
}

fn key_of(ip: IpAddr) -> ClientKey {
    match ip {
        IpAddr::V6(v6) => {
            let network = u128::from(v6) & (u128::MAX << 64);
            ClientKey::Address(IpAddr::V6(network.into()))
        }
        v4 => ClientKey::Address(v4),
    }
}

#[derive(Default)]
struct Window {
    number: u64,
    counts: HashMap<ClientKey, u32>,
    /// Whether this window has logged that it overflowed.
    overflowed: bool,
}

#[derive(Default)]
struct Shard {
    windows: [Window; BUDGETS],
}

pub struct RateLimiter {
    settings: RateLimitSettings,
    started: Instant,
    hasher: RandomState,
    shards: Vec<Mutex<Shard>>,
}

impl RateLimiter {
    pub fn new(settings: RateLimitSettings) -> Self {
        RateLimiter {
            settings,
            started: Instant::now(),
            hasher: RandomState::new(),
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
        }
    }

    /// The budget of a request to the (decoded) `path`.
    fn budget_for(&self, path: &str) -> Option<(Budget, RateSpec)> {
        if !self.settings.enabled {
            return None;
        }
        let budget = if path.starts_with("/api/v1/auth/") {
            Budget::Auth
        } else if path.starts_with("/api/v1/") || path == "/metrics" {
            Budget::Api
        } else if path == "/api/urls" || path.starts_with("/api/urls/") {
            Budget::Checker
        } else if path == "/ws" {
            Budget::Socket
        } else {
            return None;
        };
        let spec = match budget {
            Budget::Auth => self.settings.auth,
            Budget::Api => self.settings.api,
            Budget::Checker => self.settings.checker,
            Budget::Socket => self.settings.socket,
        };
        Some((budget, spec))
    }

    /// Counts one request; `Err(wait)` when the budget is spent.
    fn take(&self, budget: Budget, spec: RateSpec, ip: IpAddr) -> Result<(), Duration> {
        let key = key_of(ip);
        let shard = (self.hasher.hash_one(key) as usize) % SHARDS;
        let elapsed = self.started.elapsed();
        let window_nanos = spec.window.as_nanos().max(1);
        let number = (elapsed.as_nanos() / window_nanos) as u64;
        let mut shard = self.shards[shard]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let window = &mut shard.windows[budget as usize];
        if window.number != number {
            window.number = number;
            window.counts.clear();
            window.overflowed = false;
        }
        let full = window.counts.len() >= CLIENTS_PER_SHARD;
        let key = if !full || window.counts.contains_key(&key) {
            key
        } else {
            let network = network_of(ip);
            if window.counts.len() < 2 * CLIENTS_PER_SHARD || window.counts.contains_key(&network) {
                network
            } else {
                if !window.overflowed {
                    window.overflowed = true;
                    tracing::warn!(
                        ?budget,
                        "rate limiter full: further new clients share one budget this window"
                    );
                }
                ClientKey::Overflow
            }
        };
        let count = window.counts.entry(key).or_insert(0);
        if *count >= spec.requests {
            let into_window = elapsed.as_nanos() % window_nanos;
            return Err(Duration::from_nanos((window_nanos - into_window) as u64));
        }
        *count += 1;
        Ok(())
    }
}

pub async fn limit(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let verdict = req
        .app_data::<web::Data<RateLimiter>>()
        .and_then(|limiter| {
            let (budget, spec) = limiter.budget_for(req.match_info().as_str())?;
            let ip = req.extensions().get::<ClientAddr>()?.ip?;
            limiter.take(budget, spec, ip).err()
        });
    if let Some(wait) = verdict {
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        let error = AppError::too_many(
            format!("Too many requests. Try again in {seconds} seconds"),
            seconds,
        )
        .with_data(serde_json::json!({ "retryAfter": seconds }));
        return Ok(req
            .into_response(error.error_response())
            .map_into_right_body());
    }
    Ok(next.call(req).await?.map_into_left_body())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(auth: &str) -> RateLimiter {
        RateLimiter::new(RateLimitSettings {
            enabled: true,
            auth: auth.parse().unwrap(),
            api: "100/1m".parse().unwrap(),
            checker: "100/1m".parse().unwrap(),
            socket: "100/1m".parse().unwrap(),
        })
    }

    #[test]
    fn a_budget_refuses_past_its_count_and_says_how_long_to_wait() {
        let limiter = limiter("2/1m");
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let (budget, spec) = limiter.budget_for("/api/v1/auth/login").unwrap();
        assert!(limiter.take(budget, spec, ip).is_ok());
        assert!(limiter.take(budget, spec, ip).is_ok());
        let wait = limiter.take(budget, spec, ip).unwrap_err();
        assert!(wait > Duration::from_secs(58) && wait <= Duration::from_secs(60));
        let other: IpAddr = "10.0.0.2".parse().unwrap();
        assert!(limiter.take(budget, spec, other).is_ok());
        assert_eq!(limiter.budget_for("/api/urls").unwrap().0, Budget::Checker);
        assert_eq!(limiter.budget_for("/ws").unwrap().0, Budget::Socket);
        assert!(limiter.budget_for("/health").is_none());
    }

    #[test]
    fn ipv6_clients_are_counted_by_their_64() {
        let limiter = limiter("1/1m");
        let (budget, spec) = limiter.budget_for("/api/v1/auth/login").unwrap();
        let first: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let same_64: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let next_64: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert!(limiter.take(budget, spec, first).is_ok());
        assert!(limiter.take(budget, spec, same_64).is_err());
        assert!(limiter.take(budget, spec, next_64).is_ok());
    }

    #[test]
    fn memory_stays_bounded_and_a_flood_of_addresses_shares_its_networks_budget() {
        let limiter = limiter("3/1m");
        let (budget, spec) = limiter.budget_for("/api/v1/auth/login").unwrap();
        // One attacker's 300,000 /64s (in five /48s): far more clients than the limiter holds.
        let attacker = u128::from("2001:db8::".parse::<std::net::Ipv6Addr>().unwrap());
        let mut let_through = 0;
        for n in 0..300_000u128 {
            let ip = IpAddr::V6((attacker | (n << 64)).into());
            if limiter.take(budget, spec, ip).is_ok() {
                let_through += 1;
            }
        }
        for shard in &limiter.shards {
            let shard = shard.lock().unwrap();
            assert!(shard.windows[budget as usize].counts.len() <= 2 * CLIENTS_PER_SHARD + 1);
        }
        // Each shard let in the clients it holds, then 3 per /48 of the attacker's.
        assert!(
            let_through <= SHARDS * (CLIENTS_PER_SHARD + 5 * 3),
            "{let_through}"
        );
        // A newcomer from elsewhere still has a budget of its own.
        let newcomer: IpAddr = "198.51.100.7".parse().unwrap();
        for _ in 0..3 {
            assert!(limiter.take(budget, spec, newcomer).is_ok());
        }
        assert!(limiter.take(budget, spec, newcomer).is_err());
    }
}
