//! The scan split into library calls for a map-reduce engine (the design of [`crate::distributed`]):
//!
//! * **map** ([`Mapper`]): a batch of records (text or JSON line, optional prompt, global input
//!   ordinal) → every distinct pair of each record as columns (keyed fingerprint, the record's
//!   ordinal, score under the master key, and the pair's ids when accounts are tested), plus one
//!   result per record (scored, or the skip reason) and the record sums ([`RecordCounts`]). It is
//!   the very code a [`scan`](crate::scan) worker runs on each record.
//! * **shuffle** (the engine's): group the pairs by fingerprint, keep the row of the smallest
//!   ordinal — the set of distinct pairs of the whole corpus with the record each first occurs in.
//! * **fold** ([`Folder`]): the deduplicated pairs of one reduce partition (and the record
//!   counters) → one [`Piece`]: exact accumulators of the master test, of each evidence-curve bin
//!   and of each account key.
//! * **finish** ([`finish`]): the pieces of every partition → the same [`Report`] that
//!   [`scan`](crate::scan) builds (bit for bit in its content: statistic, scored pairs,
//!   p-value, curve, accounts, per-record p-value histogram, skip counts).
//!
//! Ordinals are the records' global indexes in input order (`0..records_total`): the engine
//! counts records before the map (per input split) so that each record's ordinal is the same as
//! in a single-process scan whatever the partitioning. The map and the fold check them.

use std::path::PathBuf;
use std::sync::Arc;

use provmark_core::prf::AnyPrf;
use provmark_core::{Profile, Watermark};
use provmark_detect::{Accumulator, FingerprintSet, PairFingerprinter, Scratch};
use provmark_tokenize::Tokenizer;
use serde::{Deserialize, Serialize};

use crate::engine::{self, Keys, PairSink, PartResult, RecordCounts, Worker};
use crate::error::{Result, ScanError};
use crate::input::{Fields, RawKind, RawRecord};
use crate::report::{ControlResult, Report, RunInfo};
use crate::{InputSummary, ScanConfig, SkipReason};

/// The settings shared by the map, fold and finish calls of one scan (the driver sends the
/// same values to every task).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SplitSettings {
    /// Text field of JSON lines (the text column of rows, for the report).
    pub field: String,
    /// Prompt field of JSON lines (contexts that occur in the prompt are not scored).
    pub prompt_field: Option<String>,
    /// Accounts tested (each under its derived key).
    pub accounts: Vec<String>,
    /// Significance level.
    pub alpha: f64,
    /// Records with fewer tokens are skipped (at least context width + 1).
    pub min_tokens: usize,
    /// Evidence-curve points.
    pub curve_bins: usize,
    /// Hugging Face `tokenizer.json` to use instead of the path recorded in the profile.
    pub tokenizer_path: Option<PathBuf>,
}

impl Default for SplitSettings {
    fn default() -> Self {
        SplitSettings {
            field: "text".into(),
            prompt_field: None,
            accounts: Vec::new(),
            alpha: crate::DEFAULT_ALPHA,
            min_tokens: 0,
            curve_bins: crate::DEFAULT_CURVE_BINS,
            tokenizer_path: None,
        }
    }
}

impl SplitSettings {
    /// Checks the settings as [`scan`](crate::scan) checks its configuration.
    pub fn validate(&self) -> Result<()> {
        if !(self.alpha > 0.0 && self.alpha < 1.0) {
            return Err(ScanError::Config {
                name: "alpha",
                reason: format!("{} is not in (0, 1)", self.alpha),
            });
        }
        crate::validate_accounts(&self.accounts)
    }

    /// The equivalent single-process configuration (for the report's parameters).
    fn scan_config(&self) -> ScanConfig {
        let mut cfg = ScanConfig::new(Vec::new());
        cfg.field = self.field.clone();
        cfg.prompt_field = self.prompt_field.clone();
        cfg.accounts = self.accounts.clone();
        cfg.alpha = self.alpha;
        cfg.min_tokens = self.min_tokens;
        cfg.curve_bins = self.curve_bins;
        cfg.tokenizer_path = self.tokenizer_path.clone();
        cfg
    }
}

