//! Helpers shared by the verbs: profile loading with warnings, error printing.

use std::path::Path;

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
