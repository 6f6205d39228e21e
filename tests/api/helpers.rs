//! `spawn_app()`: the hub on a random port against its own database and Redis namespace, plus the
//! pieces tests drive it with (an HTTP client, `hub worker` as a process, an SMTP server).

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use deadpool_postgres::Pool;
use hub::config::Settings;
use serde_json::Value;
use tokio::io::AsyncBufReadExt;
use tokio::process::{Child, Command};

use crate::services::{fresh_database, services};

pub struct TestApp {
    pub address: String,
    pub settings: Settings,
    pub db: Pool,
    pub http: reqwest::Client,
    pub smtp: Option<SmtpSink>,
    workers: Vec<Child>,
}

pub fn config_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/config"))
}

/// The test configuration, with secrets of this run's own (the hub refuses the repository's).
pub fn test_settings() -> Settings {
    let mut settings =
        Settings::load_from(&config_dir(), "test").expect("loading the test configuration");
    settings.auth.jwt_secret = random_secret();
    settings.auth.refresh_secret = random_secret();
    settings
}

/// A secret of this run's own, long enough for the hub's rules.
pub fn random_secret() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(customize: impl FnOnce(&mut Settings)) -> TestApp {
    start(prepared_settings(customize).await, None).await
}

/// The settings of a test app, with a fresh database and a Redis namespace of its own, before
/// anything runs on them.
pub async fn prepared_settings(customize: impl FnOnce(&mut Settings)) -> Settings {
    let mut settings = test_settings();
    settings.database.url = fresh_database().await;
    settings.redis.url = services().redis_url.clone();
    settings.redis.namespace = format!("test:{}:", uuid::Uuid::new_v4().simple());
    settings.server.host = "127.0.0.1".into();
    settings.server.port = 0;
    settings.mail.dir = std::env::temp_dir().join(format!("hub-mail-{}", uuid::Uuid::new_v4()));
    customize(&mut settings);
    settings
}

/// The app with a real SMTP server that `hub worker` delivers to.
pub async fn spawn_app_with_smtp(customize: impl FnOnce(&mut Settings)) -> TestApp {
    let smtp = SmtpSink::start().await;
    let port = smtp.port;
    let mut app = spawn_app_with(|settings| {
        settings.smtp.host = "127.0.0.1".into();
        settings.smtp.port = port;
        customize(settings);
    })
    .await;
    app.smtp = Some(smtp);
    app
}

/// The app in this process, on `settings`.
pub async fn start(settings: Settings, smtp: Option<SmtpSink>) -> TestApp {
    hub::telemetry::init(&settings.log);
    let application = hub::startup::Application::build(settings.clone())
        .await
        .expect("building the app");
    let port = application.port();
    actix_web::rt::spawn(application.run_until_stopped());
    let db = hub::db::connect(&settings.database.url, 2).expect("a pool for assertions");
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        settings,
        db,
        http: reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("an HTTP client"),
        smtp,
        workers: Vec::new(),
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http.get(self.url(path)).send().await.expect("GET")
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("POST")
    }

    /// `method path` with a bearer token and a JSON body; answers (status, body).
    pub async fn send_as(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let mut request = self.http.request(method, self.url(path)).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(body);
        }
        json(request.send().await.expect("a response")).await
    }

    /// A second web instance on the same database and Redis namespace, as behind a load balancer.
    pub async fn another_instance(&self) -> TestApp {
        let mut settings = self.settings.clone();
        settings.server.port = 0;
        start(settings, None).await
    }

    /// Environment that makes `hub worker` (or any `hub` command) use this app's services.
    pub fn hub_env(&self) -> Vec<(String, String)> {
        hub_env(&self.settings)
    }

    /// Runs `hub <args>` to completion with this app's services.
    pub async fn hub_command(&self, args: &[&str]) -> std::process::Output {
        Command::new(env!("CARGO_BIN_EXE_hub"))
            .args(args)
            .envs(self.hub_env())
            .output()
            .await
            .expect("running hub")
    }

    /// Starts `hub worker` as a process of its own; it is killed when the app is dropped.
    pub fn start_worker(&mut self) -> u32 {
        let child = Command::new(env!("CARGO_BIN_EXE_hub"))
            .arg("worker")
            .envs(self.hub_env())
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("starting hub worker");
        let pid = child.id().expect("a pid");
        self.workers.push(child);
        pid
    }

    /// Kills every worker at once, as a crash would.
    pub async fn kill_workers(&mut self) {
        for mut worker in self.workers.drain(..) {
            let _ = worker.kill().await;
        }
    }

    /// Sends SIGTERM to every worker and waits for each to exit; `None` for one still running
    /// after `within` (then it is killed).
    pub async fn terminate_workers(
        &mut self,
        within: Duration,
    ) -> Vec<Option<std::process::ExitStatus>> {
        let mut exits = Vec::new();
        for mut worker in self.workers.drain(..) {
            if let Some(pid) = worker.id() {
                let _ = sigterm(pid);
            }
            let exit = tokio::time::timeout(within, worker.wait()).await;
            if exit.is_err() {
                let _ = worker.kill().await;
            }
            exits.push(exit.ok().and_then(Result::ok));
        }
        exits
    }

    /// Events committed and not yet relayed.
    pub async fn outbox_rows(&self) -> i64 {
        let client = self.db.get().await.expect("a connection");
        client
            .query_one("SELECT count(*) FROM event_outbox", &[])
            .await
            .expect("counting the outbox")
            .get(0)
    }

    /// The outbox's rows once the relay has deleted what it relayed (it deletes just after the
    /// stream has them, so a client may see an event a moment before); waits up to 5 s.
    pub async fn outbox_rows_settled(&self) -> i64 {
        let mut rows = self.outbox_rows().await;
        for _ in 0..100 {
            if rows == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            rows = self.outbox_rows().await;
        }
        rows
    }

    pub fn smtp(&self) -> &SmtpSink {
        self.smtp
            .as_ref()
            .expect("spawned with spawn_app_with_smtp")
    }
}

