//! `tollgate check`: validate route files and a policy without serving.

use std::collections::BTreeMap;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    sources: super::Sources,
}

pub fn run(args: Args) -> ExitCode {
    match super::serve::load(
        args.sources.routes.as_deref(),
        args.sources.policy.as_deref(),
        &BTreeMap::new(),
    ) {
        Ok((routes, _)) => {
            for r in routes.sends() {
                println!(
                    "send  {:<24} {} {}  -> {}",
                    r.id, r.method, r.spec.path, r.upstream.name
                );
            }
            for u in routes.upstreams() {
                println!("upstream {:<16} {}", u.name, u.base);
            }
            println!("ok");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
