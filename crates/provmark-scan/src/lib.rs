//! Corpus scan for provmark: pooled distillation evidence over large corpora and verifiable
//! evidence reports.
//!
//! A distilled student carries only a faint trace of the teacher's watermark; it becomes strong
//! evidence when every distinct (context, token) pair of a large corpus is pooled into **one**
//! exact test. [`scan`] does that in one streaming pass:
//!
//! 1. a reader thread decodes the inputs ([`input`]: JSONL plain/gz/zst, plain text, Parquet)
//!    and hashes each file (SHA-256) as it goes;
//! 2. `threads` workers parse each record, tokenize it with the profile's tokenizer, and score
//!    it with the detection library's position walk (partial contexts, special tokens and
//!    contexts that occur in the record's own prompt are skipped; pairs deduplicated within the
//!    record) — this gives the per-record p-value — and insert every scored pair into the
//!    worker's bounded dedup set ([`dedup`]);
//! 3. a collector restores input order, writes the records file and counts skip reasons;
//! 4. the distinct pairs of all workers are merged partition by partition: the pooled
//!    statistic, the cumulative evidence curve (by each pair's first record) and, with accounts,
//!    each account key's pooled test over exactly the same pairs.
//!
//! The result is a [`Report`]; [`Report::seal`] adds its MAC and [`verify_report`] checks it.
//! [`html::render`] draws the self-contained HTML page. How one scan splits across processes
//! and machines is described in [`distributed`].
//!
//! **Determinism.** Each distinct pair's score is a function of the pair; the dedup set is a
//! set; the accumulators are exact integers/fixed point. The report's content (everything but
//! `created`, `run` and `mac`) is therefore identical for any number of threads, any memory
//! budget (spilled or not) and any split into shards.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod check;
pub mod dedup;
pub mod distributed;
mod engine;
pub mod error;
pub mod html;
pub mod input;
pub mod output;
mod record;
pub mod report;
pub mod split;

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Instant;

use provmark_core::Profile;
use provmark_detect::PairFingerprinter;
use provmark_tokenize::Tokenizer;

pub use check::read_accounts_file;
pub use engine::{
    AccountResult, CurvePoint, InputSummary, Progress, RecordCounts, RecordPValues,
    RECORD_COUNTERS, SERVED_LOG_FORMAT,
};
pub use error::{Result, ScanError};
pub use record::SkipReason;
pub use report::{
    verify_report, Attribution, ControlResult, CorpusResult, Evidence, Report, Verification,
};

use engine::{Keys, PassResult, PassSettings};

/// Default significance level.
pub const DEFAULT_ALPHA: f64 = 1e-6;
/// Default memory budget of the dedup set (bytes, all workers together).
pub const DEFAULT_MEMORY_BUDGET: usize = 768 << 20;
/// Default number of evidence-curve points.
pub const DEFAULT_CURVE_BINS: usize = 200;

/// Everything a scan needs besides the profile.
#[derive(Clone, Debug)]
pub struct ScanConfig {
    /// Suspect corpus: files or directories (`-` for JSONL on stdin).
    pub inputs: Vec<PathBuf>,
    /// Text field of JSONL/Parquet records.
    pub field: String,
    /// Prompt field (contexts that occur in the prompt are not scored).
    pub prompt_field: Option<String>,
    /// Record id field (default id: `path:line`, `path#row`, or the path of a text file).
    pub id_field: Option<String>,
    /// Accounts to test (each under its derived key).
    pub accounts: Vec<String>,
    /// Clean control corpus, scanned with the same settings.
    pub control: Vec<PathBuf>,
    /// Supervised mode: score only contexts that occur in these (our own served outputs).
    pub filter_from: Vec<PathBuf>,
    /// Significance level.
    pub alpha: f64,
    /// Worker threads (≥ 1).
    pub threads: usize,
    /// Dedup memory budget in bytes; beyond it, sorted runs spill to `spill_dir`.
    pub memory_budget: usize,
    /// Directory for spilled runs (default: the system temp dir). A private subdirectory is
    /// created and removed at the end.
    pub spill_dir: Option<PathBuf>,
    /// Records with fewer tokens are skipped (`too_few_tokens`); at least context width + 1.
    pub min_tokens: usize,
    /// Evidence-curve points.
    pub curve_bins: usize,
    /// Hugging Face `tokenizer.json` to use instead of the path recorded in the profile.
    pub tokenizer_path: Option<PathBuf>,
    /// Where to write one JSON line per suspect record.
    pub records_out: Option<PathBuf>,
}

