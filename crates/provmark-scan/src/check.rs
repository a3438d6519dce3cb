//! One suspect text: exact evidence, attribution and spans — the library behind
//! `provmark check`, the Python `provmark.check` and the C `provmark_check`.
//!
//! [`check`] runs the whole verb on text or token ids already in memory and returns one
//! serialisable [`CheckReport`]; its JSON (`serde_json::to_string`) is what `check --json`
//! prints. The caller owns input and tokenizer: [`read_bounded`] / [`decode_text`] /
//! [`parse_token_ids`] apply the CLI's input rules to files, and [`load_tokenizer`] loads the
//! profile's tokenizer when the request needs one — or pass a tokenizer the caller already
//! loaded (from a model file, say).
//!
//! Input rules (the CLI's, documented in the README):
//! * empty input, or input that looks binary (a NUL byte), is an error;
//! * invalid UTF-8 is an error naming the byte offset, unless `lossy`, in which case each
//!   invalid sequence becomes U+FFFD and a warning gives the count;
//! * input is read up to a bound so memory stays bounded; larger input is an error that points
//!   to `provmark scan`, which streams and spills to disk.
//!
//! Imported (vLLM, SynthID-Text) profiles are checked like native ones with the per-profile
//! defaults of [`Options::for_profile`]; they have one key, so accounts are an error for them.
//! The report adds what the reference itself would report: vLLM's own p-value formula for the
//! statistic (`reference_p_value`, never the verdict) and SynthID's mean and weighted-mean
//! scores under the reference's masking (`synthid`).

use std::io::Read;
use std::path::Path;

use provmark_core::prf::AnyPrf;
use provmark_core::{Profile, Watermark};
use provmark_detect::{
    attribute_selection, find_spans, score_selection, select_positions, Dedup, Evidence, Options,
    Scratch, Span, SpanOptions, Statistic, TailProb,
};
use provmark_tokenize::Tokenizer;
use serde::Serialize;

