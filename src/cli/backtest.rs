//! `tollgate backtest`: replays a recorded log through the policy on the
//! live decision path and reports what it would have stopped.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::backtest::{self, report, Context, Format, Options, Prices};
use crate::number::Classifier;
use crate::policy::{Engine, Policy};

#[derive(clap::Args)]
pub struct Args {
    /// The log: `events` JSONL or Twilio Message resources.
    #[arg(long, value_name = "FILE")]
    input: PathBuf,
    #[arg(long, value_enum, default_value_t = Format::Auto)]
    format: Format,
    /// Policy file (default: the embedded `policies/default.toml`).
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
    /// Price table (default: the embedded `policies/prices.toml`).
    #[arg(long, value_name = "FILE")]
    prices: Option<PathBuf>,
    /// Write one JSON line per send: id, action, score, reasons.
    #[arg(long, value_name = "OUT.jsonl")]
    decisions: Option<PathBuf>,
    /// Write a self-contained HTML report.
    #[arg(long, value_name = "OUT.html")]
    report: Option<PathBuf>,
    /// Fail on the first malformed record instead of skipping it.
    #[arg(long)]
    strict: bool,
    /// Route id the sends are scored as.
    #[arg(long, default_value = "twilio.messages")]
    route: String,
    /// History (`events` JSONL with conversions) counted into the engine
    /// before the replay, up to the input's first event, as
    /// `tollgate serve --warm` does before it listens.
    #[arg(long, value_name = "FILE")]
    warm: Option<PathBuf>,
}

pub fn run(args: Args) -> ExitCode {
    match run_inner(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("tollgate backtest: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run_inner(args: &Args) -> anyhow::Result<ExitCode> {
    let policy = match &args.policy {
        Some(p) => Policy::load(p),
        None => Policy::embedded(),
    }
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let prices = match &args.prices {
        Some(p) => Prices::load(p),
        None => Prices::embedded(),
    }
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let input = std::fs::read_to_string(&args.input)
        .map_err(|e| anyhow::anyhow!("reading {}: {e}", args.input.display()))?;
    let engine = Engine::new(policy, false);
    let classifier = Classifier::embedded();
    let opts = Options {
        format: args.format,
        strict: args.strict,
        context: Context {
            route: args.route.clone(),
            provider: args.route.split('.').next().unwrap_or("").to_string(),
        },
    };
    let parsed = backtest::read::parse(&input, opts.format)?;
    if let Some(path) = &args.warm {
        let history = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
        // Up to the input's first event: no look-ahead.
        let start = parsed
            .events
            .iter()
            .map(|e| e.ts)
            .min()
            .unwrap_or(crate::clock::Timestamp(i64::MAX));
        let w = backtest::warm::warm_from(
            &engine,
            &classifier,
            &opts.context,
            &history,
            Format::Auto,
            start,
        )
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        eprintln!("tollgate backtest: warmed with {w}");
    }
    let mut writer = match &args.decisions {
        Some(p) => {
            Some(BufWriter::new(std::fs::File::create(p).map_err(|e| {
                anyhow::anyhow!("creating {}: {e}", p.display())
            })?))
        }
        None => None,
    };
    let outcome = backtest::run_parsed(
        parsed,
        &opts,
        &engine,
        &classifier,
        &prices,
        writer.as_mut().map(|w| w as &mut dyn Write),
    )?;
    if let Some(mut w) = writer {
        w.flush()?;
    }
    for m in outcome.malformed.iter().take(10) {
        eprintln!(
            "tollgate backtest: {}:{}: skipped: {}",
            args.input.display(),
            m.line,
            m.message
        );
    }
    if outcome.malformed.len() > 10 {
        eprintln!(
            "tollgate backtest: … and {} more malformed records",
            outcome.malformed.len() - 10
        );
    }
    print!("{}", outcome.summary.render());
    if let Some(path) = &args.report {
        let title = format!(
            "tollgate backtest — {}",
            Path::new(&args.input)
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default()
        );
        std::fs::write(path, report::render(&outcome.summary, &title))
            .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
        eprintln!("tollgate backtest: report written to {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}
