//! `tollgate explain +NUMBER`: classify and score one number, with reasons.

use std::process::ExitCode;

use crate::clock::Timestamp;
use crate::number::Classifier;
use crate::policy::{Engine, SendFacts};

#[derive(clap::Args)]
pub struct Args {
    /// The number, in international form (`+2348031234567`).
    number: String,
    #[command(flatten)]
    sources: super::Sources,
    /// Route id to score as (`twilio.messages`).
    #[arg(long, default_value = "twilio.messages")]
    route: String,
    /// Channel to score as.
    #[arg(long, default_value = "sms")]
    channel: String,
}

pub fn run(args: Args) -> ExitCode {
    let policy = match super::serve::load(
        args.sources.routes.as_deref(),
        args.sources.policy.as_deref(),
        &Default::default(),
    ) {
        Ok((_, p)) => p,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let classifier = Classifier::embedded();
    let number = classifier.parse_and_classify(&args.number, None);
    match &number {
        Ok(c) => {
            println!("number     +{}", c.number.digits());
            println!(
                "country    {}",
                c.region
                    .map(|r| r.to_string())
                    .unwrap_or_else(|| "unknown".into())
            );
            println!("valid      {}", c.valid);
            println!("line type  {}", c.line_type);
            println!("carrier    {}", c.carrier.as_deref().unwrap_or("unknown"));
            println!("ranges     +{} / +{}", c.number.range(3), c.number.range(4));
        }
        Err(e) => println!("number     not a phone number: {e}"),
    }
    let provider = args.route.split('.').next().unwrap_or("");
    let facts = SendFacts {
        route: &args.route,
        provider,
        channel: &args.channel,
        ..SendFacts::default()
    };
    let engine = Engine::new(policy, false);
    let d = engine.decide(&facts, number.as_ref(), Timestamp::now());
    println!("decision   {}", d.explanation());
    for r in &d.reasons {
        println!("  {:<28} +{:<3} {}", r.code, r.weight, r.detail);
    }
    match &d.trade {
        Some(t) => {
            println!(
                "pumping    {:.0}% likely: stopping saves {:.0}% × ${:.4} = ${:.4}",
                t.pumping * 100.0,
                t.pumping * 100.0,
                t.price,
                t.saved
            );
            println!(
                "user cost  {:.0}% a real user: stopping costs ${:.4} ({})",
                (1.0 - t.pumping) * 100.0,
                t.user_cost,
                if t.saved > t.user_cost {
                    "worth a stop"
                } else {
                    "not worth a stop"
                }
            );
        }
        None if d.hard => println!("trade      none: a hard rule decides"),
        None => println!("trade      none: no evidence to weigh"),
    }
    ExitCode::SUCCESS
}