/// One input record of a map call.
#[derive(Clone, Copy, Debug)]
pub enum MapRecord<'a> {
    /// A JSONL line (without its line break; a trailing `\r` is dropped as the scan does). It
    /// must not be blank: blank lines are not records.
    JsonLine(&'a [u8]),
    /// A row of a table: its text (None: null, skipped as `missing_field`) and prompt.
    Row {
        /// The text column's bytes.
        text: Option<&'a [u8]>,
        /// The prompt column's bytes.
        prompt: Option<&'a [u8]>,
    },
    /// A row whose text column is not a string (skipped as `not_text`).
    RowNotText,
}

/// Whether a JSONL line is blank (not a record): what the scan's reader skips.
pub fn is_blank_line(line: &[u8]) -> bool {
    line.iter().all(u8::is_ascii_whitespace)
}

/// The distinct pairs of a map call, as columns (one entry per pair and record).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MapPairs {
    /// Keyed fingerprint (the dedup key).
    pub fp: Vec<u64>,
    /// Ordinal of the record the pair occurs in.
    pub ord: Vec<u64>,
    /// Score under the master key.
    pub score: Vec<f64>,
    /// The pair's ids (context then token), `stride` per pair; empty without accounts.
    pub ids: Vec<u32>,
}

impl PairSink for MapPairs {
    fn insert(&mut self, fp: u64, ord: u64, score: f64, ids: &[u32]) -> Result<()> {
        self.fp.push(fp);
        self.ord.push(ord);
        self.score.push(score);
        self.ids.extend_from_slice(ids);
        Ok(())
    }
}

/// The per-record results of a map call, as columns (one entry per record).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RecordResults {
    /// 0: scored; `k + 1`: skipped for [`SkipReason::ALL`]`[k]` ([`skip_reason_of`]).
    pub status: Vec<u8>,
    /// Tokens of the record.
    pub tokens: Vec<u64>,
    /// Distinct pairs scored in the record's own test.
    pub scored_tokens: Vec<u64>,
    /// log10 p of the record's own test (NaN when skipped).
    pub log10_p: Vec<f64>,
}

/// The skip reason of a [`RecordResults::status`] code (None: scored or unknown).
pub fn skip_reason_of(status: u8) -> Option<SkipReason> {
    (status as usize)
        .checked_sub(1)
        .and_then(|k| SkipReason::ALL.get(k).copied())
}

fn status_of(reason: SkipReason) -> u8 {
    SkipReason::ALL
        .iter()
        .position(|r| *r == reason)
        .map_or(u8::MAX, |k| k as u8 + 1)
}

/// The map side: parses, tokenizes and scores records exactly as a scan worker does.
pub struct Mapper {
    keys: Keys,
    worker: Worker<MapPairs>,
    counts: RecordCounts,
    buf: Vec<u8>,
}

impl std::fmt::Debug for Mapper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mapper")
            .field("stride", &self.worker.stride)
            .finish_non_exhaustive()
    }
}

fn keys_for(profile: &Profile, s: &SplitSettings) -> Result<Keys> {
    s.validate()?;
    let tokenizer = Tokenizer::for_profile(&profile.tokenizer, s.tokenizer_path.as_deref())?;
    Ok(Keys {
        tokenizer: Arc::new(tokenizer),
        master: profile.watermark(None),
        accounts: engine::account_watermarks(profile, &s.accounts)?,
        fingerprinter: PairFingerprinter::for_profile(profile),
        filter: None,
    })
}

impl Mapper {
    /// A mapper for the profile and settings (loads the tokenizer).
    pub fn new(profile: &Profile, s: &SplitSettings) -> Result<Self> {
        let keys = keys_for(profile, s)?;
        let h = profile.context_width;
        let stride = if s.accounts.is_empty() { 0 } else { h + 1 };
        let worker = Worker {
            ids: Vec::with_capacity(1 << 12),
            prompt_ids: Vec::new(),
            scratch: Scratch::new(),
            seen: FingerprintSet::new(),
            table: MapPairs::default(),
            min_tokens: s.min_tokens.max(h + 1),
            stride,
            fields: Fields {
                text: s.field.clone(),
                prompt: s.prompt_field.clone(),
                id: None,
            },
            field_samples: 0,
        };
        Ok(Mapper {
            keys,
            worker,
            counts: RecordCounts::default(),
            buf: Vec::new(),
        })
    }

