//! The `provmark eval` verb on its own (development aid; the real entry point is the `provmark`
//! binary): compiles `crates/provmark-cli/src/eval.rs` unchanged, so it stays checked here.
use std::process::ExitCode;

use clap::Parser;

#[path = "../../provmark-cli/src/eval.rs"]
mod eval;

/// provmark eval (stand-alone).
#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: eval::EvalArgs,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    match eval::run(cli.args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("provmark: error: {e:#}");
            ExitCode::from(2)
        }
    }
}
