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
mod reference;
mod resume;
mod stats;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(name = "hub-bench", about = "Load scenarios against a running hub")]
struct Cli {
    /// The hub's base URL.
    #[arg(long, env = "HUB_BENCH_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// An admin's email (every scenario but the reference's needs one).
    #[arg(long, env = "HUB_BENCH_EMAIL")]
    email: Option<String>,
    /// That admin's password.
    #[arg(long, env = "HUB_BENCH_PASSWORD")]
    password: Option<String>,
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
    /// A storm of sessions resuming at once while watchers stay live.
    Resume(resume::Options),
    /// Runs the reference server `fanout --reference` measures (it starts one itself).
    ReferenceServer(reference::Options),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let report = match &cli.scenario {
        Scenario::ReferenceServer(options) => return reference::serve(options).await,
        Scenario::Fanout(options) if options.reference => fanout::run(None, options).await?,
        scenario => run(&cli, scenario).await?,
    };
    report.print(cli.json);
    Ok(())
}

/// Runs a scenario against the hub, signed in as the admin.
async fn run(cli: &Cli, scenario: &Scenario) -> anyhow::Result<stats::Report> {
    let (Some(email), Some(password)) = (&cli.email, &cli.password) else {
        anyhow::bail!(
            "give an admin's --email and --password (or HUB_BENCH_EMAIL and HUB_BENCH_PASSWORD)"
        );
    };
    let hub = hub::Hub::sign_in(&cli.url, email, password).await?;
    Ok(match scenario {
        Scenario::Fanout(options) => fanout::run(Some(hub), options).await?,
        Scenario::Ingest(options) => ingest::run(&hub, options).await?,
        Scenario::Api(options) => api::run(&hub, options).await?,
        Scenario::Login(options) => login::run(&hub, options).await?,
        Scenario::Booking(options) => booking::run(&hub, options).await?,
        Scenario::Resume(options) => resume::run(&hub, options).await?,
        Scenario::ReferenceServer(_) => anyhow::bail!("the reference server signs in nowhere"),
    })
}
