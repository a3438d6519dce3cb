//! `provmark check`: exact evidence for one suspect text.
//!
//! Input rules (decided here, documented in the README):
//! * empty input, or input that looks binary (a NUL byte), is an error (exit 2);
//! * invalid UTF-8 is an error naming the byte offset, unless `--lossy` is given, in which case
//!   each invalid sequence becomes U+FFFD and a warning gives the count;
//! * input is read up to `--max-input` bytes (default 64 MiB) so memory stays bounded; larger
//!   input is an error that points to `provmark scan`, which streams and spills to disk.
//!
//! Imported (vLLM, SynthID-Text) profiles are checked like native ones with the per-profile
//! defaults of [`Options::for_profile`]; they have one key, so `--account` is an error for them.
//! The JSON adds what the reference itself would report: vLLM's own p-value formula for the
//! statistic (`reference_p_value`, never the verdict) and SynthID's mean and weighted-mean
//! scores under the reference's masking (`synthid`).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use provmark_core::prf::AnyPrf;
use provmark_core::{Profile, Watermark};
use provmark_detect::{
    attribute_selection, find_spans, score_selection, select_positions, Dedup, Evidence, Options,
    Scratch, Span, SpanOptions, Statistic, TailProb,
};
use provmark_tokenize::Tokenizer;
use serde::Serialize;

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
    #[arg(long, value_name = "FILE")]
    prompt: Option<PathBuf>,
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
    #[arg(long, value_name = "FILE")]
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

fn dedup_name(d: Dedup) -> &'static str {
    match d {
        Dedup::Pair => "pair",
        Dedup::Context => "context",
        _ => "none",
    }
}

#[derive(Serialize)]
struct CheckReport {
    verdict: &'static str,
    p_value: f64,
    log10_p: f64,
    alpha: f64,
    scored_tokens: u64,
    total_tokens: u64,
    key_id: String,
    scheme: String,
    context_width: usize,
    tokenizer: String,
    dedup: &'static str,
    statistic: Statistic,
    master_p_value: f64,
    master_log10_p: f64,
    /// PRF of the profile (shows imported schemes: `vllm-…`, `synthid-…`).
    prf: String,
    /// The p-value the reference detector's own formula gives for this statistic (vLLM
    /// profiles only; informational, never the verdict).
    #[serde(skip_serializing_if = "Option::is_none")]
    reference_p_value: Option<f64>,
    /// SynthID-Text's own scores of the ids (SynthID profiles only).
    #[serde(skip_serializing_if = "Option::is_none")]
    synthid: Option<SynthIdScores>,
    /// Caveats about the p-value (e.g. SynthID's binomial null).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    warnings: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    account: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    account_p_value: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    account_log10_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    account_statistic: Option<Statistic>,
    #[serde(skip_serializing_if = "Option::is_none")]
    accounts_tested: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    correction: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    spans: Vec<SpanReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    span_windows_tested: Option<u64>,
    version: &'static str,
}

/// SynthID-Text's reference scores (context-repetition mask with its default FIFO of 1024, no
/// EOS mask; the whole id sequence is taken as generated text).
#[derive(Serialize)]
struct SynthIdScores {
    /// The reference's mean g-value over scored (n-gram, layer) pairs.
    mean: f64,
    /// The reference's weighted mean (default weights, linear from 10 to 1 over the layers).
    weighted_mean: f64,
    /// n-grams the reference's mask keeps.
    scored_windows: u64,
    /// Σ g over them (the reference's mask instead of provmark's dedup).
    g_sum: u64,
    /// `scored_windows × layers`.
    trials: u64,
}

/// The warning attached to SynthID verdicts (see the interop README).
const SYNTHID_NULL_WARNING: &str = "SynthID-Text g-values of one n-gram are correlated across layers (measured for the reference's default keys: variance of the per-n-gram count 7.99 instead of 7.5 over 30 layers), so the Binomial(scored x layers, 1/2) p-value the issue specifies understates the true tail (estimated about 2x at 1e-6, 5x at 1e-12); treat p-values near alpha with caution and prefer a smaller alpha";

#[derive(Serialize)]
struct SpanReport {
    token_start: u64,
    token_end: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    byte_start: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    byte_end: Option<usize>,
    scored_tokens: u64,
    p_value: f64,
    log10_p: f64,
    statistic: Statistic,
}