/// Environment that makes a `hub` command use the services of `settings`.
pub fn hub_env(settings: &Settings) -> Vec<(String, String)> {
    let mut env = vec![
        ("HUB_ENV".to_owned(), "test".to_owned()),
        (
            "HUB_CONFIG_DIR".to_owned(),
            config_dir().display().to_string(),
        ),
        ("DATABASE_URL".to_owned(), settings.database.url.clone()),
        (
            "HUB__AUTH__JWT_SECRET".to_owned(),
            settings.auth.jwt_secret.clone(),
        ),
        (
            "HUB__AUTH__REFRESH_SECRET".to_owned(),
            settings.auth.refresh_secret.clone(),
        ),
        ("REDIS_URL".to_owned(), settings.redis.url.clone()),
        (
            "HUB__REDIS__NAMESPACE".to_owned(),
            settings.redis.namespace.clone(),
        ),
        (
            "HUB__MAIL__DIR".to_owned(),
            settings.mail.dir.display().to_string(),
        ),
        ("HUB__SMTP__HOST".to_owned(), settings.smtp.host.clone()),
        ("HUB__SMTP__PORT".to_owned(), settings.smtp.port.to_string()),
        (
            "HUB__MAIL__MAX_ATTEMPTS".to_owned(),
            settings.mail.max_attempts.to_string(),
        ),
        (
            "HUB__REALTIME__CLIENT_TIMEOUT".to_owned(),
            format!("{}ms", settings.realtime.client_timeout.as_millis()),
        ),
        (
            "HUB__WORKER__SWEEP_INTERVAL".to_owned(),
            format!("{}ms", settings.worker.sweep_interval.as_millis()),
        ),
    ];
    env.retain(|(_, value)| !value.is_empty());
    env
}

/// A port nothing listens on just now (for a process that binds it itself).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// `hub serve` as a process of its own, on `settings`' services; killed when dropped.
pub struct WebProcess {
    pub address: String,
    /// Where a restart listens again (the browser tests keep a page's address across one).
    #[allow(dead_code)]
    pub port: u16,
    child: Child,
}

impl WebProcess {
    pub async fn start(settings: &Settings) -> WebProcess {
        WebProcess::start_on(settings, free_port()).await
    }

    /// As [`WebProcess::start`], on `port` (a restart keeps its address).
    pub async fn start_on(settings: &Settings, port: u16) -> WebProcess {
        WebProcess::start_with(settings, port, &[]).await
    }

    /// As [`WebProcess::start_on`], with `extra` environment variables.
    pub async fn start_with(settings: &Settings, port: u16, extra: &[(&str, &str)]) -> WebProcess {
        let child = Command::new(env!("CARGO_BIN_EXE_hub"))
            .arg("serve")
            .envs(hub_env(settings))
            .envs(extra.iter().copied())
            .env("PORT", port.to_string())
            .env("HUB__SERVER__HOST", "127.0.0.1")
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("starting hub serve");
        let address = format!("http://127.0.0.1:{port}");
        let health = format!("{address}/health");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while reqwest::get(&health).await.is_err() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "hub serve did not start"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        WebProcess {
            address,
            port,
            child,
        }
    }

    /// SIGTERM: the graceful stop.
    pub fn terminate(&self) {
        sigterm(self.child.id().expect("hub serve is running")).expect("signalling hub serve");
    }

    /// How the process ended, waiting up to `within`; `None` if it is still running.
    pub async fn exit_status(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        tokio::time::timeout(within, self.child.wait())
            .await
            .ok()
            .and_then(Result::ok)
    }

    /// SIGKILL: no shutdown of any kind.
    pub async fn kill(mut self) {
        self.child.kill().await.expect("killing hub serve");
    }
}

/// aiosmtpd (tests/support/smtp_sink.py) in a process of its own.
pub struct SmtpSink {
    pub port: u16,
    pub dir: PathBuf,
    pub stall_file: PathBuf,
    _process: Child,
}

