//! `hub`: the web server, the worker, migrations, the first account, and a one-command dev setup.

use clap::{Parser, Subcommand};

use hub::config::Settings;

#[derive(Parser)]
#[command(
    name = "hub",
    version,
    about = "The hub: real-time dashboard and booking backend"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve HTTP and WebSocket clients (migrates first).
    Serve,
    /// Work the job queues; run as a process of its own.
    Worker,
    /// Apply the SQL migrations.
    Migrate,
    /// Create an account, e.g. the first owner.
    CreateUser {
        #[arg(long)]
        email: String,
        #[arg(long)]
        password: String,
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "user")]
        role: String,
    },
    /// Run everything locally: private PostgreSQL and Redis when none is configured, then web and
    /// worker; on an empty database a demo owner, brand and catalogue, and a demo checker
    /// reporting statuses every few seconds. Ctrl-C stops it all.
    Dev {
        /// No demo checker (and no demo data).
        #[arg(long)]
        no_demo: bool,
    },
    /// Print the OpenAPI document (as served at /api/v1/openapi.json); needs no configuration.
    Openapi,
}

fn main() -> std::process::ExitCode {
    let outcome = match Cli::parse().command {
        // The document needs no configuration.
        Command::Openapi => print_openapi(),
        command => {
            let settings = match Settings::load() {
                Ok(settings) => settings,
                Err(error) => {
                    eprintln!("hub: {error}");
                    return std::process::ExitCode::from(2);
                }
            };
            hub::telemetry::init(&settings.log);
            run(command, settings)
        }
    };
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("hub: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// A command that runs on the loaded configuration.
fn run(command: Command, settings: Settings) -> anyhow::Result<()> {
    match command {
        Command::Serve => hub::cli::serve(settings),
        Command::Worker => hub::cli::worker(settings),
        Command::Migrate => hub::cli::migrate(settings),
        Command::CreateUser {
            email,
            password,
            name,
            role,
        } => hub::cli::create_user(settings, &email, &password, &name, &role),
        Command::Dev { no_demo } => hub::dev::run(settings, !no_demo),
        Command::Openapi => unreachable!("answered before the configuration is loaded"),
    }
}

/// The document on standard output (an error, not a panic, when the reader goes away).
fn print_openapi() -> anyhow::Result<()> {
    use std::io::Write;
    let json = hub::openapi::document().to_pretty_json()?;
    writeln!(std::io::stdout().lock(), "{json}")?;
    Ok(())
}