    /// Ids per pair in [`MapPairs::ids`] (context width + 1 with accounts, else 0).
    pub fn stride(&self) -> usize {
        self.worker.stride
    }

    /// Maps one record of global ordinal `ord`: its distinct pairs are appended to `pairs`, its
    /// result to `results`, and it is counted in [`Mapper::take_counts`].
    pub fn map(
        &mut self,
        rec: MapRecord<'_>,
        ord: u64,
        pairs: &mut MapPairs,
        results: &mut RecordResults,
    ) -> Result<()> {
        self.buf.clear();
        let (kind, text, prompt) = match rec {
            MapRecord::JsonLine(line) => {
                let mut end = line.len();
                while end > 0 && matches!(line[end - 1], b'\n' | b'\r') {
                    end -= 1;
                }
                if is_blank_line(&line[..end]) {
                    return Err(ScanError::Config {
                        name: "records",
                        reason: format!("record {ord} is a blank line (blank lines are not records: drop them before the map)"),
                    });
                }
                self.buf.extend_from_slice(&line[..end]);
                (RawKind::JsonLine, 0..end, None)
            }
            MapRecord::Row {
                text: Some(t),
                prompt,
            } => {
                self.buf.extend_from_slice(t);
                let n = t.len();
                let p = prompt.map(|p| {
                    self.buf.extend_from_slice(p);
                    n..n + p.len()
                });
                (RawKind::Row, 0..n, p)
            }
            MapRecord::Row { text: None, .. } => (RawKind::RowMissing, 0..0, None),
            MapRecord::RowNotText => (RawKind::RowNotText, 0..0, None),
        };
        let raw = RawRecord {
            input: 0,
            locator: ord,
            kind,
            text,
            prompt,
            id: None,
        };
        std::mem::swap(&mut self.worker.table, pairs);
        let outcome = self.worker.process(&self.keys, &raw, &self.buf, ord);
        std::mem::swap(&mut self.worker.table, pairs);
        let o = outcome?;
        self.counts.add(o.tokens, &o.result);
        results.tokens.push(o.tokens);
        match o.result {
            Ok((stat, log10_p)) => {
                results.status.push(0);
                results.scored_tokens.push(stat.scored());
                results.log10_p.push(log10_p);
            }
            Err(reason) => {
                results.status.push(status_of(reason));
                results.scored_tokens.push(0);
                results.log10_p.push(f64::NAN);
            }
        }
        Ok(())
    }

    /// The record sums since the last call (then reset).
    pub fn take_counts(&mut self) -> RecordCounts {
        std::mem::take(&mut self.counts)
    }
}

/// A mergeable accumulator in a form that round-trips exactly through JSON.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum AccRepr {
    Binomial {
        successes: u64,
        trials: u64,
        /// IEEE bits of γ (merging compares them exactly).
        gamma_bits: u64,
        per_token: u64,
    },
    Gamma {
        /// Decimal u128.
        sum_fixed: String,
        count: u64,
    },
    DualKeyGamma {
        sum_fixed: String,
        count: u64,
        alpha_bits: u64,
    },
}

impl AccRepr {
    fn of(a: &Accumulator) -> Result<Self> {
        match a {
            Accumulator::Binomial {
                successes,
                trials,
                gamma,
                per_token,
            } => Ok(AccRepr::Binomial {
                successes: *successes,
                trials: *trials,
                gamma_bits: gamma.to_bits(),
                per_token: *per_token,
            }),
            Accumulator::Gamma { sum_fixed, count } => Ok(AccRepr::Gamma {
                sum_fixed: sum_fixed.to_string(),
                count: *count,
            }),
            Accumulator::DualKeyGamma {
                sum_fixed,
                count,
                alpha,
            } => Ok(AccRepr::DualKeyGamma {
                sum_fixed: sum_fixed.to_string(),
                count: *count,
                alpha_bits: alpha.to_bits(),
            }),
            #[allow(unreachable_patterns)]
            _ => Err(ScanError::Internal(
                "an accumulator kind the split does not carry".into(),
            )),
        }
    }

