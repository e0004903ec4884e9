//! The `tollgate` command line: one file per subcommand.

mod backtest;
mod check;
mod detect;
mod explain;
mod serve;
mod simulate;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "tollgate",
    version,
    about = "A transparent SMS proxy that stops SMS pumping"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the proxy.
    Serve(serve::Args),
    /// Validate route files and a policy; errors carry file and line.
    Check(check::Args),
    /// Classify and score one number, with every reason.
    Explain(explain::Args),
    /// Write simulated traffic (organic + pumping campaigns) as events JSONL.
    Simulate(simulate::Args),
    /// Replay a recorded log through the policy and report what it stops.
    Backtest(backtest::Args),
    /// Measure detection quality: scenarios x seeds, as Markdown tables.
    Detect(detect::Args),
}

/// Where routes and the policy come from: files given, or the embedded ones.
#[derive(clap::Args, Clone, Default)]
pub struct Sources {
    /// Directory of route files (default: the embedded `routes/`).
    #[arg(long, value_name = "DIR")]
    pub routes: Option<PathBuf>,
    /// Policy file (default: the embedded `policies/default.toml`).
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
}

pub fn run() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Check(args) => check::run(args),
        Command::Explain(args) => explain::run(args),
        Command::Simulate(args) => simulate::run(args),
        Command::Backtest(args) => backtest::run(args),
        Command::Detect(args) => detect::run(args),
    }
}