impl SmtpSink {
    pub async fn start() -> Self {
        let dir = std::env::temp_dir().join(format!("hub-smtp-{}", uuid::Uuid::new_v4()));
        let stall_file = dir.with_extension("stall");
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/smtp_sink.py");
        let mut process = Command::new("python3")
            .arg(script)
            .arg("--dir")
            .arg(&dir)
            .arg("--stall-rcpt-file")
            .arg(&stall_file)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("starting the SMTP server (python3 with aiosmtpd: scripts/install-deps)");
        let stdout = process.stdout.take().expect("its stdout");
        let mut line = String::new();
        tokio::io::BufReader::new(stdout)
            .read_line(&mut line)
            .await
            .expect("reading the SMTP port");
        let port = line.trim().parse().unwrap_or_else(|_| {
            panic!("the SMTP server did not start (is aiosmtpd installed? scripts/install-deps): {line:?}")
        });
        SmtpSink {
            port,
            dir,
            stall_file,
            _process: process,
        }
    }

    /// Every message received so far, oldest first.
    pub fn messages(&self) -> Vec<String> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .map(|entries| entries.flatten().map(|entry| entry.path()).collect())
            .unwrap_or_default();
        names.retain(|path| path.extension().is_some_and(|ext| ext == "eml"));
        names.sort();
        names
            .iter()
            .filter_map(|path| std::fs::read_to_string(path).ok())
            .collect()
    }

    /// Messages to `address`.
    pub fn messages_to(&self, address: &str) -> Vec<String> {
        let needle = format!("To: {address}");
        self.messages()
            .into_iter()
            .filter(|message| {
                message
                    .lines()
                    .any(|line| line.eq_ignore_ascii_case(&needle))
            })
            .collect()
    }

    /// Waits (up to `timeout`) until `address` has received `count` messages; returns them.
    pub async fn wait_for(&self, address: &str, count: usize, timeout: Duration) -> Vec<String> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let messages = self.messages_to(address);
            if messages.len() >= count || tokio::time::Instant::now() > deadline {
                return messages;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The first link under `prefix` in a mail (quoted-printable soft breaks undone).
pub fn link_in(message: &str, prefix: &str) -> Option<String> {
    let text = message
        .replace("=\r\n", "")
        .replace("=\n", "")
        .replace("=3D", "=");
    let start = text.find(prefix)?;
    let link: String = text[start..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect();
    Some(link)
}

/// Reads a response as JSON, keeping the status.
pub async fn json(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let body = response.json::<Value>().await.unwrap_or(Value::Null);
    (status, body)
}

/// Waits until process `pid` has a handler for SIGTERM (`SigCgt` in `/proc/<pid>/status`).
pub async fn catching_sigterm(pid: u32) {
    let sigterm_bit = 1u64 << (nix::sys::signal::Signal::SIGTERM as u64 - 1);
    for _ in 0..600 {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let caught = status
            .lines()
            .find_map(|line| line.strip_prefix("SigCgt:"))
            .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
            .is_some_and(|mask| mask & sigterm_bit != 0);
        if caught {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("process {pid} never caught SIGTERM");
}

/// SIGTERM to process `pid`: how a deploy stops a hub process.
fn sigterm(pid: u32) -> nix::Result<()> {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
}

/// A PostgreSQL of one test's own, to stop and start under a running hub.
pub struct PrivatePostgres {
    home: PathBuf,
    embedded: hub::embedded::Embedded,
    pub port: u16,
}

impl PrivatePostgres {
    pub fn start() -> PrivatePostgres {
        let home = std::env::temp_dir().join(format!("hub-postgres-{}", uuid::Uuid::new_v4()));
        let embedded = hub::embedded::Embedded::new(&home);
        let port = embedded
            .postgres(0, true)
            .expect("a private PostgreSQL")
            .port;
        PrivatePostgres {
            home,
            embedded,
            port,
        }
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Stops it (`pg_ctl stop -m fast`: open sessions are ended) and waits until its port closes.
    pub async fn stop(&self) {
        self.embedded.stop_postgres().expect("stopping PostgreSQL");
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Starts it again on its port, with its data.
    pub fn restart(&self) {
        self.embedded
            .postgres(self.port, true)
            .expect("PostgreSQL again");
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = self.embedded.stop_postgres();
        let _ = std::fs::remove_dir_all(&self.home);
    }
}

/// A Redis of a test's own, to stop and start (with its append-only file, so it keeps its data).
pub struct PrivateRedis {
    home: PathBuf,
    embedded: hub::embedded::Embedded,
    pub port: u16,
}

impl PrivateRedis {
    pub fn start() -> PrivateRedis {
        let home = std::env::temp_dir().join(format!("hub-redis-{}", uuid::Uuid::new_v4()));
        let embedded = hub::embedded::Embedded::new(&home);
        let port = embedded.redis(0).expect("a private Redis").port;
        PrivateRedis {
            home,
            embedded,
            port,
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Stops it (SIGTERM) and waits until its port is closed.
    pub async fn stop(&self) {
        self.embedded.stop_redis().expect("stopping Redis");
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Starts it again on its port, with the data it had.
    pub fn restart(&self) {
        self.embedded.redis(self.port).expect("Redis again");
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        let _ = self.embedded.stop_redis();
        let _ = std::fs::remove_dir_all(&self.home);
    }
}
