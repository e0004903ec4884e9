//! `tollgate detect`: the detection-quality table from one command. Runs
//! every campaign variant × seeds through the engine in memory and prints
//! Markdown (tuning set, held-out set, overall against the targets).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use crate::backtest::Prices;
use crate::policy::EMBEDDED_DEFAULT;
use crate::simulate::evaluate::{self, Plan, Suite};
use crate::simulate::verdict;

/// A comma-separated seed list, possibly empty.
#[derive(Clone, Debug)]
struct Seeds(Vec<u64>);

fn seed_list(s: &str) -> Result<Seeds, String> {
    s.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| t.parse().map_err(|e| format!("`{t}`: {e}")))
        .collect::<Result<_, _>>()
        .map(Seeds)
}

#[derive(clap::Args)]
pub struct Args {
    /// Seeds of the tuning set (comma-separated; an empty string skips it;
    /// default 1,2,3, or 11,12,13 for the hard suite).
    #[arg(long, value_parser = seed_list)]
    seeds: Option<Seeds>,
    /// Seeds of the held-out set (comma-separated; an empty string skips
    /// it; default 101,102,103, or 201–204 for the hard suite).
    #[arg(long, value_parser = seed_list)]
    held_out_seeds: Option<Seeds>,
    /// `standard`: one campaign per run; `hard`: bad days (overlapping
    /// campaigns, blends into small served countries), judged per
    /// country-day, against the separable cost and by net loss.
    #[arg(long, value_enum, default_value_t = Suite::Standard)]
    suite: Suite,
    /// Also run the whole plan at each of these user values (the
    /// trade's threshold, `[economics] user_value`; comma-separated) and
    /// print the trade-off curve.
    #[arg(long, value_delimiter = ',', value_name = "DOLLARS")]
    curve: Vec<f64>,
    /// Policy file (default: the embedded `policies/default.toml`).
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
    /// Price table (default: the embedded `policies/prices.toml`).
    #[arg(long, value_name = "FILE")]
    prices: Option<PathBuf>,
    #[arg(long, default_value_t = 5)]
    days: u32,
    #[arg(long, default_value_t = 3)]
    attack_day: u32,
    #[arg(long, default_value_t = 40_000.0)]
    daily_sessions: f64,
    /// Worker threads (each run is single-threaded).
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Only these variants or shapes (comma-separated).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Instead of running the engine, print the floor on what any
    /// send-time detector misses of the blending campaigns, at these
    /// evidence thresholds (nats, comma-separated; the default policy's
    /// drift fires at 7).
    #[arg(long, value_delimiter = ',', value_name = "NATS")]
    floor: Vec<f64>,
}

pub fn run(args: Args) -> ExitCode {
    let (origin, text) = match &args.policy {
        Some(p) => match std::fs::read_to_string(p) {
            Ok(t) => (p.clone(), t),
            Err(e) => {
                eprintln!("tollgate detect: reading {}: {e}", p.display());
                return ExitCode::FAILURE;
            }
        },
        None => (
            PathBuf::from("policies/default.toml"),
            EMBEDDED_DEFAULT.to_string(),
        ),
    };
    let prices = match &args.prices {
        Some(p) => Prices::load(p),
        None => Prices::embedded(),
    };
    let prices = match prices {
        Ok(p) => p,
        Err(e) => {
            eprintln!("tollgate detect: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (seeds, held_out_seeds) = args.suite.default_seeds();
    let plan = Plan {
        seeds: args.seeds.map_or(seeds, |s| s.0),
        held_out_seeds: args.held_out_seeds.map_or(held_out_seeds, |s| s.0),
        suite: args.suite,
        days: args.days,
        attack_day: args.attack_day,
        daily_sessions: args.daily_sessions,
        threads: args.threads,
        only: args.only,
        ..Plan::default()
    };
    let started = Instant::now();
    if !args.floor.is_empty() {
        return match evaluate::floors(&plan, &prices, &args.floor) {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("tollgate detect: {e}");
                ExitCode::FAILURE
            }
        };
    }
    match evaluate::evaluate(&plan, Path::new(&origin), &text, &prices) {
        Ok((runs, notes)) => {
            let report = match plan.suite {
                Suite::Standard => {
                    evaluate::markdown(&plan, &runs, &notes, &origin.display().to_string())
                }
                Suite::Hard => verdict::markdown(&runs, &plan.seeds, &plan.held_out_seeds),
            };
            print!("{report}");
            if !args.curve.is_empty() {
                match sweep(&plan, &origin, &text, &prices, &args.curve) {
                    Ok(curve) => print!("\n{curve}"),
                    Err(e) => {
                        eprintln!("tollgate detect: {e}");
                        return ExitCode::FAILURE;
                    }
                }
            }
            eprintln!(
                "tollgate detect: {} runs in {:.1} s",
                runs.len(),
                started.elapsed().as_secs_f64()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("tollgate detect: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the plan once per user value and tabulates the trade-off.
fn sweep(
    plan: &Plan,
    origin: &Path,
    text: &str,
    prices: &crate::backtest::Prices,
    values: &[f64],
) -> Result<String, String> {
    let mut table: toml::Table = toml::from_str(text).map_err(|e| e.to_string())?;
    let mut points = Vec::new();
    for &v in values {
        let economics = table
            .entry("economics")
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if let Some(t) = economics.as_table_mut() {
            t.insert("user_value".into(), toml::Value::Float(v));
        }
        let text = toml::to_string(&table).map_err(|e| e.to_string())?;
        let (runs, _) =
            evaluate::evaluate(plan, origin, &text, prices).map_err(|e| e.to_string())?;
        points.push((v, runs));
    }
    Ok(verdict::curve(&points))
}
