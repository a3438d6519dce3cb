//! `provmark verify-report`: is an evidence report exactly as `scan` wrote it?

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use provmark_scan::Verification;

/// Arguments of `provmark verify-report`.
#[derive(clap::Args, Debug)]
pub struct VerifyReportArgs {
    /// The JSON evidence report written by `provmark scan --out` (`-` reads standard input).
    #[arg(value_name = "REPORT")]
    pub report: PathBuf,
    /// The profile whose key sealed the report.
    #[arg(long, value_name = "FILE")]
    pub profile: PathBuf,
}

/// Runs `verify-report`: exit 0 intact, 1 altered, 2 error (not a report, unreadable, or sealed
/// under another key than the profile's: "cannot verify with this profile").
pub fn run(a: VerifyReportArgs) -> anyhow::Result<ExitCode> {
    let profile = crate::common::load_profile(&a.profile)?;
    let (bytes, name) = if a.report.as_os_str() == "-" {
        let mut buf = Vec::new();
        std::io::stdin()
            .lock()
            .read_to_end(&mut buf)
            .context("cannot read standard input")?;
        (buf, PathBuf::from("<stdin>"))
    } else {
        let bytes = std::fs::read(&a.report)
            .with_context(|| format!("cannot read {}", a.report.display()))?;
        (bytes, a.report.clone())
    };
    match provmark_scan::report::verify_report_bytes(&bytes, Path::new(&name), &profile)? {
        Verification::Intact => {
            println!(
                "{}: intact (MAC verified under key {})",
                name.display(),
                profile.key_id()
            );
            Ok(ExitCode::SUCCESS)
        }
        Verification::Altered(why) => {
            println!("{}: ALTERED: {why}", name.display());
            Ok(ExitCode::from(1))
        }
    }
}
