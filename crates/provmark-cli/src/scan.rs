//! `provmark scan`: pooled distillation evidence over a corpus, with JSON and HTML reports.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use provmark_scan::{Progress, ScanConfig};

/// Arguments of `provmark scan`.
#[derive(clap::Args, Debug)]
pub struct ScanArgs {
    /// Suspect corpus: JSONL (.jsonl/.ndjson/.json, optionally .gz/.zst), plain-text files,
    /// Parquet, or directories of them; `-` reads JSONL from standard input.
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<PathBuf>,
    /// The watermark profile (holds the secret key).
    #[arg(long, value_name = "FILE")]
    pub profile: PathBuf,
    /// Text field of JSONL records / string column of Parquet files.
    #[arg(long, default_value = "text", value_name = "NAME")]
    pub field: String,
    /// Prompt field: contexts that occur in a record's prompt are not scored.
    #[arg(long, value_name = "NAME")]
    pub prompt_field: Option<String>,
    /// Record id field (default id: `path:line`).
    #[arg(long, value_name = "NAME")]
    pub id_field: Option<String>,
    /// Accounts to test, one id per line (blank lines and lines starting with # ignored).
    #[arg(long, visible_alias = "accounts", value_name = "FILE")]
    pub accounts_file: Option<PathBuf>,
    /// An account to test (repeatable; added to --accounts).
    #[arg(long = "account", value_name = "ID")]
    pub account: Vec<String>,
    /// Clean reference corpus, scanned with the same settings and shown beside the result.
    #[arg(long, num_args = 1.., value_name = "INPUT")]
    pub control: Vec<PathBuf>,
    /// Supervised mode: score only contexts that occur in these files (your own served outputs).
    #[arg(long, num_args = 1.., value_name = "INPUT")]
    pub filter_from: Vec<PathBuf>,
    /// Significance level of the verdict.
    #[arg(long, default_value_t = provmark_scan::DEFAULT_ALPHA, value_name = "A")]
    pub alpha: f64,
    /// Write the sealed JSON evidence report here.
    #[arg(long, value_name = "REPORT.json")]
    pub out: Option<PathBuf>,
    /// Write the self-contained HTML report here.
    #[arg(long, value_name = "REPORT.html")]
    pub html: Option<PathBuf>,
    /// Write one JSON line per suspect record (id, status, reason, scored_tokens, p_value).
    #[arg(long, value_name = "RECORDS.jsonl")]
    pub records: Option<PathBuf>,
    /// Replace existing output files (inputs and the profile are never overwritten).
    #[arg(long)]
    pub force: bool,
    /// Worker threads (default: all cores).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Memory budget of the global dedup set in MiB; beyond it, sorted runs spill to disk.
    #[arg(long, default_value_t = (provmark_scan::DEFAULT_MEMORY_BUDGET >> 20) as u64, value_name = "MiB")]
    pub memory: u64,
    /// Directory for spilled runs (default: the system temp directory).
    #[arg(long, value_name = "DIR")]
    pub spill_dir: Option<PathBuf>,
    /// Skip records with fewer tokens (always at least context width + 1).
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub min_tokens: usize,
    /// Hugging Face tokenizer.json, or a GGUF model (`--model`), whose tokenizer to use instead
    /// of the path recorded in the profile.
    #[arg(long, alias = "model", value_name = "FILE")]
    pub tokenizer: Option<PathBuf>,
    /// Print the sealed JSON report on standard output instead of the summary.
    #[arg(long)]
    pub json: bool,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

fn read_accounts(a: &ScanArgs) -> anyhow::Result<Vec<String>> {
    let mut out = match &a.accounts_file {
        Some(p) => provmark_detect::read_accounts_file(p)?,
        None => Vec::new(),
    };
    out.extend(a.account.iter().cloned());
    Ok(out)
}

/// Draws a progress bar from the scan's counters until `done` is set.
fn progress_thread(progress: Arc<Progress>, done: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:30} {bytes}/{total_bytes} {bytes_per_sec} ETA {eta} {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        while !done.load(Ordering::Relaxed) {
            bar.set_length(progress.bytes_total.load(Ordering::Relaxed));
            bar.set_position(progress.bytes_read.load(Ordering::Relaxed));
            let merging = if progress.merging.load(Ordering::Relaxed) {
                " · merging"
            } else {
                ""
            };
            bar.set_message(format!(
                "{} records · {} tokens{merging}",
                progress.records.load(Ordering::Relaxed),
                progress.tokens.load(Ordering::Relaxed)
            ));
            std::thread::sleep(Duration::from_millis(150));
        }
        bar.finish_and_clear();
    })
}

