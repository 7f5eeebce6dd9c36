use std::io::BufRead;

use anyhow::Context;
use clap::{Parser, Subcommand};
use switchboard::{accounts, config::Config, db::Db, keys, startup::Application};
use tracing_subscriber::EnvFilter;

/// mimalloc's per-thread heaps serve the many small allocations of the webhook path for less
/// than glibc's allocator (docs/performance.md, "Webhook acknowledgement latency and throughput").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Switchboard: connects your organization's Twilio account to its AI agents over WhatsApp and SMS.
#[derive(Parser)]
#[command(name = "switchboard", version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// A TOML file of settings, named as the flags are (`public_url = "https://…"`); flags and
    /// environment variables win over it.
    #[arg(long = "config", env = "SWITCHBOARD_CONFIG", global = true)]
    config_file: Option<std::path::PathBuf>,
    #[command(flatten)]
    config: Config,
}

/// Parses the command line, with the settings file (if any) as the defaults under the flags and
/// environment variables.
fn parse_cli() -> anyhow::Result<Cli> {
    use clap::{CommandFactory, FromArgMatches};
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let mut command = Cli::command();
    let named = args.iter().enumerate().find_map(|(i, a)| {
        let a = a.to_str()?;
        match a.strip_prefix("--config=") {
            Some(path) => Some(path.to_string()),
            None if a == "--config" => args.get(i + 1).and_then(|p| p.to_str()).map(str::to_string),
            None => None,
        }
    });
    if let Some(path) = named.or_else(|| std::env::var("SWITCHBOARD_CONFIG").ok()) {
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading the settings file {path}"))?;
        let table: toml::Table = text.parse().with_context(|| format!("{path} is not valid TOML"))?;
        let known: Vec<String> = command
            .get_arguments()
            .filter(|a| a.get_long().is_some() && a.get_id() != "config_file")
            .map(|a| a.get_id().to_string())
            .collect();
        for (key, value) in table {
            let id = key.replace('-', "_");
            anyhow::ensure!(
                known.contains(&id),
                "{path}: unknown setting {key:?}; the settings are {}",
                known.join(", ")
            );
            let value = match value {
                toml::Value::String(s) => s,
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Float(f) => f.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                other => anyhow::bail!("{path}: {key} must be a string, number or boolean, not {}", other.type_str()),
            };
            command = command.mut_arg(id, |arg| arg.default_value(value));
        }
    }
    let matches = command.get_matches_from(args);
    Ok(Cli::from_arg_matches(&matches)?)
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve,
    /// Create an organization and its first admin: the first one, as the setup page does, or
    /// another one beside it (each sees only its own data). The password is read from
    /// SWITCHBOARD_ADMIN_PASSWORD or, without it, from the first line of standard input.
    CreateAdmin {
        #[arg(long)]
        org: String,
        #[arg(long)]
        email: String,
    },
    /// Check what must hold before serving guests (public URL, master key, database, Twilio's
    /// APIs), each with a verdict; exits non-zero when one fails. Changes nothing.
    Check,
    /// Copy the SQLite database to a new file while Switchboard runs (VACUUM INTO).
    Backup {
        /// The file to write; it must not exist.
        target: std::path::PathBuf,
    },
    /// Replace the master key with a new random one and re-encrypt every stored secret under it.
    /// Stop Switchboard first. With a key file, the file is replaced; with SWITCHBOARD_MASTER_KEY,
    /// the new key is printed once, to be set in its place on every instance.
    RotateKey,
    /// For the benchmark: a bare axum server that answers the webhook path with empty TwiML and
    /// does nothing else, as the baseline the real webhook is compared with.
    #[command(hide = true)]
    BenchBaseline,
}

fn init_tracing() {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_sessions=warn"));
    let colour = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(colour);
    if std::env::var("SWITCHBOARD_LOG_FORMAT").as_deref() == Ok("json") {
        builder.json().init();
    } else {
        builder.init();
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    init_tracing();
    let cli = parse_cli()?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let app = Application::build(cli.config).await?;
            tracing::info!(port = app.port(), public_url = app.public_url(), "Switchboard is listening");
            app.run_until(shutdown_signal()).await
        }
        Command::BenchBaseline => {
            let app = axum::Router::new().route(
                "/twilio/inbound/{key}",
                axum::routing::post(|| async {
                    ([("content-type", "text/xml")], r#"<?xml version="1.0" encoding="UTF-8"?><Response></Response>"#)
                }),
            );
            let listener = tokio::net::TcpListener::bind(cli.config.bind).await?;
            // Served as Switchboard's router is: built once, not for every connection.
            axum::serve(listener, app.with_state(()).into_make_service()).await?;
            Ok(())
        }
        Command::Check => {
            let verdicts = switchboard::preflight::run(&cli.config).await;
            for v in &verdicts {
                println!("{v}");
            }
            let failed = verdicts.iter().filter(|v| v.level == switchboard::preflight::Level::Fail).count();
            if failed > 0 {
                anyhow::bail!("{failed} check(s) failed");
            }
            println!("All checks passed.");
            Ok(())
        }
        Command::Backup { target } => {
            let bytes = switchboard::preflight::backup(&cli.config, &target).await?;
            println!("Backed up the database to {} ({bytes} bytes).", target.display());
            Ok(())
        }
        Command::RotateKey => {
            let db = Db::connect(&cli.config.database_url()).await?;
            let key_file = cli.config.data_dir.join("master.key");
            match keys::rotate_master_key(&db, cli.config.master_key.as_ref(), &key_file).await? {
                keys::Rotated::KeyFile { secrets } => {
                    println!("Re-encrypted {secrets} secret(s); {} now holds the new master key.", key_file.display())
                }
                keys::Rotated::EnvKey { secrets, new_key } => println!(
                    "Re-encrypted {secrets} secret(s). Set SWITCHBOARD_MASTER_KEY to this new key on every instance \
                     before starting Switchboard again (the old key no longer opens them):\n{}",
                    new_key.expose()
                ),
            }
            Ok(())
        }
        Command::CreateAdmin { org, email } => {
            let password = match std::env::var("SWITCHBOARD_ADMIN_PASSWORD") {
                Ok(p) => p,
                Err(_) => {
                    let mut line = String::new();
                    std::io::stdin().lock().read_line(&mut line).context("reading the password from standard input")?;
                    line.trim_end_matches(['\r', '\n']).to_string()
                }
            };
            let db = Db::connect(&cli.config.database_url()).await?;
            match accounts::create_organization(&db, &org, &email, password).await {
                Ok(me) => {
                    println!("Created organization {:?} with admin {}", me.org_name, me.email);
                    Ok(())
                }
                Err(e) => Err(anyhow::anyhow!("{}", app::AppError::from(e))),
            }
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = terminate => {} }
    tracing::info!("shutting down");
}