impl ScanConfig {
    /// Defaults for the given inputs.
    pub fn new(inputs: Vec<PathBuf>) -> Self {
        ScanConfig {
            inputs,
            field: "text".into(),
            prompt_field: None,
            id_field: None,
            accounts: Vec::new(),
            control: Vec::new(),
            filter_from: Vec::new(),
            alpha: DEFAULT_ALPHA,
            threads: 1,
            memory_budget: DEFAULT_MEMORY_BUDGET,
            spill_dir: None,
            min_tokens: 0,
            curve_bins: DEFAULT_CURVE_BINS,
            tokenizer_path: None,
            records_out: None,
        }
    }
}

fn corpus_result(r: &PassResult, alpha: f64) -> CorpusResult {
    let skipped: u64 = r.skipped.values().sum();
    CorpusResult {
        verdict: report::verdict_word(r.log10_p, alpha).into(),
        p_value: provmark_detect::tail::TailProb { log10_p: r.log10_p }.p_value(),
        log10_p: r.log10_p,
        alpha,
        scored_tokens: r.unique_pairs,
        total_tokens: r.total_tokens,
        records_total: r.records_total,
        records_scored: r.records_scored,
        records_skipped: skipped,
        statistic: r.statistic,
    }
}

fn skipped_map(r: &PassResult) -> std::collections::BTreeMap<String, u64> {
    SkipReason::ALL
        .iter()
        .map(|k| {
            (
                k.as_str().to_string(),
                r.skipped.get(k).copied().unwrap_or(0),
            )
        })
        .collect()
}

/// Refuses a pass that scored nothing, naming the likely cause.
fn ensure_scored(r: &PassResult, corpus: &'static str, field: &str) -> Result<()> {
    if r.unique_pairs > 0 {
        return Ok(());
    }
    let detail = nothing_scored_detail(r, field);
    Err(ScanError::NothingScored { corpus, detail })
}

fn nothing_scored_detail(r: &PassResult, field: &str) -> String {
    if r.records_total == 0 {
        return "the input holds no records (empty file, blank lines only, or closed standard input)"
            .into();
    }
    let skipped: Vec<String> = r
        .skipped
        .iter()
        .filter(|(_, &n)| n > 0)
        .map(|(k, n)| format!("{n} {k}"))
        .collect();
    let mut s = format!(
        "{} of {} records scored (skipped: {})",
        r.records_scored,
        r.records_total,
        if skipped.is_empty() {
            "none".to_string()
        } else {
            skipped.join(", ")
        }
    );
    let count = |k: SkipReason| r.skipped.get(&k).copied().unwrap_or(0);
    let missing = count(SkipReason::MissingField);
    if missing > 0 {
        s.push_str(&format!(
            "; {} of {} records had field `{field}`",
            r.records_total - missing,
            r.records_total
        ));
        if !r.fields_seen.is_empty() {
            s.push_str(&format!(
                "; fields seen: {} (use --field)",
                r.fields_seen.join(", ")
            ));
        }
    }
    if count(SkipReason::MalformedJson) > 0 {
        s.push_str(
            "; some lines are not JSON objects (is the input JSONL? plain text needs a .txt name)",
        );
    }
    if count(SkipReason::InvalidUtf8) > 0 {
        s.push_str("; some records are not valid UTF-8 (binary or another encoding)");
    }
    if count(SkipReason::TooFewTokens) > 0 {
        s.push_str(
            "; some records are shorter than --min-tokens (at least context width + 1 tokens)",
        );
    }
    if r.records_scored > 0 {
        s.push_str(
            "; the scored records left no token pair (every context in the prompt or outside --filter-from)",
        );
    }
    s
}

