//! One headless Chromium per test, through a chromedriver of its own; both are killed (their whole
//! process group) when the test ends, however it ends.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

use crate::helpers::free_port;

pub struct Browser {
    pub client: Client,
    _driver: Driver,
}

/// chromedriver, the Chromium it starts (same process group) and the browser's profile: all gone
/// when this is dropped, however the test ends.
struct Driver {
    process: Child,
    profile: PathBuf,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let group = nix::unistd::Pid::from_raw(-(self.process.id() as i32));
        let _ = nix::sys::signal::kill(group, nix::sys::signal::Signal::SIGKILL);
        let _ = self.process.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// Where the tests' screenshots go.
pub fn screenshots() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots")
}

impl Browser {
    pub async fn open() -> Browser {
        let port = free_port();
        let profile = std::env::temp_dir().join(format!("hub-chromium-{}", uuid::Uuid::new_v4()));
        let driver = {
            use std::os::unix::process::CommandExt;
            let process = Command::new("chromedriver")
                .arg(format!("--port={port}"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .process_group(0)
                .spawn()
                .expect("starting chromedriver (scripts/install-deps installs chromium-driver)");
            Driver { process, profile }
        };
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({"args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                "--disable-gpu", "--no-proxy-server", "--no-first-run", "--lang=en-US",
                "--window-size=1280,900",
                format!("--user-data-dir={}", driver.profile.display())]}),
        );
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        let client = loop {
            // chromedriver is on loopback: plain HTTP, no TLS stack.
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            let builder = ClientBuilder::new(connector)
                .capabilities(capabilities.clone())
                .connect(&url)
                .await;
            match builder {
                Ok(client) => break client,
                Err(error) if Instant::now() > deadline => panic!("no Chromium session: {error}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        };
        Browser {
            client,
            _driver: driver,
        }
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.expect("opening the page");
    }

    /// Runs `script` (a function body) in the page; answers what it returns.
    pub async fn js(&self, script: &str) -> Value {
        self.client
            .execute(script, Vec::new())
            .await
            .expect("running a script")
    }

    /// Polls `script` until it returns something other than null/false/undefined; answers that,
    /// or panics naming `what` after `within`.
    pub async fn until(&self, what: &str, script: &str, within: Duration) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let value = self.js(script).await;
            if !matches!(value, Value::Null | Value::Bool(false)) {
                return value;
            }
            assert!(Instant::now() < deadline, "waited {within:?} for {what}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        let input = self.element(css).await;
        input.clear().await.expect("clearing an input");
        input.send_keys(text).await.expect("typing");
    }

    pub async fn click(&self, css: &str) {
        self.element(css).await.click().await.expect("clicking");
    }

    async fn element(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|error| panic!("no {css} on the page: {error}"))
    }

    /// Opens the page at `address` signed out, and waits for its login form.
    pub async fn login_page(&self, address: &str) {
        self.goto(address).await;
        self.element("#login-form").await;
    }

    /// Signs in through the login form of the page at `address`.
    pub async fn sign_in(&self, address: &str, email: &str, password: &str) {
        self.goto(&format!("{address}/#/")).await;
        self.type_into("#login-form input[name=email]", email).await;
        self.type_into("#login-form input[name=password]", password)
            .await;
        self.click("#login-form button[type=submit]").await;
        self.element("header.top #sign-out").await;
    }

    /// Waits until the page's socket says it is live.
    pub async fn live(&self) {
        self.until(
            "the socket to be live",
            "return document.querySelector('#live.live') !== null",
            Duration::from_secs(15),
        )
        .await;
    }

    /// Saves a screenshot as `<name>.png` under [`screenshots`].
    pub async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.expect("a screenshot");
        let dir = screenshots();
        std::fs::create_dir_all(&dir).expect("the screenshots directory");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("saving a screenshot");
    }
}
