//! The `provmark` binary: thin verbs over the provmark libraries.
//!
//! Exit status follows grep: 0 = watermark / evidence found (or the verb succeeded), 1 = not
//! found (or a report was altered), 2 = error (one line on stderr). When standard output is a
//! closed pipe (`provmark generate | head`) the process ends quietly with 141, the status a
//! shell reports for a program stopped by SIGPIPE; any other failure to write standard output
//! (a full disk, `> /dev/full`) is an error (exit 2).
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod accounts;
mod bench;
mod check;
mod common;
mod eval;
mod generate;
mod generate_model;
mod keygen;
mod model;
mod scan;
mod scan_model;
mod serve;
mod verify_report;

/// provmark: keyed LLM watermarks, exact detection and distillation evidence.
#[derive(Parser)]
#[command(name = "provmark", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create a new watermark profile (secret key + every detection parameter).
    Keygen(keygen::KeygenArgs),
    /// Test one suspect text (or token ids) for the watermark: verdict, exact p-value, account,
    /// spans.
    Check(check::CheckArgs),
    /// Answer chat prompts with a real model (SmolLM2 GGUF), every token watermarked through the
    /// serving library unless --no-watermark.
    Generate(generate_model::GenerateArgs),
    /// Generate text with the simulated language model (a simulation, not a real model; fast,
    /// for tests and calibration), watermarked unless --no-watermark.
    GenerateSim(generate::GenerateArgs),
    /// Model files: convert a GGUF to Q8_0, extract its tokenizer, show its architecture.
    Model(model::ModelArgs),
    /// Scan a corpus for distillation evidence: one pooled exact test over every distinct token
    /// pair, per-account attribution, JSON and HTML evidence reports.
    Scan(scan::ScanArgs),
    /// Open-model test: feed our watermarked answers to a suspect model (GGUF weights) and test
    /// whether its own predictions follow our key — whether it learned the watermark.
    ScanModel(scan_model::ScanModelArgs),
    /// Serve chat completions (OpenAI API) with a real model; every answer watermarked with the
    /// key of the account it goes to, and recorded in the served log.
    Serve(serve::ServeArgs),
    /// Manage the API keys of `serve` (add prints a new key once; only keyed hashes are stored).
    Accounts(accounts::AccountsArgs),
    /// Check that an evidence report is exactly as `scan` wrote it (MAC under the profile).
    VerifyReport(verify_report::VerifyReportArgs),
    /// Measure the cost of watermarking on this machine.
    Bench(bench::BenchArgs),
    /// Simulated distillation and the evaluation tables (a simulation, not a real model).
    Eval(eval::EvalArgs),
}

fn main() -> ExitCode {
    common::quiet_output_panics();
    match std::panic::catch_unwind(run_cli) {
        Ok(code) => match common::flush_stdout() {
            Ok(()) => code,
            Err(e) => common::output_failure(&e.to_string()),
        },
        Err(payload) => match common::output_panic_message(payload.as_ref()) {
            Some(msg) => common::output_failure(&msg),
            None => std::panic::resume_unwind(payload),
        },
    }
}

fn run_cli() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let result = match cli.command {
        Command::Keygen(a) => keygen::run(a),
        Command::Check(a) => check::run(a),
        Command::Generate(a) => generate_model::run(a),
        Command::GenerateSim(a) => generate::run(a),
        Command::Model(a) => model::run(a),
        Command::Bench(a) => bench::run(a),
        Command::Eval(a) => eval::run(a),
        Command::Scan(a) => scan::run(a),
        Command::ScanModel(a) => scan_model::run(a),
        Command::Serve(a) => serve::run(a),
        Command::Accounts(a) => accounts::run(a),
        Command::VerifyReport(a) => verify_report::run(a),
    };
    match result {
        Ok(code) => code,
        // A closed pipe reported as an error by a verb that writes through its own buffer.
        Err(e) if common::is_broken_pipe(&e) => ExitCode::from(141),
        Err(e) => {
            common::print_error(&e);
            ExitCode::from(2)
        }
    }
}
