//! The dashboard in a real browser: Debian's Chromium driven through chromedriver (WebDriver),
//! against the hub with real PostgreSQL and Redis.

#[allow(dead_code)]
#[path = "../api/helpers.rs"]
mod helpers;
#[allow(dead_code)]
#[path = "../api/services.rs"]
mod services;

mod browser;
mod dashboard;
mod docs;
mod fixture;
