//! `provmark check`: exact evidence for one suspect text.
//!
//! Argument parsing, reading the input files and printing live here; the check itself (input
//! rules, tokenization, selection, scoring, accounts, spans, the JSON object) is
//! [`provmark_scan::check`], which the Python and C bindings call too. Exit 0 watermarked,
//! 1 not, 2 error.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context as _};
use provmark_core::Profile;
use provmark_detect::{Dedup, Statistic};
use provmark_scan::check::{self, CheckInput, CheckReport, CheckRequest};

use crate::common::load_profile;

/// Arguments of `provmark check`.
#[derive(clap::Args)]
pub struct CheckArgs {
    /// Text to check (`-` or nothing reads standard input).
    input: Option<PathBuf>,
    /// Watermark profile.
    #[arg(long)]
    profile: PathBuf,
    /// Account id to test (repeatable); the best account is reported with a Bonferroni-adjusted
    /// p-value.
    #[arg(long = "account", value_name = "ID")]
    accounts: Vec<String>,
    /// File of account ids, one per line (blank lines and lines starting with # ignored);
    /// added to --account.
    #[arg(long, visible_alias = "accounts", value_name = "FILE")]
    accounts_file: Option<PathBuf>,
    /// The prompt the text answered: pairs whose context occurs in the prompt are not scored.
    #[arg(long, value_name = "TEXT", conflicts_with = "prompt_file")]
    prompt: Option<String>,
    /// As --prompt, read from a file.
    #[arg(long, value_name = "FILE")]
    prompt_file: Option<PathBuf>,
    /// Significance level of the verdict.
    #[arg(long, default_value_t = 1e-6)]
    alpha: f64,
    /// Print one JSON object instead of the human summary.
    #[arg(long)]
    json: bool,
    /// Read a JSON array of token ids instead of text (tokenization skipped).
    #[arg(long, value_name = "FILE", conflicts_with = "input")]
    token_ids: Option<PathBuf>,
    /// Which repeats are dropped: `pair` (default: each (context, token) pair once), `context`
    /// (vLLM's rule: each context once) or `none` (every position; not valid on repetitive text).
    #[arg(long, value_enum)]
    dedup: Option<DedupArg>,
    /// Score special tokens too (vLLM's detector does; by default they are skipped when the
    /// profile's tokenizer is available).
    #[arg(long)]
    score_special: bool,
    /// Hugging Face tokenizer.json to use instead of the path recorded in the profile (its
    /// SHA-256 must match the profile).
    #[arg(long, alias = "model", value_name = "FILE")]
    tokenizer: Option<PathBuf>,
    /// Replace invalid UTF-8 with U+FFFD (with a warning) instead of failing.
    #[arg(long)]
    lossy: bool,
    /// Largest input read, in bytes.
    #[arg(long, default_value_t = 64 << 20)]
    max_input: u64,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum DedupArg {
    Pair,
    Context,
    None,
}

impl DedupArg {
    fn to_dedup(self) -> Dedup {
        match self {
            DedupArg::Pair => Dedup::Pair,
            DedupArg::Context => Dedup::Context,
            DedupArg::None => Dedup::None,
        }
    }
}

fn scheme_label(p: &Profile) -> String {
    match p.scheme {
        provmark_core::Scheme::Green { gamma, delta } => {
            format!("green (gamma {gamma}, delta {delta})")
        }
        s => s.name().to_string(),
    }
}

/// Runs `check`: arguments and input files here, the check itself in
/// [`provmark_scan::check`], then the JSON or the human summary.
pub fn run(a: CheckArgs) -> anyhow::Result<ExitCode> {
    if !(a.alpha > 0.0 && a.alpha < 1.0) {
        bail!("--alpha {} is not in (0, 1)", a.alpha);
    }
    let profile = load_profile(&a.profile)?;
    let mut accounts = match &a.accounts_file {
        Some(f) => check::read_accounts_file(f)?,
        None => Vec::new(),
    };
    accounts.extend(a.accounts.iter().cloned());

    // Token ids from a JSON file, or text (file or standard input) under the input rules.
    let ids;
    let text;
    let input = if let Some(f) = &a.token_ids {
        let name = f.display().to_string();
        let (json, _) =
            check::decode_text(check::read_bounded(Some(f), a.max_input)?, false, &name)?;
        ids = check::parse_token_ids(&json, &name)?;
        CheckInput::TokenIds(&ids)
    } else {
        let name = a
            .input
            .as_ref()
            .map_or("<stdin>".to_string(), |p| p.display().to_string());
        text = read_text(a.input.as_deref(), &name, &a)?;
        CheckInput::Text(&text)
    };
    let prompt_text = match (&a.prompt, &a.prompt_file) {
        (Some(t), _) => Some(t.clone()),
        (None, Some(p)) => Some(
            read_text(Some(p), &format!("--prompt-file {}", p.display()), &a)
                .context("--prompt-file")?,
        ),
        (None, None) => None,
    };
    let mut req = CheckRequest::new(input);
    req.prompt = prompt_text.as_deref().map(CheckInput::Text);
    req.accounts = &accounts;
    req.alpha = a.alpha;
    req.dedup = a.dedup.map(DedupArg::to_dedup);
    req.score_special = a.score_special;
    req.validate(&profile)?;
    let (tokenizer, warning) = check::load_tokenizer(&profile, a.tokenizer.as_deref(), &req)?;
    if let Some(w) = warning {
        eprintln!("provmark: warning: {w}");
    }
    // Ids beyond the vocabulary: an error that names the file (the library checks too).
    if let (Some(f), Some(t), CheckInput::TokenIds(v)) = (&a.token_ids, &tokenizer, &req.input) {
        t.check_ids(v).with_context(|| f.display().to_string())?;
    }
    let report = check::check(&profile, tokenizer.as_ref(), &req)?;
    for w in &report.warnings {
        eprintln!("provmark: warning: {w}");
    }
    if a.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print_human(&report, &profile);
    }
    Ok(if report.is_watermarked() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Reads a text input under the input rules, printing the lossy-decoding warning.
fn read_text(path: Option<&Path>, name: &str, a: &CheckArgs) -> anyhow::Result<String> {
    let stdin = path.is_none_or(|p| p.as_os_str() == "-");
    if stdin && std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        if path.is_none() {
            bail!("no input: give a file, `-` to type the text, or pipe it in (`provmark check FILE --profile …`)");
        }
        eprintln!("provmark: reading the text from the terminal; end it with Ctrl-D");
    }
    let (text, warning) =
        check::decode_text(check::read_bounded(path, a.max_input)?, a.lossy, name)?;
    if let Some(w) = warning {
        eprintln!("provmark: warning: {w}");
    }
    Ok(text)
}

fn fmt_p(_p: f64, log10_p: f64) -> String {
    format!("p = {}", provmark_detect::tail::format_p(log10_p))
}

fn print_human(r: &CheckReport, profile: &Profile) {
    let verdict = if r.verdict == "watermarked" {
        "WATERMARKED"
    } else {
        "not watermarked"
    };
    println!(
        "{verdict}: {} (log10 p = {:.2}; alpha = {:e})",
        fmt_p(r.p_value, r.log10_p),
        r.log10_p,
        r.alpha
    );
    println!(
        "  key {}  scheme {}  context width {}  tokenizer {}",
        r.key_id,
        scheme_label(profile),
        r.context_width,
        r.tokenizer
    );
    match r.statistic {
        Statistic::Binomial {
            successes,
            trials,
            gamma,
        } if matches!(profile.scheme, provmark_core::Scheme::Tournament { .. }) => println!(
            "  key: {successes} g-values of 1 among {trials} (n-gram, layer) pairs (expected {:.1} if unwatermarked); {}",
            trials as f64 * gamma,
            fmt_p(r.master_p_value, r.master_log10_p)
        ),
        Statistic::Binomial { successes, trials, gamma } => println!(
            "  master key: {successes} green of {trials} scored tokens (expected {:.1} if unwatermarked); {}",
            trials as f64 * gamma,
            fmt_p(r.master_p_value, r.master_log10_p)
        ),
        Statistic::Gamma { sum, count } => println!(
            "  master key: score {sum:.2} over {count} scored tokens (expected {count} if unwatermarked); {}",
            fmt_p(r.master_p_value, r.master_log10_p)
        ),
        Statistic::DualKeyGamma { sum, count, alpha } => println!(
            "  key: dual-key score {sum:.2} (alpha {alpha}) over {count} scored tokens (expected {count} if unwatermarked); exact {}",
            fmt_p(r.master_p_value, r.master_log10_p)
        ),
        _ => println!("  master key: {}", fmt_p(r.master_p_value, r.master_log10_p)),
    }
    let rule = match r.dedup {
        "pair" => "each (context, token) pair once",
        "context" => "each context once, as vLLM",
        _ => "every position, no dedup",
    };
    println!(
        "  scored {} of {} tokens ({rule}; dedup {})",
        r.scored_tokens, r.total_tokens, r.dedup
    );
    if let Some(p) = r.reference_p_value {
        println!("  vLLM's own p-value formula for this statistic: {p:.3e} (informational; the verdict uses the exact tail)");
    }
    if let Some(s) = &r.synthid {
        println!(
            "  SynthID reference scores: mean {:.4}, weighted mean {:.4} over {} n-grams (0.5 if unwatermarked)",
            s.mean, s.weighted_mean, s.scored_windows
        );
    }
    if let (Some(acct), Some(p), Some(lp), Some(n)) = (
        &r.account,
        r.account_p_value,
        r.account_log10_p,
        r.accounts_tested,
    ) {
        println!(
            "  best account: {acct} ({} after Bonferroni over {n} accounts)",
            fmt_p(p, lp)
        );
    }
    for s in &r.spans {
        let bytes = match (s.byte_start, s.byte_end) {
            (Some(b0), Some(b1)) => format!(", bytes {b0}..{b1}"),
            _ => String::new(),
        };
        println!(
            "  watermarked span: tokens {}..{}{bytes}, {} (adjusted for {} windows)",
            s.token_start,
            s.token_end,
            fmt_p(s.p_value, s.log10_p),
            r.span_windows_tested.unwrap_or(0)
        );
    }
}