/// Refuses empty account ids, ids with control characters and ids listed twice.
pub(crate) fn validate_accounts(accounts: &[String]) -> Result<()> {
    for (i, a) in accounts.iter().enumerate() {
        if a.is_empty() || a.chars().any(char::is_control) {
            return Err(ScanError::Config {
                name: "accounts",
                reason: format!(
                    "account #{} is empty or contains a control character",
                    i + 1
                ),
            });
        }
    }
    let mut seen = std::collections::HashSet::new();
    for (i, a) in accounts.iter().enumerate() {
        if !seen.insert(a) {
            return Err(ScanError::Config {
                name: "accounts",
                reason: format!("account #{} is listed more than once", i + 1),
            });
        }
    }
    Ok(())
}

/// Scans a corpus (and its control) and builds the unsealed report.
///
/// A corpus (suspect or control) that scores no token pair is an error
/// ([`ScanError::NothingScored`]), never a "not watermarked" verdict.
///
/// `progress` is updated as records are processed (for a progress bar); pass
/// `&Progress::default()` when nobody watches.
pub fn scan(profile: &Profile, cfg: &ScanConfig, progress: &Progress) -> Result<Report> {
    let start = Instant::now();
    if !(cfg.alpha > 0.0 && cfg.alpha < 1.0) {
        return Err(ScanError::Config {
            name: "alpha",
            reason: format!("{} is not in (0, 1)", cfg.alpha),
        });
    }
    if cfg.threads == 0 {
        return Err(ScanError::Config {
            name: "threads",
            reason: "must be at least 1".into(),
        });
    }
    if cfg.inputs.is_empty() {
        return Err(ScanError::Config {
            name: "INPUT",
            reason: "no input given".into(),
        });
    }
    validate_accounts(&cfg.accounts)?;
    let (files, mut skipped_inputs) = input::discover_all(&cfg.inputs)?;
    let (control_files, skipped_control) = input::discover_all(&cfg.control)?;
    let (filter_files, skipped_filter) = input::discover_all(&cfg.filter_from)?;
    skipped_inputs.extend(skipped_control);
    skipped_inputs.extend(skipped_filter);
    if files
        .iter()
        .chain(&control_files)
        .chain(&filter_files)
        .filter(|f| f.is_stdin())
        .count()
        > 1
    {
        return Err(ScanError::Config {
            name: "INPUT",
            reason: "standard input (-) can be read only once".into(),
        });
    }
    let tokenizer = std::sync::Arc::new(Tokenizer::for_profile(
        &profile.tokenizer,
        cfg.tokenizer_path.as_deref(),
    )?);
    let fingerprinter = PairFingerprinter::for_profile(profile);
    let h = profile.context_width;
    let fields = input::Fields {
        text: cfg.field.clone(),
        prompt: cfg.prompt_field.clone(),
        id: cfg.id_field.clone(),
    };
    let (filter, filter_info) = if filter_files.is_empty() {
        (None, None)
    } else {
        let (set, records, inputs) = engine::build_filter(
            &tokenizer,
            &fingerprinter,
            &profile.key_id().0,
            h,
            &filter_files,
            &fields,
        )?;
        let contexts = set.len() as u64;
        (
            Some(set),
            Some(report::FilterInfo {
                inputs,
                records,
                contexts,
            }),
        )
    };
    let keys = Keys {
        tokenizer: tokenizer.clone(),
        master: profile.watermark(None),
        accounts: engine::account_watermarks(profile, &cfg.accounts)?,
        fingerprinter,
        filter,
    };
    let spill_parent = cfg.spill_dir.clone().unwrap_or_else(std::env::temp_dir);
    let spill = tempfile::Builder::new()
        .prefix("provmark-scan-")
        .tempdir_in(&spill_parent)
        .map_err(|e| ScanError::io(&spill_parent, e))?;
    let settings = PassSettings {
        fields,
        threads: cfg.threads,
        memory_budget: cfg.memory_budget,
        min_tokens: cfg.min_tokens.max(h + 1),
        curve_bins: cfg.curve_bins.max(1),
        spill_dir: spill.path().to_path_buf(),
    };
    let mut records_file = match &cfg.records_out {
        Some(p) => Some(std::fs::File::create(p).map_err(|e| ScanError::io(p, e))?),
        None => None,
    };
    let records_path = cfg.records_out.clone().unwrap_or_default();
    let main = engine::run_pass(
        &keys,
        &files,
        &settings,
        records_file.as_mut().map(|f| f as &mut dyn std::io::Write),
        &records_path,
        progress,
        "suspect",
    )?;
    drop(records_file);
    ensure_scored(&main, "suspect corpus", &cfg.field)?;
    let control = if control_files.is_empty() {
        None
    } else {
        let control_keys = Keys {
            accounts: Vec::new(),
            ..keys
        };
        let r = engine::run_pass(
            &control_keys,
            &control_files,
            &settings,
            None,
            &records_path,
            progress,
            "control",
        )?;
        ensure_scored(&r, "control corpus", &cfg.field)?;
        Some(ControlResult {
            corpus: corpus_result(&r, cfg.alpha),
            skipped_reasons: skipped_map(&r),
            inputs: r.inputs.clone(),
            curve: r.curve.clone(),
        })
    };
    progress.merging.store(false, Ordering::Relaxed);
    let run = report::RunInfo {
        threads: cfg.threads,
        memory_budget_bytes: cfg.memory_budget as u64,
        spilled_runs: main.spilled_runs,
        elapsed_seconds: (start.elapsed().as_secs_f64() * 1000.0).round() / 1000.0,
    };
    Ok(build_report(
        profile,
        cfg,
        tokenizer.spec(),
        &main,
        control,
        skipped_inputs,
        filter_info,
        run,
    ))
}

