//! `provmark verify-report`: is an evidence report exactly as `scan` wrote it?

use std::path::PathBuf;
use std::process::ExitCode;

use provmark_scan::Verification;

/// Arguments of `provmark verify-report`.
#[derive(clap::Args, Debug)]
pub struct VerifyReportArgs {
    /// The JSON evidence report written by `provmark scan --out`.
    #[arg(value_name = "REPORT")]
    pub report: PathBuf,
    /// The profile whose key sealed the report.
    #[arg(long, value_name = "FILE")]
    pub profile: PathBuf,
}

/// Runs `verify-report`: exit 0 intact, 1 altered, 2 error.
pub fn run(a: VerifyReportArgs) -> anyhow::Result<ExitCode> {
    let profile = crate::common::load_profile(&a.profile)?;
    match provmark_scan::verify_report(&a.report, &profile)? {
        Verification::Intact => {
            println!(
                "{}: intact (MAC verified under key {})",
                a.report.display(),
                profile.key_id()
            );
            Ok(ExitCode::SUCCESS)
        }
        Verification::Altered(why) => {
            println!("{}: ALTERED: {why}", a.report.display());
            Ok(ExitCode::from(1))
        }
    }
}
