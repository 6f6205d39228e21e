//! hub-bench: the hub's load tool. It drives a running hub over its public interfaces only (HTTP
//! and WebSocket) and prints what it measured: a table, or one JSON object with `--json`.
//!
//! It signs in as an existing admin (`hub create-user --role owner …`) and makes what it needs
//! (a brand, 10,000 domains, a checker key, login users) through the API.

mod api;
mod booking;
mod fanout;
mod hub;
mod ingest;
mod login;
mod stats;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(name = "hub-bench", about = "Load scenarios against a running hub")]
struct Cli {
    /// The hub's base URL.
    #[arg(long, env = "HUB_BENCH_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// An admin's email.
    #[arg(long, env = "HUB_BENCH_EMAIL")]
    email: String,
    /// That admin's password.
    #[arg(long, env = "HUB_BENCH_PASSWORD")]
    password: String,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand, Debug)]
enum Scenario {
    /// Many WebSocket sessions receiving events at a set rate.
    Fanout(fanout::Options),
    /// Scan batches from request to `scan:completed`.
    Ingest(ingest::Options),
    /// Read endpoints under concurrent load.
    Api(api::Options),
    /// Logins while `/health` is sampled.
    Login(login::Options),
    /// Booking: one contended day, reservations expiring together, cached catalogue reads.
    Booking(booking::Options),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let hub = hub::Hub::sign_in(&cli.url, &cli.email, &cli.password).await?;
    let report = match &cli.scenario {
        Scenario::Fanout(options) => fanout::run(&hub, options).await?,
        Scenario::Ingest(options) => ingest::run(&hub, options).await?,
        Scenario::Api(options) => api::run(&hub, options).await?,
        Scenario::Login(options) => login::run(&hub, options).await?,
        Scenario::Booking(options) => booking::run(&hub, options).await?,
    };
    report.print(cli.json);
    Ok(())
}
