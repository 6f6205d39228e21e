//! The reference `fanout` is measured against: tokio's broadcast channel over WebSockets, with
//! nothing behind it (no database, no queue, no sessions to judge). `hub-bench reference-server`
//! runs it; `fanout --reference` starts it as a child process and drives it exactly as it drives
//! the hub, so the two can be compared on one machine in one sitting.
//!
//! `GET /ws` subscribes (a `hello` first, then every event); a socket opened on `/publish`
//! broadcasts each text message it sends.

use std::net::SocketAddr;
use std::process::Stdio;

use anyhow::Context;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

#[derive(clap::Args, Debug)]
pub struct Options {
    /// Where to listen; the address bound is printed on the first line of stdout.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
}

/// Runs the reference server until killed.
pub async fn serve(options: &Options) -> anyhow::Result<()> {
    hub::cli::raise_open_file_limit();
    let listener = TcpListener::bind(options.listen).await?;
    println!("{}", listener.local_addr()?);
    let (events, _) = broadcast::channel::<Utf8Bytes>(4096);
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(connection(stream, events.clone()));
            }
            // Out of descriptors, or a connection reset before it was accepted: the next may do.
            Err(error) => eprintln!("reference server: accepting: {error}"),
        }
    }
}

// The handshake callback returns tungstenite's own (large) error type.
#[allow(clippy::result_large_err)]
async fn connection(stream: TcpStream, events: broadcast::Sender<Utf8Bytes>) {
    let mut path = String::new();
    let accepted = tokio_tungstenite::accept_hdr_async(stream, |request: &Request, response| {
        path = request.uri().path().to_owned();
        Ok::<Response, _>(response)
    })
    .await;
    let Ok(mut ws) = accepted else { return };
    if path == "/publish" {
        while let Some(Ok(message)) = ws.next().await {
            if let Message::Text(text) = message {
                // No subscriber yet is no error: the event simply reaches nobody.
                let _ = events.send(text);
            }
        }
        return;
    }
    let mut live = events.subscribe();
    if ws
        .send(Message::text(r#"{"event":"hello","data":{}}"#))
        .await
        .is_err()
    {
        return;
    }
    loop {
        tokio::select! {
            event = live.recv() => match event {
                Ok(text) => {
                    if ws.send(Message::Text(text)).await.is_err() {
                        return;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return,
            },
            incoming = ws.next() => match incoming {
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
                Some(Ok(_)) => {}
            },
        }
    }
}

/// A reference server started by this process, killed when dropped.
pub struct Child {
    process: tokio::process::Child,
    pub address: SocketAddr,
}

impl Child {
    pub async fn start() -> anyhow::Result<Child> {
        let mut process = tokio::process::Command::new(std::env::current_exe()?)
            .arg("reference-server")
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("starting the reference server")?;
        let stdout = process.stdout.take().context("no stdout")?;
        let mut first = String::new();
        BufReader::new(stdout).read_line(&mut first).await?;
        let address = first
            .trim()
            .parse()
            .with_context(|| format!("the reference server printed {first:?}"))?;
        Ok(Child { process, address })
    }

    pub fn pid(&self) -> Option<u32> {
        self.process.id()
    }
}