fn span_report(s: &Span) -> SpanReport {
    SpanReport {
        token_start: s.token_start,
        token_end: s.token_end,
        byte_start: s.byte_start,
        byte_end: s.byte_end,
        scored_tokens: s.scored_tokens,
        p_value: TailProb {
            log10_p: s.adjusted_log10_p,
        }
        .p_value(),
        log10_p: s.adjusted_log10_p,
        statistic: s.statistic,
    }
}

/// Byte offsets of the spans from the token lengths (the tokens tile the text): one pass over
/// the ids up to the last span end.
fn fill_byte_offsets(spans: &mut [Span], ids: &[u32], tok: &Tokenizer) {
    let Some(last) = spans.iter().map(|s| s.token_end as usize).max() else {
        return;
    };
    let mut wanted: Vec<usize> = spans
        .iter()
        .flat_map(|s| [s.token_start as usize, s.token_end as usize])
        .collect();
    wanted.sort_unstable();
    wanted.dedup();
    let mut offset_of = std::collections::HashMap::new();
    let mut at = 0usize;
    let mut next = wanted.iter().peekable();
    for (i, &id) in ids.iter().enumerate().take(last.min(ids.len()) + 1) {
        while next.peek().is_some_and(|&&w| w == i) {
            offset_of.insert(i, at);
            next.next();
        }
        at += tok.token_len(id).unwrap_or(0);
    }
    for &w in next {
        // Only the end of a span that closes the text.
        offset_of.insert(w, at);
    }
    for s in spans {
        s.byte_start = offset_of.get(&(s.token_start as usize)).copied();
        s.byte_end = offset_of.get(&(s.token_end as usize)).copied();
    }
}

/// Reads at most `max` bytes; more is an error.
fn read_bounded(path: Option<&Path>, max: u64) -> anyhow::Result<Vec<u8>> {
    let mut buf = Vec::new();
    let name = path.map_or("<stdin>".to_string(), |p| p.display().to_string());
    let n = match path {
        Some(p) if p != Path::new("-") => std::fs::File::open(p)
            .with_context(|| format!("cannot open {name}"))?
            .take(max + 1)
            .read_to_end(&mut buf),
        _ => {
            if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
                if path.is_none() {
                    bail!("no input: give a file, `-` to type the text, or pipe it in (`provmark check FILE --profile …`)");
                }
                eprintln!("provmark: reading the text from the terminal; end it with Ctrl-D");
            }
            std::io::stdin().lock().take(max + 1).read_to_end(&mut buf)
        }
    }
    .with_context(|| format!("cannot read {name}"))?;
    if n as u64 > max {
        bail!("{name}: input exceeds {max} bytes; use `provmark scan` for large inputs (it streams and spills to disk) or raise --max-input");
    }
    Ok(buf)
}

fn to_text(bytes: Vec<u8>, lossy: bool, what: &str) -> anyhow::Result<String> {
    if bytes.is_empty() {
        bail!("{what}: input is empty");
    }
    if bytes.contains(&0) {
        bail!("{what}: input looks binary (contains NUL bytes), not text");
    }
    match String::from_utf8(bytes) {
        Ok(s) => Ok(s),
        Err(e) => {
            let offset = e.utf8_error().valid_up_to();
            if !lossy {
                bail!(
                    "{what}: invalid UTF-8 at byte {offset}; pass --lossy to replace invalid bytes"
                );
            }
            let bytes = e.into_bytes();
            let text = String::from_utf8_lossy(&bytes).into_owned();
            let replaced = text.matches('\u{FFFD}').count();
            eprintln!("provmark: warning: {what}: replaced {replaced} invalid UTF-8 sequence(s) with U+FFFD (first at byte {offset})");
            Ok(text)
        }
    }
}

fn read_accounts(a: &CheckArgs) -> anyhow::Result<Vec<String>> {
    let mut out = match &a.accounts_file {
        Some(f) => provmark_detect::read_accounts_file(f)?,
        None => Vec::new(),
    };
    out.extend(a.accounts.iter().cloned());
    Ok(out)
}

fn scheme_label(p: &Profile) -> String {
    match p.scheme {
        provmark_core::Scheme::Green { gamma, delta } => {
            format!("green (gamma {gamma}, delta {delta})")
        }
        s => s.name().to_string(),
    }
}