/// Why a check could not run. Messages are one line, name the input at fault, and never contain
/// key material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckError {
    /// An input file could not be opened or read.
    #[error("cannot {action} {name}: {source}")]
    Io {
        /// `open` or `read`.
        action: &'static str,
        /// The input (`<stdin>` for standard input).
        name: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The input breaks an input rule (empty, binary, invalid UTF-8, too large, no ids).
    #[error("{0}")]
    Input(String),
    /// The significance level is not in (0, 1).
    #[error("alpha {0} is not in (0, 1)")]
    Alpha(f64),
    /// Accounts were given for an imported profile, which has one key.
    #[error("profile {key_id} holds an imported {system} key: it has one key and no per-account keys, so accounts cannot be tested")]
    AccountsUnsupported {
        /// The profile's key id (public).
        key_id: String,
        /// `vLLM` or `SynthID-Text`.
        system: &'static str,
    },
    /// Text (or a prompt given as text) needs the profile's tokenizer, and none was given.
    #[error("{0} needs the profile's tokenizer")]
    NoTokenizer(&'static str),
    /// The profile's tokenizer could not be loaded or does not match the profile.
    #[error("cannot load the profile's tokenizer: {0}")]
    Tokenizer(#[source] provmark_tokenize::TokenizeError),
    /// The profile's key could not be used.
    #[error(transparent)]
    Core(#[from] provmark_core::CoreError),
    /// The detector refused the input or parameters.
    #[error(transparent)]
    Detect(#[from] provmark_detect::DetectError),
}

/// Result alias of this module.
pub type Result<T, E = CheckError> = std::result::Result<T, E>;

/// What is checked: text (tokenized with the profile's tokenizer) or token ids.
#[derive(Clone, Copy, Debug)]
pub enum CheckInput<'a> {
    /// UTF-8 text.
    Text(&'a str),
    /// Token ids of the profile's tokenizer.
    TokenIds(&'a [u32]),
}

/// One check: the input and every setting of `provmark check`.
#[derive(Clone, Debug)]
pub struct CheckRequest<'a> {
    /// The suspect text or ids.
    pub input: CheckInput<'a>,
    /// The prompt the text answered (text or ids): pairs whose context occurs in it are not
    /// scored.
    pub prompt: Option<CheckInput<'a>>,
    /// Accounts to test; the best is reported with a Bonferroni-adjusted p-value.
    pub accounts: &'a [String],
    /// Significance level of the verdict, in (0, 1).
    pub alpha: f64,
    /// Which repeats are dropped (`None`: the profile's default, see [`Options::for_profile`]).
    pub dedup: Option<Dedup>,
    /// Score special tokens too (by default they are skipped when a tokenizer is available).
    pub score_special: bool,
    /// Threads for tokenizing long texts (ids are the same for any number).
    pub threads: usize,
}

impl<'a> CheckRequest<'a> {
    /// A request with the CLI's defaults: no prompt, no accounts, alpha 1e-6, the profile's
    /// dedup, special tokens skipped, every core.
    pub fn new(input: CheckInput<'a>) -> Self {
        CheckRequest {
            input,
            prompt: None,
            accounts: &[],
            alpha: crate::DEFAULT_ALPHA,
            dedup: None,
            score_special: false,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }

    /// Checks the settings against the profile (alpha in (0, 1); accounts only for profiles
    /// with per-account keys) before anything is loaded; [`check`] does it too.
    pub fn validate(&self, profile: &Profile) -> Result<()> {
        if !(self.alpha > 0.0 && self.alpha < 1.0) {
            return Err(CheckError::Alpha(self.alpha));
        }
        if !self.accounts.is_empty() && !profile.supports_accounts() {
            return Err(CheckError::AccountsUnsupported {
                key_id: profile.key_id().to_string(),
                system: if profile.prf.starts_with("synthid") {
                    "SynthID-Text"
                } else {
                    "vLLM"
                },
            });
        }
        Ok(())
    }

    /// Whether this request needs a tokenizer: text input or a text prompt always; token ids
    /// only to skip special tokens (a token-id log scored with its special tokens needs none).
    pub fn needs_tokenizer(&self) -> bool {
        matches!(self.input, CheckInput::Text(_))
            || matches!(self.prompt, Some(CheckInput::Text(_)))
            || !self.score_special
    }
}

/// The result of one check; serialised, it is exactly `provmark check --json`'s object.
#[derive(Clone, Debug, Serialize)]
pub struct CheckReport {
    /// `watermarked` or `not_watermarked`.
    pub verdict: &'static str,
    /// The verdict's p-value (master test, or Bonferroni over {master, best account}).
    pub p_value: f64,
    /// Its log10 (finite where `p_value` underflows).
    pub log10_p: f64,
    /// Significance level.
    pub alpha: f64,
    /// Positions scored after dedup and filters.
    pub scored_tokens: u64,
    /// Token count of the input.
    pub total_tokens: u64,
    /// The profile's public key id.
    pub key_id: String,
    /// Scheme name.
    pub scheme: String,
    /// Context width h.
    pub context_width: usize,
    /// The profile's tokenizer.
    pub tokenizer: String,
    /// `pair`, `context` or `none`.
    pub dedup: &'static str,
    /// The master key's statistic.
    pub statistic: Statistic,
    /// The master key's p-value.
    pub master_p_value: f64,
    /// Its log10.
    pub master_log10_p: f64,
    /// PRF of the profile (shows imported schemes: `vllm-…`, `synthid-…`).
    pub prf: String,
    /// The p-value the reference detector's own formula gives for this statistic (vLLM
    /// profiles only; informational, never the verdict).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference_p_value: Option<f64>,
    /// SynthID-Text's own scores of the ids (SynthID profiles only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub synthid: Option<SynthIdScores>,
    /// Caveats about the p-value (e.g. SynthID's binomial null).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// The best account, when accounts were tested.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// Its Bonferroni-adjusted p-value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_p_value: Option<f64>,
    /// Its log10.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_log10_p: Option<f64>,
    /// Its statistic.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_statistic: Option<Statistic>,
    /// Number of accounts tested.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accounts_tested: Option<u64>,
    /// The multiple-testing correction over accounts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correction: Option<String>,
    /// Watermarked spans under the key that carries the evidence.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub spans: Vec<SpanReport>,
    /// Windows the span search paid for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub span_windows_tested: Option<u64>,
    /// provmark version.
    pub version: &'static str,
}

impl CheckReport {
    /// Whether the verdict is `watermarked`.
    pub fn is_watermarked(&self) -> bool {
        self.verdict == "watermarked"
    }
}

/// SynthID-Text's reference scores (context-repetition mask with its default FIFO of 1024, no
/// EOS mask; the whole id sequence is taken as generated text).
#[derive(Clone, Debug, Serialize)]
pub struct SynthIdScores {
    /// The reference's mean g-value over scored (n-gram, layer) pairs.
    pub mean: f64,
    /// The reference's weighted mean (default weights, linear from 10 to 1 over the layers).
    pub weighted_mean: f64,
    /// n-grams the reference's mask keeps.
    pub scored_windows: u64,
    /// Σ g over them (the reference's mask instead of provmark's dedup).
    pub g_sum: u64,
    /// `scored_windows × layers`.
    pub trials: u64,
}

/// The warning attached to SynthID verdicts (see the interop README).
const SYNTHID_NULL_WARNING: &str = "SynthID-Text g-values of one n-gram are correlated across layers (measured for the reference's default keys: variance of the per-n-gram count 7.99 instead of 7.5 over 30 layers), so the Binomial(scored x layers, 1/2) p-value the issue specifies understates the true tail (estimated about 2x at 1e-6, 5x at 1e-12); treat p-values near alpha with caution and prefer a smaller alpha";

/// One watermarked span.
#[derive(Clone, Debug, Serialize)]
pub struct SpanReport {
    /// First token of the span.
    pub token_start: u64,
    /// One past its last token.
    pub token_end: u64,
    /// Byte offset of its start in the text (text input only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub byte_start: Option<usize>,
    /// Byte offset of its end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub byte_end: Option<usize>,
    /// Positions scored inside it.
    pub scored_tokens: u64,
    /// p-value adjusted for every window tested.
    pub p_value: f64,
    /// Its log10.
    pub log10_p: f64,
    /// The span's statistic.
    pub statistic: Statistic,
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

/// The name of a dedup rule in reports.
pub fn dedup_name(d: Dedup) -> &'static str {
    match d {
        Dedup::Pair => "pair",
        Dedup::Context => "context",
        _ => "none",
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

/// Reads at most `max` bytes of a file (`None` or `-`: standard input); more is an error that
/// points to `provmark scan`.
pub fn read_bounded(path: Option<&Path>, max: u64) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    let name = path.map_or("<stdin>".to_string(), |p| p.display().to_string());
    let io = |action: &'static str| {
        let name = name.clone();
        move |source| CheckError::Io {
            action,
            name,
            source,
        }
    };
    let n = match path {
        Some(p) if p != Path::new("-") => std::fs::File::open(p)
            .map_err(io("open"))?
            .take(max + 1)
            .read_to_end(&mut buf),
        _ => std::io::stdin().lock().take(max + 1).read_to_end(&mut buf),
    }
    .map_err(io("read"))?;
    if n as u64 > max {
        return Err(CheckError::Input(format!("{name}: input exceeds {max} bytes; use `provmark scan` for large inputs (it streams and spills to disk) or raise --max-input")));
    }
    Ok(buf)
}

/// Text from input bytes under the input rules. With `lossy`, invalid UTF-8 becomes U+FFFD and
/// the second value is the warning to show; `what` names the input in messages.
pub fn decode_text(bytes: Vec<u8>, lossy: bool, what: &str) -> Result<(String, Option<String>)> {
    if bytes.is_empty() {
        return Err(CheckError::Input(format!("{what}: input is empty")));
    }
    if bytes.contains(&0) {
        return Err(CheckError::Input(format!(
            "{what}: input looks binary (contains NUL bytes), not text"
        )));
    }
    match String::from_utf8(bytes) {
        Ok(s) => Ok((s, None)),
        Err(e) => {
            let offset = e.utf8_error().valid_up_to();
            if !lossy {
                return Err(CheckError::Input(format!(
                    "{what}: invalid UTF-8 at byte {offset}; pass --lossy to replace invalid bytes"
                )));
            }
            let bytes = e.into_bytes();
            let text = String::from_utf8_lossy(&bytes).into_owned();
            let replaced = text.matches('\u{FFFD}').count();
            let warning = format!("{what}: replaced {replaced} invalid UTF-8 sequence(s) with U+FFFD (first at byte {offset})");
            Ok((text, Some(warning)))
        }
    }
}

/// Token ids from a JSON array (`what` names the input in messages); an empty array is an
/// error.
pub fn parse_token_ids(json: &str, what: &str) -> Result<Vec<u32>> {
    let ids: Vec<u32> = serde_json::from_str(json).map_err(|e| {
        CheckError::Input(format!(
            "{what}: expected a JSON array of token ids (0 ≤ id < 2^32): {e}"
        ))
    })?;
    if ids.is_empty() {
        return Err(CheckError::Input(format!("{what}: no token ids")));
    }
    Ok(ids)
}

/// Loads the profile's tokenizer (or `path_override`, whose SHA-256 must match the profile)
/// when `request` needs one. A token-id input is checked without a tokenizer that cannot be
/// loaded — special tokens are then not skipped — and the second value says so.
pub fn load_tokenizer(
    profile: &Profile,
    path_override: Option<&Path>,
    request: &CheckRequest<'_>,
) -> Result<(Option<Tokenizer>, Option<String>)> {
    if !request.needs_tokenizer() {
        return Ok((None, None));
    }
    match Tokenizer::for_profile(&profile.tokenizer, path_override) {
        Ok(t) => Ok((Some(t), None)),
        Err(e) if matches!(request.input, CheckInput::TokenIds(_)) => Ok((
            None,
            Some(format!("{e}; special tokens will not be skipped")),
        )),
        Err(e) => Err(CheckError::Tokenizer(e)),
    }
}

/// Byte range of each token in the text.
type ByteRanges = Vec<(usize, usize)>;

/// Checks one text or id sequence: verdict, exact p-value, best account, spans.
///
/// `tokenizer` must be the profile's (from [`load_tokenizer`], or one the caller loaded and
/// checked); it is needed for text and text prompts, and to skip special tokens.
pub fn check(
    profile: &Profile,
    tokenizer: Option<&Tokenizer>,
    req: &CheckRequest<'_>,
) -> Result<CheckReport> {
    req.validate(profile)?;

    // Token ids, and byte offsets when we tokenized ourselves.
    let encoded;
    let (ids, offsets): (&[u32], Option<ByteRanges>) = match req.input {
        CheckInput::TokenIds(ids) => {
            if ids.is_empty() {
                return Err(CheckError::Input("no token ids".into()));
            }
            if let Some(t) = tokenizer {
                t.check_ids(ids)
                    .map_err(|e| CheckError::Input(e.to_string()))?;
            }
            (ids, None)
        }
        CheckInput::Text(text) => {
            if text.is_empty() {
                return Err(CheckError::Input("input is empty".into()));
            }
            let tok = tokenizer.ok_or(CheckError::NoTokenizer("text input"))?;
            // Long texts are cut at safe boundaries and encoded on every core (same ids). When
            // the tokens tile the text (OpenAI encodings) byte offsets are computed for the
            // spans only.
            let threads = req.threads.max(1);
            if tok.ranges_tile_text() {
                encoded = tok.encode_parallel(text, threads);
                (&encoded[..], None)
            } else {
                let (ids, ranges) = tok.encode_with_offsets_parallel(text, threads);
                encoded = ids;
                (
                    &encoded[..],
                    Some(ranges.into_iter().map(|r| (r.start, r.end)).collect()),
                )
            }
        }
    };
    let prompt_encoded;
    let prompt_ids: Option<&[u32]> = match req.prompt {
        None => None,
        Some(CheckInput::TokenIds(p)) => Some(p),
        Some(CheckInput::Text(t)) => {
            prompt_encoded = tokenizer
                .ok_or(CheckError::NoTokenizer("the prompt"))?
                .encode(t);
            Some(&prompt_encoded)
        }
    };

    let special = |id: u32| tokenizer.is_some_and(|t| t.is_special(id));
    let mut opts = Options::for_profile(profile)
        .special_tokens(&special)
        .skip_special(!req.score_special);
    if let Some(d) = req.dedup {
        opts = opts.dedup(d);
    }
    let dedup = opts.dedup;
    if let Some(p) = prompt_ids {
        opts = opts.prompt(p);
    }
    let sel = select_positions(profile.context_width, ids, &opts, &mut Scratch::new())?;
    let master_wm = profile.try_watermark(None)?;
    let master = score_selection(&master_wm, ids, &sel, true)?;
    // Scoring nothing is an error (a pipeline would read "not watermarked" as "clean").
    provmark_detect::ensure_scored(&master, profile.context_width)?;
    let (reference_p_value, synthid, warnings) = foreign_extras(profile, &master_wm, ids, &master);

    // Attribution: every account's key over the same positions, Bonferroni over accounts.
    let attribution = if req.accounts.is_empty() {
        None
    } else {
        Some(attribute_selection(
            profile,
            ids,
            &sel,
            req.accounts,
            false,
        )?)
    };
    let best = attribution.as_ref().and_then(|att| att.best().cloned());

    // Verdict p: the master test alone, or (with accounts) Bonferroni over the two families.
    let master_log10 = master.tail().log10_p;
    let log10_p = match &best {
        None => master_log10,
        Some(b) => (master_log10.min(b.adjusted_log10_p) + 2f64.log10()).min(0.0),
    };
    let p_value = TailProb { log10_p }.p_value();
    let detected = log10_p <= req.alpha.log10();

    // Spans under the key that carries the evidence (best account if it beats the master).
    let span_evidence: Evidence = match &best {
        Some(b) if b.adjusted_log10_p < master_log10 => {
            score_selection(&profile.try_watermark(Some(&b.account))?, ids, &sel, true)?
        }
        _ => master.clone(),
    };
    let mut spans = find_spans(
        &span_evidence,
        offsets.as_deref(),
        &SpanOptions::default().alpha(req.alpha),
    )?;
    if offsets.is_none() && matches!(req.input, CheckInput::Text(_)) {
        if let Some(tok) = tokenizer.filter(|t| t.ranges_tile_text()) {
            fill_byte_offsets(&mut spans.spans, ids, tok);
        }
    }

    Ok(CheckReport {
        verdict: if detected {
            "watermarked"
        } else {
            "not_watermarked"
        },
        p_value,
        log10_p,
        alpha: req.alpha,
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

/// Account ids from a file: the one reader both verbs use ([`provmark_detect::read_accounts_file`]:
/// blanks trimmed, blank lines and `#` comment lines ignored, duplicates and an empty file are
/// errors).
pub fn read_accounts_file(path: &Path) -> Result<Vec<String>> {
    Ok(provmark_detect::read_accounts_file(path)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use provmark_core::{Scheme, SecretKey, TokenizerSpec};

    fn profile() -> Profile {
        Profile::from_secret(
            SecretKey::from_bytes([9; 32]),
            Scheme::DEFAULT_GREEN,
            2,
            TokenizerSpec::default_openai(),
        )
        .expect("valid profile")
    }

    #[test]
    fn token_ids_need_no_tokenizer_when_special_tokens_are_scored() {
        let ids: Vec<u32> = (0..300u32).map(|i| (i * 7919) % 5000).collect();
        let mut req = CheckRequest::new(CheckInput::TokenIds(&ids));
        assert!(req.needs_tokenizer());
        req.score_special = true;
        assert!(!req.needs_tokenizer());
        let r = check(&profile(), None, &req).expect("checks");
        assert_eq!(r.total_tokens, 300);
        assert_eq!(r.dedup, "pair");
        assert!(!r.is_watermarked());
    }

    #[test]
    fn text_without_tokenizer_and_bad_alpha_are_errors() {
        let p = profile();
        let req = CheckRequest::new(CheckInput::Text("some text"));
        assert!(matches!(
            check(&p, None, &req),
            Err(CheckError::NoTokenizer(_))
        ));
        let ids = [1u32, 2, 3, 4];
        let mut req = CheckRequest::new(CheckInput::TokenIds(&ids));
        req.alpha = 1.5;
        assert!(matches!(check(&p, None, &req), Err(CheckError::Alpha(_))));
        req.alpha = 1e-6;
        req.input = CheckInput::TokenIds(&[]);
        assert!(matches!(check(&p, None, &req), Err(CheckError::Input(_))));
    }

    #[test]
    fn input_rules() {
        assert!(decode_text(Vec::new(), false, "x").is_err());
        assert!(decode_text(b"a\0b".to_vec(), false, "x").is_err());
        let e = decode_text(b"caf\xc3 au".to_vec(), false, "x").expect_err("invalid");
        assert!(e.to_string().contains("byte 3"), "{e}");
        let (t, w) = decode_text(b"caf\xc3 au".to_vec(), true, "x").expect("lossy");
        assert!(t.contains('\u{FFFD}') && w.is_some_and(|w| w.contains("replaced 1")));
        assert_eq!(parse_token_ids("[1, 2]", "x").expect("ids"), vec![1, 2]);
        assert!(parse_token_ids("[]", "x").is_err());
        assert!(parse_token_ids("[-1]", "x").is_err());
    }
}
