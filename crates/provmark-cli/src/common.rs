//! Helpers shared by the verbs: profile loading with warnings, error printing, and failures to
//! write standard output.

use std::any::Any;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use provmark_core::Profile;

/// Prints an error as one line: `provmark: error: outer: inner: …`.
pub fn print_error(e: &anyhow::Error) {
    let mut line = String::from("provmark: error: ");
    let parts: Vec<String> = e.chain().map(|c| c.to_string()).collect();
    // anyhow chains often repeat the inner message; keep each distinct part once.
    let mut seen: Vec<&str> = Vec::new();
    for p in &parts {
        if !seen.iter().any(|s| s.contains(p.as_str())) {
            seen.push(p);
        }
    }
    line.push_str(&seen.join(": "));
    eprintln!("{}", line.replace('\n', " "));
}

/// Loads a profile, printing its warnings (e.g. readable by others) to stderr.
pub fn load_profile(path: &Path) -> anyhow::Result<Profile> {
    let (profile, warnings) = Profile::load(path).context("cannot load profile")?;
    for w in warnings {
        eprintln!("provmark: warning: {w}");
    }
    Ok(profile)
}

/// The start of the message with which `print!`/`println!` (and the `e` variants) give up when
/// the stream cannot be written.
const PRINT_FAILED: [&str; 2] = ["failed printing to stdout", "failed printing to stderr"];

fn panic_text(payload: &(dyn Any + Send)) -> Option<&str> {
    payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
}

/// The message of a panic raised because standard output or error could not be written, or
/// `None` for any other panic (a bug, which keeps its default report).
pub fn output_panic_message(payload: &(dyn Any + Send)) -> Option<String> {
    let text = panic_text(payload)?;
    PRINT_FAILED
        .iter()
        .any(|p| text.starts_with(p))
        .then(|| text.to_string())
}

/// Keeps the default panic report for bugs but silences the one for a failed write to
/// standard output or error: `main` turns that into a one-line error or a quiet exit.
pub fn quiet_output_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if output_panic_message(info.payload()).is_none() {
            default(info);
        }
    }));
}

/// Flushes standard output (a `print!` without newline stays buffered until exit, where a
/// failure would go unnoticed).
pub fn flush_stdout() -> std::io::Result<()> {
    std::io::stdout().lock().flush()
}

/// Exit status and message for a failed write to standard output or error: a closed pipe ends
/// quietly with 141 (as SIGPIPE would); anything else is an error (2) on stderr.
pub fn output_failure(msg: &str) -> ExitCode {
    if msg.contains("Broken pipe") || msg.contains("os error 32") {
        return ExitCode::from(141);
    }
    if msg.starts_with(PRINT_FAILED[1]) {
        // stderr itself is broken: nowhere to say more.
        return ExitCode::from(2);
    }
    let detail = msg
        .strip_prefix(PRINT_FAILED[0])
        .map_or(msg, |m| m.trim_start_matches(':').trim());
    let _ = writeln!(
        std::io::stderr(),
        "provmark: error: cannot write to standard output: {detail}"
    );
    ExitCode::from(2)
}

/// Whether an error is (or wraps) a write to a closed pipe.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            || c.downcast_ref::<serde_json::Error>()
                .is_some_and(|j| j.io_error_kind() == Some(std::io::ErrorKind::BrokenPipe))
    })
}