/// Runs `check`.
pub fn run(a: CheckArgs) -> anyhow::Result<ExitCode> {
    if !(a.alpha > 0.0 && a.alpha < 1.0) {
        bail!("--alpha {} is not in (0, 1)", a.alpha);
    }
    let profile = load_profile(&a.profile)?;
    let accounts = read_accounts(&a)?;
    if !accounts.is_empty() && !profile.supports_accounts() {
        bail!(
            "profile {} holds an imported {} key: it has one key and no per-account keys, so --account/--accounts-file cannot be tested",
            profile.key_id(),
            if profile.prf.starts_with("synthid") { "SynthID-Text" } else { "vLLM" }
        );
    }

    // Token ids, and byte offsets when we tokenized ourselves.
    // Token ids scored with special tokens and no prompt need no tokenizer (served-id logs).
    let needs_tokenizer = a.token_ids.is_none() || a.prompt.is_some() || !a.score_special;
    let tokenizer = match needs_tokenizer
        .then(|| Tokenizer::for_profile(&profile.tokenizer, a.tokenizer.as_deref()))
    {
        None => None,
        Some(Ok(t)) => Some(t),
        Some(Err(e)) if a.token_ids.is_some() => {
            eprintln!("provmark: warning: {e}; special tokens will not be skipped");
            None
        }
        Some(Err(e)) => return Err(e).context("cannot load the profile's tokenizer"),
    };
    let (ids, offsets): (Vec<u32>, Option<Vec<(usize, usize)>>) = if let Some(f) = &a.token_ids {
        let text = to_text(
            read_bounded(Some(f), a.max_input)?,
            false,
            &f.display().to_string(),
        )?;
        let ids: Vec<u32> = serde_json::from_str(&text).map_err(|e| {
            anyhow::anyhow!(
                "{}: expected a JSON array of token ids (0 ≤ id < 2^32): {e}",
                f.display()
            )
        })?;
        if ids.is_empty() {
            bail!("{}: no token ids", f.display());
        }
        if let Some(t) = &tokenizer {
            t.check_ids(&ids).with_context(|| f.display().to_string())?;
        }
        (ids, None)
    } else {
        let name = a
            .input
            .as_ref()
            .map_or("<stdin>".to_string(), |p| p.display().to_string());
        let text = to_text(
            read_bounded(a.input.as_deref(), a.max_input)?,
            a.lossy,
            &name,
        )?;
        let tok = tokenizer.as_ref().expect("tokenizer loaded for text input");
        // Long texts are cut at safe boundaries and encoded on every core (same ids). When the
        // tokens tile the text (OpenAI encodings) byte offsets are computed for the spans only.
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        if tok.ranges_tile_text() {
            (tok.encode_parallel(&text, threads), None)
        } else {
            let (ids, ranges) = tok.encode_with_offsets_parallel(&text, threads);
            (
                ids,
                Some(ranges.into_iter().map(|r| (r.start, r.end)).collect()),
            )
        }
    };
    let prompt_ids = match &a.prompt {
        Some(p) => {
            let t = to_text(
                read_bounded(Some(p), a.max_input).context("--prompt")?,
                a.lossy,
                &format!("--prompt {}", p.display()),
            )?;
            Some(
                tokenizer
                    .as_ref()
                    .context("--prompt needs the profile's tokenizer")?
                    .encode(&t),
            )
        }
        None => None,
    };

    let special = |id: u32| tokenizer.as_ref().is_some_and(|t| t.is_special(id));
    let mut opts = Options::for_profile(&profile)
        .special_tokens(&special)
        .skip_special(!a.score_special);
    if let Some(d) = a.dedup {
        opts = opts.dedup(d.to_dedup());
    }
    let dedup = opts.dedup;
    if let Some(p) = &prompt_ids {
        opts = opts.prompt(p);
    }
    let sel = select_positions(profile.context_width, &ids, &opts, &mut Scratch::new())?;
    let master_wm = profile.try_watermark(None)?;
    let master = score_selection(&master_wm, &ids, &sel, true)?;
    provmark_detect::ensure_scored(&master, profile.context_width)?;
    let (reference_p_value, synthid, warnings) =
        foreign_extras(&profile, &master_wm, &ids, &master);
    for w in &warnings {
        eprintln!("provmark: warning: {w}");
    }

    // Attribution: every account's key over the same positions, Bonferroni over accounts.
    let attribution = if accounts.is_empty() {
        None
    } else {
        Some(attribute_selection(&profile, &ids, &sel, &accounts, false)?)
    };
    let best = attribution.as_ref().and_then(|att| att.best().cloned());

    // Verdict p: the master test alone, or (with accounts) Bonferroni over the two families.
    let master_log10 = master.tail().log10_p;
    let log10_p = match &best {
        None => master_log10,
        Some(b) => (master_log10.min(b.adjusted_log10_p) + 2f64.log10()).min(0.0),
    };
    let p_value = TailProb { log10_p }.p_value();
    let detected = log10_p <= a.alpha.log10();

    // Spans under the key that carries the evidence (best account if it beats the master).
    let span_evidence: Evidence = match &best {
        Some(b) if b.adjusted_log10_p < master_log10 => {
            score_selection(&profile.try_watermark(Some(&b.account))?, &ids, &sel, true)?
        }
        _ => master.clone(),
    };
    let mut spans = find_spans(
        &span_evidence,
        offsets.as_deref(),
        &SpanOptions::default().alpha(a.alpha),
    )?;
    if offsets.is_none() && a.token_ids.is_none() {
        if let Some(tok) = tokenizer.as_ref().filter(|t| t.ranges_tile_text()) {
            fill_byte_offsets(&mut spans.spans, &ids, tok);
        }
    }

    let report = CheckReport {
        verdict: if detected {
            "watermarked"
        } else {
            "not_watermarked"
        },
        p_value,
        log10_p,
        alpha: a.alpha,
        scored_tokens: master.scored_tokens,
        total_tokens: master.total_tokens,
        key_id: profile.key_id().to_string(),
        scheme: profile.scheme.name().to_string(),
        context_width: profile.context_width,
        tokenizer: profile.tokenizer.to_string(),
        dedup: dedup_name(dedup),
        statistic: master.statistic,
        master_p_value: master.p_value(),
        master_log10_p: master_log10,
        prf: profile.prf.clone(),
        reference_p_value,
        synthid,
        warnings,
        account: best.as_ref().map(|b| b.account.clone()),
        account_p_value: best.as_ref().map(|b| b.adjusted_p_value()),
        account_log10_p: best.as_ref().map(|b| b.adjusted_log10_p),
        account_statistic: best.as_ref().map(|b| b.statistic),
        accounts_tested: attribution.as_ref().map(|t| t.accounts_tested),
        correction: attribution.as_ref().map(|t| t.correction.to_string()),
        spans: spans.spans.iter().map(span_report).collect(),
        span_windows_tested: Some(spans.windows_tested),
        version: env!("CARGO_PKG_VERSION"),
    };
    if a.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print_human(&report, &profile);
    }
    Ok(if detected {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// What the reference implementations add for imported profiles: vLLM's own p-value formula
/// for the statistic, SynthID's mean scores, and caveats.
fn foreign_extras(
    profile: &Profile,
    wm: &Watermark<AnyPrf>,
    ids: &[u32],
    ev: &Evidence,
) -> (Option<f64>, Option<SynthIdScores>, Vec<String>) {
    use provmark_interop::reference;
    if profile.foreign().is_none() {
        return (None, None, Vec::new());
    }
    match (wm.prf(), ev.statistic) {
        (AnyPrf::SynthId(prf), _) => {
            let d = provmark_interop::synthid::detect(
                prf,
                ids,
                &provmark_interop::synthid::DetectOptions::default(),
            );
            let scores = SynthIdScores {
                mean: d.mean,
                weighted_mean: d.weighted_mean,
                scored_windows: d.scored_windows,
                g_sum: d.g_sum,
                trials: d.trials,
            };
            (None, Some(scores), vec![SYNTHID_NULL_WARNING.to_string()])
        }
        (_, Statistic::Gamma { sum, count }) => (
            Some(reference::vllm_gamma_survival_integer_shape(sum, count)),
            None,
            Vec::new(),
        ),
        (_, Statistic::DualKeyGamma { sum, count, alpha }) => (
            Some(reference::vllm_dual_key_p_value(sum, count, alpha)),
            None,
            Vec::new(),
        ),
        (
            _,
            Statistic::Binomial {
                successes,
                trials,
                gamma,
            },
        ) => (
            Some(reference::vllm_sbw_z_test_p_value(successes, trials, gamma)),
            None,
            Vec::new(),
        ),
        _ => (None, None, Vec::new()),
    }
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