    fn to_acc(&self) -> Result<Accumulator> {
        let fixed = |s: &str| {
            s.parse::<u128>()
                .map_err(|_| ScanError::Internal(format!("bad fixed-point sum {s:?} in a piece")))
        };
        Ok(match self {
            AccRepr::Binomial {
                successes,
                trials,
                gamma_bits,
                per_token,
            } => Accumulator::Binomial {
                successes: *successes,
                trials: *trials,
                gamma: f64::from_bits(*gamma_bits),
                per_token: *per_token,
            },
            AccRepr::Gamma { sum_fixed, count } => Accumulator::Gamma {
                sum_fixed: fixed(sum_fixed)?,
                count: *count,
            },
            AccRepr::DualKeyGamma {
                sum_fixed,
                count,
                alpha_bits,
            } => Accumulator::DualKeyGamma {
                sum_fixed: fixed(sum_fixed)?,
                count: *count,
                alpha: f64::from_bits(*alpha_bits),
            },
        })
    }
}

/// What one fold (one reduce partition) contributes to the report: record sums and exact
/// accumulators. Pieces add in any order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Piece {
    /// Format tag.
    format: String,
    counts: RecordCounts,
    master: AccRepr,
    bins: Vec<AccRepr>,
    /// Account `a`'s curve bin `b` at `a * account_bins + b`.
    accounts: Vec<AccRepr>,
    account_bins: usize,
}

const PIECE_FORMAT: &str = "provmark-scan-piece/v2";

impl Piece {
    /// The piece as JSON bytes (no secret: counts and sums only).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(self).map_err(|e| ScanError::Internal(format!("piece: {e}")))
    }

    /// Reads a piece written by [`Piece::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let p: Piece = serde_json::from_slice(bytes)
            .map_err(|e| ScanError::Internal(format!("not a scan piece: {e}")))?;
        if p.format != PIECE_FORMAT {
            return Err(ScanError::Internal(format!(
                "a piece of format {:?}, expected {PIECE_FORMAT}",
                p.format
            )));
        }
        Ok(p)
    }

    fn part(&self) -> Result<PartResult> {
        Ok(PartResult {
            master: self.master.to_acc()?,
            bins: self
                .bins
                .iter()
                .map(AccRepr::to_acc)
                .collect::<Result<_>>()?,
            accounts: self
                .accounts
                .iter()
                .map(AccRepr::to_acc)
                .collect::<Result<_>>()?,
            account_bins: self.account_bins,
        })
    }
}

/// The reduce side: folds deduplicated pairs (each with the smallest ordinal it occurs at) and
/// record counters into a [`Piece`].
pub struct Folder {
    accounts: Vec<(String, Watermark<AnyPrf>)>,
    h: usize,
    stride: usize,
    bins: usize,
    records_total: u64,
    part: PartResult,
    counts: RecordCounts,
}

impl std::fmt::Debug for Folder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Folder")
            .field("stride", &self.stride)
            .field("bins", &self.bins)
            .field("records_total", &self.records_total)
            .finish_non_exhaustive()
    }
}

impl Folder {
    /// A folder for a pass over `records_total` records.
    pub fn new(profile: &Profile, s: &SplitSettings, records_total: u64) -> Result<Self> {
        s.validate()?;
        let master = profile.watermark(None);
        let empty = Accumulator::for_scheme(&master.scheme())?;
        let accounts = engine::account_watermarks(profile, &s.accounts)?;
        let bins = engine::curve_bin_count(s.curve_bins, records_total);
        let h = profile.context_width;
        Ok(Folder {
            stride: if accounts.is_empty() { 0 } else { h + 1 },
            part: PartResult::new(&empty, bins, accounts.len()),
            accounts,
            h,
            bins,
            records_total,
            counts: RecordCounts::default(),
        })
    }

    /// Ids per pair expected by [`Folder::add_pair`].
    pub fn stride(&self) -> usize {
        self.stride
    }