/// Runs `scan`: exit 0 when the corpus carries the watermark at alpha (the master key, or with
/// accounts the strongest key after a Bonferroni correction over all keys tested), 1 when not.
pub fn run(a: ScanArgs) -> anyhow::Result<ExitCode> {
    // Every output is checked and opened (as a temporary file beside it) before any input is
    // read; they are renamed into place only after the scan succeeded.
    let out_paths: Vec<&std::path::Path> = [&a.out, &a.html, &a.records]
        .into_iter()
        .flatten()
        .map(PathBuf::as_path)
        .collect();
    let protected: Vec<&std::path::Path> = a
        .inputs
        .iter()
        .chain(&a.control)
        .chain(&a.filter_from)
        .chain([&a.profile])
        .chain(&a.accounts_file)
        .chain(&a.tokenizer)
        .map(PathBuf::as_path)
        .collect();
    let mut outputs = provmark_scan::output::Outputs::prepare(&out_paths, &protected, a.force)?;
    let slot = |want: &Option<PathBuf>| {
        want.as_ref()
            .and_then(|w| out_paths.iter().position(|p| *p == w.as_path()))
    };
    let (out_slot, html_slot, records_slot) = (slot(&a.out), slot(&a.html), slot(&a.records));
    let profile = crate::common::load_profile(&a.profile)?;
    let accounts = read_accounts(&a)?;
    if !accounts.is_empty() && !profile.supports_accounts() {
        anyhow::bail!(
            "profile {} holds an imported (vLLM or SynthID-Text) key: it has one key and no per-account keys, so accounts cannot be tested",
            profile.key_id()
        );
    }
    let threads = a.threads.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    let mut cfg = ScanConfig::new(a.inputs.clone());
    cfg.field = a.field.clone();
    cfg.prompt_field = a.prompt_field.clone();
    cfg.id_field = a.id_field.clone();
    cfg.accounts = accounts;
    cfg.control = a.control.clone();
    cfg.filter_from = a.filter_from.clone();
    cfg.alpha = a.alpha;
    cfg.threads = threads;
    cfg.memory_budget = usize::try_from(a.memory.saturating_mul(1 << 20)).unwrap_or(usize::MAX);
    cfg.spill_dir = a.spill_dir.clone();
    cfg.min_tokens = a.min_tokens;
    cfg.tokenizer_path = a.tokenizer.clone();
    cfg.records_out = records_slot
        .and_then(|i| outputs.temp_path(i))
        .map(std::path::Path::to_path_buf);

    let progress = Arc::new(Progress::default());
    let done = Arc::new(AtomicBool::new(false));
    let bar = (!a.quiet && std::io::stderr().is_terminal())
        .then(|| progress_thread(progress.clone(), done.clone()));
    let result = provmark_scan::scan(&profile, &cfg, &progress);
    done.store(true, Ordering::Relaxed);
    if let Some(b) = bar {
        let _ = b.join();
    }
    let mut report = result?;
    for s in &report.skipped_inputs {
        eprintln!("provmark: warning: {}: skipped: {}", s.path, s.reason);
    }
    let sealed = report.seal(&profile)?;
    if let Some(i) = out_slot {
        outputs.write(i, &sealed)?;
    }
    if let Some(i) = html_slot {
        let json = String::from_utf8_lossy(&sealed);
        outputs.write(i, provmark_scan::html::render(&report, &json).as_bytes())?;
    }
    outputs.commit()?;
    if a.json {
        print!("{}", String::from_utf8_lossy(&sealed));
    } else {
        let c = &report.corpus;
        let ev = &report.evidence;
        let fmt_p = provmark_scan::report::format_p;
        println!("{}", report.summary);
        // The one verdict first (the report's `evidence`), then what it rests on.
        if ev.keys_tested > 1 {
            println!(
                "verdict: {}  p = {} (strongest key {}; Bonferroni over {} keys)",
                ev.verdict,
                fmt_p(ev.log10_p),
                ev.strongest_key,
                ev.keys_tested
            );
        } else {
            println!("verdict: {}  p = {}", ev.verdict, fmt_p(ev.log10_p));
        }
        println!(
            "master key: p = {}  log10 p = {:.4}  scored pairs = {}  tokens = {}  records = {} scored / {} skipped",
            fmt_p(c.log10_p),
            c.log10_p,
            c.scored_tokens,
            c.total_tokens,
            c.records_scored,
            c.records_skipped
        );
        if let Some(at) = &report.attribution {
            println!(
                "best account: {}  adjusted p = {} (Bonferroni over {} accounts)",
                at.best_account,
                provmark_scan::report::format_p(at.adjusted_log10_p),
                at.accounts_tested
            );
        }
        if let Some(ctl) = &report.control {
            println!(
                "control: {}  p = {}  scored pairs = {}",
                ctl.corpus.verdict,
                provmark_scan::report::format_p(ctl.corpus.log10_p),
                ctl.corpus.scored_tokens
            );
        }
    }
    Ok(if report.evidence.verdict == "watermarked" {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
