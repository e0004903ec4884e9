//! `tollgate simulate`: writes a seeded run of organic traffic and pumping
//! campaigns in the `events` format, with ground-truth labels.

use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use crate::simulate::{self, catalog, Config, Plans};

#[derive(clap::Args)]
pub struct Args {
    /// Seed: the same seed gives the same bytes.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Days of traffic.
    #[arg(long, default_value_t = 7)]
    days: u32,
    /// Organic verification sessions per day (sends are ~10% more).
    #[arg(long, default_value_t = 50_000.0)]
    daily_sessions: f64,
    /// Campaigns: `default` (one variant per shape), `all`, `held-out`,
    /// `none`, or a comma-separated list of variants or shapes
    /// (`range_sweep/fast,blending`).
    #[arg(long, default_value = "default")]
    attacks: String,
    /// Day of the run on which campaigns begin (default: two days before
    /// the end).
    #[arg(long)]
    attack_day: Option<u32>,
    /// Leave out the marketing push and the new-market launch.
    #[arg(long)]
    no_surprises: bool,
    /// Output file (default: stdout).
    #[arg(long, short)]
    out: Option<PathBuf>,
}

pub fn run(args: Args) -> ExitCode {
    let attack_day = args
        .attack_day
        .unwrap_or_else(|| args.days.saturating_sub(2));
    let campaigns = match args.attacks.as_str() {
        "default" => catalog::defaults(attack_day),
        "all" => catalog::tuning(attack_day),
        "held-out" => catalog::held_out(attack_day),
        "none" => Vec::new(),
        list => {
            let names: Vec<&str> = list.split(',').map(str::trim).collect();
            match catalog::select(&names, attack_day) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("tollgate simulate: {e}");
                    return ExitCode::from(2);
                }
            }
        }
    };
    let cfg = Config {
        seed: args.seed,
        days: args.days,
        daily_sessions: args.daily_sessions,
        surprises: !args.no_surprises,
        campaigns,
        ..Config::default()
    };
    let sim = simulate::run(&cfg, &Plans::embedded());
    let result = match &args.out {
        Some(path) => std::fs::File::create(path).and_then(|f| {
            let mut w = BufWriter::new(f);
            simulate::write_jsonl(&sim.events, &mut w)?;
            w.flush()
        }),
        None => {
            let stdout = std::io::stdout();
            let mut w = BufWriter::new(stdout.lock());
            simulate::write_jsonl(&sim.events, &mut w).and_then(|_| w.flush())
        }
    };
    if let Err(e) = result {
        eprintln!("tollgate simulate: writing events: {e}");
        return ExitCode::FAILURE;
    }
    let sends = sim
        .events
        .iter()
        .filter(|e| e.kind == simulate::SimKind::Send)
        .count();
    let attack = sim
        .events
        .iter()
        .filter(|e| e.kind == simulate::SimKind::Send && e.label.is_attack())
        .count();
    eprintln!(
        "tollgate simulate: seed {}, {} days: {} events, {} sends ({} attack), {} conversions",
        args.seed,
        args.days,
        sim.events.len(),
        sends,
        attack,
        sim.events.len() - sends
    );
    ExitCode::SUCCESS
}
