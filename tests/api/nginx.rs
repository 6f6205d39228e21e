//! nginx (`config/nginx.conf`) in front of two `hub serve` instances, as production runs the hub:
//! HTTPS and wss through it, the caller's address reaching the hub, and one instance stopped
//! under its clients.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use crate::auth::{sign_in, verified_user};
use crate::helpers::{free_port, spawn_app, WebProcess};

/// nginx on loopback with the repository's site file, a certificate of its own, and these
/// instances behind it; stopped when dropped.
struct Nginx {
    https: u16,
    http: u16,
    certificate_pem: Vec<u8>,
    certificate_der: Vec<u8>,
    process: Child,
    dir: PathBuf,
}

impl Nginx {
    async fn start(instances: &[u16]) -> Nginx {
        let dir = std::env::temp_dir().join(format!("hub-nginx-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("nginx's directory");
        let (cert, key, der) = (
            dir.join("cert.pem"),
            dir.join("key.pem"),
            dir.join("cert.der"),
        );
        let made = std::process::Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            ])
            .args([
                "-subj",
                "/CN=localhost",
                "-addext",
                "subjectAltName=DNS:localhost",
            ])
            // A server's certificate, not an authority's: TLS clients refuse the latter.
            .args(["-addext", "basicConstraints=critical,CA:FALSE"])
            .args(["-addext", "extendedKeyUsage=serverAuth"])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .output()
            .expect("openssl (scripts/install-deps installs it)");
        assert!(
            made.status.success(),
            "{}",
            String::from_utf8_lossy(&made.stderr)
        );
        let converted = std::process::Command::new("openssl")
            .args(["x509", "-outform", "der", "-in"])
            .arg(&cert)
            .arg("-out")
            .arg(&der)
            .output()
            .expect("openssl");
        assert!(converted.status.success());

        let (https, http) = (free_port(), free_port());
        let servers: Vec<String> = instances
            .iter()
            .map(|port| format!("server 127.0.0.1:{port} max_fails=1 fail_timeout=5s;"))
            .collect();
        let site = include_str!("../../config/nginx.conf")
            .replace("@HUB_SERVERS@", &servers.join("\n    "))
            .replace("@HTTPS_PORT@", &format!("127.0.0.1:{https}"))
            .replace("@HTTP_PORT@", &format!("127.0.0.1:{http}"))
            .replace("@SERVER_NAME@", "localhost")
            .replace("@CERT@", &cert.display().to_string())
            .replace("@KEY@", &key.display().to_string());
        assert!(!site.contains('@'), "every token filled");
        std::fs::write(dir.join("hub.conf"), site).expect("the site file");
        let d = dir.display();
        // What Debian's /etc/nginx/nginx.conf provides around a site file, in the test's directory.
        let user = if nix::unistd::Uid::effective().is_root() {
            "user root;"
        } else {
            ""
        };
        let main = format!(
            "{user}\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
             events {{ worker_connections 1024; }}\n\
             http {{\n access_log {d}/access.log;\n client_body_temp_path {d}/body;\n\
              proxy_temp_path {d}/proxy;\n fastcgi_temp_path {d}/fastcgi;\n uwsgi_temp_path {d}/uwsgi;\n\
              scgi_temp_path {d}/scgi;\n include {d}/hub.conf;\n}}\n"
        );
        std::fs::write(dir.join("nginx.conf"), main).expect("nginx.conf");
        let binary = ["/usr/sbin/nginx", "nginx"]
            .into_iter()
            .find(|path| std::path::Path::new(path).exists())
            .unwrap_or("nginx");
        let process = Command::new(binary)
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .args(["-g", "daemon off;"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own group, so that the master and its workers go together.
            .process_group(0)
            .spawn()
            .expect("starting nginx (scripts/install-deps installs it)");
        let mut listening = false;
        for _ in 0..100 {
            if TcpStream::connect(("127.0.0.1", https)).await.is_ok() {
                listening = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(
            listening,
            "nginx did not start: {}",
            std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
        );
        Nginx {
            https,
            http,
            certificate_pem: std::fs::read(&cert).expect("the certificate"),
            certificate_der: std::fs::read(&der).expect("the certificate"),
            process,
            dir,
        }
    }

    /// An HTTPS client trusting only nginx's certificate, calling from `from` (a loopback address).
    fn client(&self, from: Ipv4Addr) -> reqwest::Client {
        let certificate = reqwest::Certificate::from_pem(&self.certificate_pem).expect("a PEM");
        reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(certificate)
            .local_address(IpAddr::V4(from))
            .resolve("localhost", SocketAddr::from(([127, 0, 0, 1], self.https)))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            .expect("an HTTPS client")
    }

    fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.https)
    }

    /// A socket through nginx: TLS to it, then the WebSocket handshake for `path`.
    async fn wss(&self, path: &str) -> WebSocketStream<tokio_rustls::client::TlsStream<TcpStream>> {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(rustls::pki_types::CertificateDer::from(
                self.certificate_der.clone(),
            ))
            .expect("the certificate as a root");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        let tcp = TcpStream::connect(("127.0.0.1", self.https))
            .await
            .expect("reaching nginx");
        let name = rustls::pki_types::ServerName::try_from("localhost").expect("a name");
        let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .expect("TLS with nginx");
        let url = format!("wss://localhost:{}{path}", self.https);
        let (socket, _) = tokio_tungstenite::client_async(url, tls)
            .await
            .expect("a socket through nginx");
        socket
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        if let Some(pid) = self.process.id() {
            let group = nix::unistd::Pid::from_raw(-(pid as i32));
            let _ = nix::sys::signal::kill(group, nix::sys::signal::Signal::SIGKILL);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The next JSON frame whose `event` is `name`, within 10 s.
async fn expect<S>(socket: &mut WebSocketStream<S>, name: &str) -> Value
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(Ok(message)) = socket.next().await {
            if let Message::Text(text) = message {
                let frame: Value = serde_json::from_str(&text).expect("JSON");
                if frame["event"] == name {
                    return frame;
                }
            }
        }
        panic!("the socket ended before {name}");
    })
    .await
    .unwrap_or_else(|_| panic!("no {name} within 10 s"))
}

async fn open_sessions(instance: &WebProcess) -> u64 {
    let text = reqwest::get(format!("{}/metrics", instance.address))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    text.lines()
        .find_map(|line| line.strip_prefix("hub_websocket_sessions_open "))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0)
}

#[actix_web::test]
async fn behind_nginx_the_hub_serves_https_and_wss_sees_the_caller_and_outlives_an_instance() {
    let app = spawn_app().await;
    verified_user(&app, "admin@example.com", "admin").await;
    let (token, _) = sign_in(&app, "admin@example.com").await;
    let behind_nginx = [
        ("HUB__SERVER__TRUSTED_PROXIES", "127.0.0.1/32"),
        ("HUB__RATE_LIMIT__ENABLED", "true"),
        ("HUB__RATE_LIMIT__AUTH", "2/15m"),
    ];
    let mut instances = Vec::new();
    for _ in 0..2 {
        instances.push(WebProcess::start_with(&app.settings, free_port(), &behind_nginx).await);
    }
    let nginx = Nginx::start(&[instances[0].port, instances[1].port]).await;
    let caller = nginx.client(Ipv4Addr::new(127, 0, 0, 2));

    let health = caller
        .get(nginx.url("/health"))
        .send()
        .await
        .expect("HTTPS");
    assert_eq!(health.status(), 200);
    let page = caller.get(nginx.url("/")).send().await.expect("the page");
    assert_eq!(page.status(), 200);
    let plain = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .expect("a client")
        .get(format!("http://127.0.0.1:{}/health", nginx.http))
        .send()
        .await
        .expect("plain HTTP");
    assert_eq!(plain.status(), 301, "plain HTTP goes to HTTPS");

    // The budget is per client and per instance: six attempts from 127.0.0.2 over two
    // instances spend it on at least one; 127.0.0.3 still has its own. Were the hub to see
    // nginx's address, both callers would share one budget.
    let login = |client: &reqwest::Client, n: usize| {
        let request = client.post(nginx.url("/api/v1/auth/login")).json(
            &json!({"email": format!("nobody{n}@example.com"), "password": "wrong password"}),
        );
        async move { request.send().await.expect("a login").status().as_u16() }
    };
    let mut statuses = Vec::new();
    for n in 0..6 {
        statuses.push(login(&caller, n).await);
    }
    assert!(statuses.contains(&429), "{statuses:?}");
    let other = nginx.client(Ipv4Addr::new(127, 0, 0, 3));
    for n in 10..12 {
        assert_eq!(
            login(&other, n).await,
            401,
            "another caller has its own budget"
        );
    }

    // A socket through nginx, and a change it sees.
    let mut socket = nginx.wss(&format!("/ws?token={token}")).await;
    expect(&mut socket, "hello").await;
    let create_brand = |name: &str, code: &str| {
        caller
            .post(nginx.url("/api/v1/brands"))
            .bearer_auth(&token)
            .json(&json!({"name": name, "code": code}))
            .send()
    };
    assert_eq!(
        create_brand("First", "FIRST")
            .await
            .expect("a brand")
            .status(),
        201
    );
    let seen = expect(&mut socket, "brand:created").await;
    let last_id = seen["id"].as_str().expect("an event id").to_owned();

    // SIGTERM to the instance holding the socket: 1012, then everything goes to the other.
    let holder = if open_sessions(&instances[0]).await == 1 {
        0
    } else {
        1
    };
    assert_eq!(
        open_sessions(&instances[holder]).await,
        1,
        "the socket is on one instance"
    );
    let mut stopping = instances.remove(holder);
    stopping.terminate();
    let code = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(Ok(message)) = socket.next().await {
            if let Message::Close(frame) = message {
                return frame.map(|frame| u16::from(frame.code));
            }
        }
        None
    })
    .await
    .expect("closed within 10 s");
    assert_eq!(code, Some(1012));
    let _ = socket.close(None).await;
    assert_eq!(
        create_brand("Second", "SECOND")
            .await
            .expect("a brand")
            .status(),
        201
    );
    let exited = stopping
        .exit_status(Duration::from_secs(20))
        .await
        .expect("exited");
    assert!(exited.success(), "{exited}");

    let mut again = nginx
        .wss(&format!("/ws?token={token}&since={last_id}"))
        .await;
    let missed = expect(&mut again, "brand:created").await;
    assert_eq!(missed["data"]["name"], "Second", "{missed}");
    let resumed = expect(&mut again, "resumed").await;
    assert_eq!(resumed["data"], json!({"replayed": 1, "complete": true}));
    assert_eq!(
        open_sessions(&instances[0]).await,
        1,
        "on the other instance"
    );
    let _ = again.send(Message::Close(None)).await;
}
