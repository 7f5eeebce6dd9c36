use std::{net::SocketAddr, path::PathBuf};

use clap::Parser;
use twilio_sim::{start, Options, Seed};

/// A Twilio simulator: Switchboard's stand-in for Twilio in demos and tests.
#[derive(Parser)]
#[command(name = "twilio-sim", version)]
struct Cli {
    #[arg(long, env = "TWILIO_SIM_BIND", default_value = "127.0.0.1:3900")]
    bind: SocketAddr,
    /// A JSON file of accounts and numbers (see sim/demo-seed.json); the built-in demo without it.
    #[arg(long, env = "TWILIO_SIM_SEED")]
    seed: Option<PathBuf>,
    /// Where the simulator receives email over SMTP (shown in the Mailbox on its page).
    #[arg(long, env = "TWILIO_SIM_SMTP_BIND", default_value = "127.0.0.1:2525")]
    smtp_bind: SocketAddr,
    /// The simulator's own URL, for the absolute page URLs in its answers.
    #[arg(long, env = "TWILIO_SIM_PUBLIC_URL")]
    public_url: Option<String>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let cli = Cli::parse();
    let seed = match &cli.seed {
        Some(path) => serde_json::from_str(&std::fs::read_to_string(path)?)?,
        None => Seed::demo(),
    };
    let listener = tokio::net::TcpListener::bind(cli.bind).await?;
    let handle = start(listener, seed.clone(), Options::default(), cli.public_url).await?;
    let smtp = tokio::net::TcpListener::bind(cli.smtp_bind).await?;
    handle.sim.serve_smtp(smtp);
    println!("Twilio simulator on {}  (guest phone: {}/)", handle.url(), handle.url());
    println!("  SMTP on {} (emails show in the Mailbox on the phone page)", cli.smtp_bind);
    for a in &seed.accounts {
        println!("  account {} ({}); its Auth Token is shown on the phone page", a.sid, a.friendly_name);
    }
    handle.task.await?;
    Ok(())
}
