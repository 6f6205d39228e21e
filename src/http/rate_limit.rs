//! Per-IP request budgets: `rate_limit.auth` on `/api/v1/auth/*`, `rate_limit.api` on the rest of
//! `/api/v1`. A fixed window per client and budget; over budget answers 429 with `Retry-After`.
//!
//! The budgets are kept per process: behind a load balancer each instance counts its own share.
//! The checker's seed routes (`/api/urls…`) are not counted: they are guarded by checker keys and
//! the seed's checker posts one request per domain.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, Error, ResponseError};

use crate::config::{RateLimitSettings, RateSpec};
use crate::error::AppError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Budget {
    Auth,
    Api,
}

struct Window {
    started: Instant,
    count: u32,
}

pub struct RateLimiter {
    settings: RateLimitSettings,
    windows: Mutex<HashMap<(Budget, IpAddr), Window>>,
}

const PRUNE_ABOVE: usize = 50_000;

impl RateLimiter {
    pub fn new(settings: RateLimitSettings) -> Self {
        RateLimiter {
            settings,
            windows: Mutex::new(HashMap::new()),
        }
    }

    fn budget_for(&self, path: &str) -> Option<(Budget, RateSpec)> {
        if !self.settings.enabled {
            return None;
        }
        if path.starts_with("/api/v1/auth/") {
            Some((Budget::Auth, self.settings.auth))
        } else if path.starts_with("/api/v1/") {
            Some((Budget::Api, self.settings.api))
        } else {
            None
        }
    }

    /// Counts one request; `Err(wait)` when the budget is spent.
    fn take(&self, budget: Budget, spec: RateSpec, ip: IpAddr) -> Result<(), Duration> {
        let now = Instant::now();
        let mut windows = self
            .windows
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if windows.len() > PRUNE_ABOVE {
            windows.retain(|_, window| now.duration_since(window.started) < spec.window);
        }
        let window = windows.entry((budget, ip)).or_insert(Window {
            started: now,
            count: 0,
        });
        if now.duration_since(window.started) >= spec.window {
            *window = Window {
                started: now,
                count: 0,
            };
        }
        if window.count >= spec.requests {
            return Err(spec
                .window
                .saturating_sub(now.duration_since(window.started)));
        }
        window.count += 1;
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
            let (budget, spec) = limiter.budget_for(req.path())?;
            let ip = req.peer_addr()?.ip();
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

    #[test]
    fn a_budget_refuses_past_its_count_and_says_how_long_to_wait() {
        let limiter = RateLimiter::new(RateLimitSettings {
            enabled: true,
            auth: "2/1m".parse().unwrap(),
            api: "100/1m".parse().unwrap(),
        });
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let (budget, spec) = limiter.budget_for("/api/v1/auth/login").unwrap();
        assert!(limiter.take(budget, spec, ip).is_ok());
        assert!(limiter.take(budget, spec, ip).is_ok());
        let wait = limiter.take(budget, spec, ip).unwrap_err();
        assert!(wait > Duration::from_secs(58) && wait <= Duration::from_secs(60));
        let other: IpAddr = "10.0.0.2".parse().unwrap();
        assert!(limiter.take(budget, spec, other).is_ok());
        assert!(limiter.budget_for("/api/urls").is_none());
        assert!(limiter.budget_for("/health").is_none());
    }
}