/// The report of a scan from its passes (shared by [`scan`] and [`split::finish`]).
#[allow(clippy::too_many_arguments)]
pub(crate) fn build_report(
    profile: &Profile,
    cfg: &ScanConfig,
    tokenizer: provmark_core::TokenizerSpec,
    main: &PassResult,
    control: Option<ControlResult>,
    skipped_inputs: Vec<input::SkippedInput>,
    filter_info: Option<report::FilterInfo>,
    run: report::RunInfo,
) -> Report {
    let h = profile.context_width;
    let min_tokens = cfg.min_tokens.max(h + 1);
    let curve_bins = cfg.curve_bins.max(1);
    let corpus = corpus_result(main, cfg.alpha);
    let attribution = main.accounts.first().map(|best| Attribution {
        accounts_tested: cfg.accounts.len() as u64,
        correction: "bonferroni".into(),
        best_account: best.account.clone(),
        adjusted_p_value: best.adjusted_p_value,
        adjusted_log10_p: best.adjusted_log10_p,
        significant: report::verdict_word(best.adjusted_log10_p, cfg.alpha) == "watermarked",
    });
    let evidence =
        report::overall_evidence(&corpus, main.accounts.first(), cfg.accounts.len() as u64);
    let summary = report::summary_sentence(
        &corpus,
        &evidence,
        attribution.as_ref(),
        control.as_ref().map(|c| &c.corpus),
    );
    Report {
        format: report::REPORT_FORMAT.into(),
        report_version: report::REPORT_VERSION,
        summary,
        evidence,
        skipped_reasons: skipped_map(main),
        corpus,
        accounts: main.accounts.clone(),
        attribution,
        control,
        inputs: main.inputs.clone(),
        skipped_inputs,
        curve: main.curve.clone(),
        record_p_values: main.record_p.clone(),
        parameters: report::Parameters {
            alpha: cfg.alpha,
            field: cfg.field.clone(),
            prompt_field: cfg.prompt_field.clone(),
            id_field: cfg.id_field.clone(),
            min_tokens,
            context_width: h,
            prf: profile.prf.clone(),
            dedup:
                "pair: each distinct (context, token) pair is scored once across the whole corpus"
                    .into(),
            skip_special_tokens: true,
            skip_prompt_contexts: cfg.prompt_field.is_some(),
            filter: filter_info,
            curve_bins,
        },
        key_id: profile.key_id().0.clone(),
        scheme: profile.scheme,
        tokenizer,
        version: env!("CARGO_PKG_VERSION").into(),
        created: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        run,
        mac: None,
    }
}
