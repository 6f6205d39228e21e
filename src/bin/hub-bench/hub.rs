//! The hub under test, driven over its public API, and the setup every scenario shares: an admin's
//! token, a brand, its domains and a checker key, all made through the API.

use std::time::Duration;

use anyhow::{bail, Context};
use serde_json::{json, Value};

#[derive(Clone)]
pub struct Hub {
    pub base: String,
    pub http: reqwest::Client,
    pub token: String,
    key: std::sync::Arc<tokio::sync::OnceCell<String>>,
}

const BRAND: &str = "hub-bench";

/// The status the `n`th report of a run gives: blocked and accessible in turn. Every report is an
/// event, a new status or not (it carries when the domain was checked).
pub fn reported_status(n: usize) -> &'static str {
    ["blocked", "accessible"][n % 2]
}

/// The name of bench domain `index`.
pub fn domain_name(index: usize) -> String {
    format!("bench-{index}.example.com")
}

impl Hub {
    pub async fn sign_in(base: &str, email: &str, password: &str) -> anyhow::Result<Hub> {
        let http = reqwest::Client::builder()
            .no_proxy()
            .pool_max_idle_per_host(256)
            .timeout(Duration::from_secs(60))
            .build()?;
        let mut hub = Hub {
            base: base.trim_end_matches('/').to_owned(),
            http,
            token: String::new(),
            key: Default::default(),
        };
        hub.token = hub.login(email, password).await?;
        Ok(hub)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// An access token for `email`.
    pub async fn login(&self, email: &str, password: &str) -> anyhow::Result<String> {
        let body = json!({"email": email, "password": password});
        let answer = self
            .call(
                reqwest::Method::POST,
                "/api/v1/auth/login",
                None,
                Some(&body),
            )
            .await?;
        answer["data"]["accessToken"]
            .as_str()
            .map(str::to_owned)
            .context("login answered no token")
    }

    /// A JSON call as the admin; fails on any status but 2xx (or `allowed`).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        allowed: Option<u16>,
        body: Option<&Value>,
    ) -> anyhow::Result<Value> {
        let mut request = self.http.request(method.clone(), self.url(path));
        if !self.token.is_empty() {
            request = request.bearer_auth(&self.token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("{method} {path}"))?;
        let status = response.status().as_u16();
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        if !(200..300).contains(&status) && Some(status) != allowed {
            bail!("{method} {path} answered {status}: {answer}");
        }
        Ok(answer)
    }

    /// The checker's report (`POST /api/urls/update`, with checker key `key`) that `id` was found
    /// `status`.
    pub fn report(&self, key: &str, id: &str, status: &str) -> reqwest::RequestBuilder {
        self.http
            .post(self.url("/api/urls/update"))
            .header("x-api-key", key)
            .json(&json!({"id": id, "scanResult": {"status": status}}))
    }

    /// The bench brand's id, made if missing.
    pub async fn brand(&self) -> anyhow::Result<String> {
        let body = json!({"name": BRAND, "code": BRAND});
        let created = self
            .call(
                reqwest::Method::POST,
                "/api/v1/brands",
                Some(409),
                Some(&body),
            )
            .await?;
        if let Some(id) = created["data"]["brand"]["id"].as_str() {
            return Ok(id.to_owned());
        }
        let list = self
            .call(reqwest::Method::GET, "/api/v1/brands?limit=100", None, None)
            .await?;
        list["data"]["items"]
            .as_array()
            .and_then(|items| items.iter().find(|brand| brand["code"] == BRAND))
            .and_then(|brand| brand["id"].as_str())
            .map(str::to_owned)
            .context("the bench brand exists but is not listed")
    }

    /// Makes sure bench domains `0..count` exist; answers their ids, by index.
    pub async fn domains(&self, count: usize) -> anyhow::Result<Vec<String>> {
        let brand = self.brand().await?;
        let names: Vec<String> = (0..count).map(domain_name).collect();
        for chunk in names.chunks(10_000) {
            let body = json!({"brandId": brand, "domains": chunk});
            self.call(
                reqwest::Method::POST,
                "/api/v1/domains/import",
                None,
                Some(&body),
            )
            .await?;
        }
        let urls: Vec<Value> = self
            .http
            .get(self.url("/api/urls"))
            .header("x-api-key", self.key().await?)
            .send()
            .await?
            .json()
            .await?;
        let mut ids = vec![String::new(); count];
        for url in &urls {
            let name = url["Domain"].as_str().unwrap_or_default();
            let index = name
                .strip_prefix("bench-")
                .and_then(|rest| rest.strip_suffix(".example.com"))
                .and_then(|n| n.parse::<usize>().ok());
            if let (Some(index), Some(id)) = (index, url["id"].as_str()) {
                if index < count {
                    ids[index] = id.to_owned();
                }
            }
        }
        if ids.iter().any(String::is_empty) {
            bail!("some bench domains are missing after the import");
        }
        Ok(ids)
    }

    /// The checker key the scenarios report with, made through the API on first use.
    pub async fn key(&self) -> anyhow::Result<String> {
        let key = self.key.get_or_try_init(|| async {
            let body = json!({"name": "hub-bench"});
            let answer = self
                .call(
                    reqwest::Method::POST,
                    "/api/v1/checker-keys",
                    None,
                    Some(&body),
                )
                .await?;
            answer["data"]["key"]
                .as_str()
                .map(str::to_owned)
                .context("no key in the answer")
        });
        key.await.cloned()
    }
}