    /// Adds one distinct pair: the smallest ordinal it occurs at, its master score and (with
    /// accounts) its ids.
    pub fn add_pair(&mut self, ord: u64, score: f64, ids: &[u32]) -> Result<()> {
        if ord >= self.records_total {
            return Err(ScanError::Config {
                name: "ordinal",
                reason: format!(
                    "pair ordinal {ord} is not below the record count {} (did the input change between the count and the map?)",
                    self.records_total
                ),
            });
        }
        if ids.len() != self.stride {
            return Err(ScanError::Config {
                name: "ids",
                reason: format!("{} ids for a pair, expected {}", ids.len(), self.stride),
            });
        }
        self.part
            .add(&self.accounts, self.h, ord, self.records_total, score, ids);
        Ok(())
    }

    /// Adds a record counter ([`RecordCounts::counters`]).
    pub fn add_counter(&mut self, index: u32, value: u64) -> Result<()> {
        self.counts.add_counter(index, value)
    }

    /// Adds a map call's record sums.
    pub fn add_counts(&mut self, counts: &RecordCounts) {
        self.counts.merge(counts);
    }

    /// The piece folded so far.
    pub fn piece(&self) -> Result<Piece> {
        Ok(Piece {
            format: PIECE_FORMAT.into(),
            counts: self.counts.clone(),
            master: AccRepr::of(&self.part.master)?,
            bins: self
                .part
                .bins
                .iter()
                .map(AccRepr::of)
                .collect::<Result<_>>()?,
            accounts: self
                .part
                .accounts
                .iter()
                .map(AccRepr::of)
                .collect::<Result<_>>()?,
            account_bins: self.part.account_bins,
        })
    }
}

/// One corpus (the suspect corpus or the control) as the finish call receives it.
#[derive(Clone, Debug, Default)]
pub struct CorpusPieces {
    /// Records counted before the map (the ordinals are below it).
    pub records_total: u64,
    /// The inputs read, in input order.
    pub inputs: Vec<InputSummary>,
    /// Every fold's piece.
    pub pieces: Vec<Piece>,
}

fn pass_of(
    empty: &Accumulator,
    c: CorpusPieces,
    accounts: &[String],
    curve_bins: usize,
) -> Result<engine::PassResult> {
    let bins = engine::curve_bin_count(curve_bins, c.records_total);
    let mut total = PartResult::new(empty, bins, accounts.len());
    let mut counts = RecordCounts::default();
    for p in &c.pieces {
        counts.merge(&p.counts);
        total.merge(&p.part()?)?;
    }
    if counts.records_total != c.records_total {
        return Err(ScanError::Config {
            name: "records",
            reason: format!(
                "{} records were mapped but {} were counted before the map (did the input change during the scan?)",
                counts.records_total, c.records_total
            ),
        });
    }
    let merged = engine::combine(empty, total, accounts, c.records_total)?;
    Ok(engine::pass_result(counts, c.inputs, merged, Vec::new()))
}

/// Builds the unsealed report from the pieces of the suspect corpus and of the control (scanned
/// without accounts) — the report [`scan`](crate::scan) builds for the same records. `run`
/// describes the run (not part of the report's compared content).
pub fn finish(
    profile: &Profile,
    s: &SplitSettings,
    main: CorpusPieces,
    control: Option<CorpusPieces>,
    run: RunInfo,
) -> Result<Report> {
    s.validate()?;
    let tokenizer = Tokenizer::for_profile(&profile.tokenizer, s.tokenizer_path.as_deref())?;
    let empty = Accumulator::for_scheme(&profile.watermark(None).scheme())?;
    let main = pass_of(&empty, main, &s.accounts, s.curve_bins)?;
    crate::ensure_scored(&main, "suspect corpus", &s.field)?;
    let control = match control {
        None => None,
        Some(c) => {
            let r = pass_of(&empty, c, &[], s.curve_bins)?;
            crate::ensure_scored(&r, "control corpus", &s.field)?;
            Some(ControlResult {
                corpus: crate::corpus_result(&r, s.alpha),
                skipped_reasons: crate::skipped_map(&r),
                inputs: r.inputs.clone(),
                curve: r.curve.clone(),
            })
        }
    };
    Ok(crate::build_report(
        profile,
        &s.scan_config(),
        tokenizer.spec(),
        &main,
        control,
        Vec::new(),
        None,
        run,
    ))
}
