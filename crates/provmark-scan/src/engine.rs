//! The streaming scan: one reader thread, N tokenize-and-score workers, an in-order collector,
//! then a partition-parallel merge of the distinct pairs.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{channel, sync_channel};
use std::sync::{Arc, Mutex};

use provmark_core::prf::AnyPrf;
use provmark_core::scheme::MAX_CONTEXT_WIDTH;
use provmark_core::{Profile, Watermark};
use provmark_detect::tail::{bonferroni, TailProb};
use provmark_detect::{
    score_ids_with, Accumulator, Dedup, FingerprintSet, Options, PairFingerprinter, Scratch,
    Statistic,
};
use provmark_tokenize::Tokenizer;
use serde::{Deserialize, Serialize};

use crate::dedup::{PairSources, PairTable, SortedRun, PARTITIONS};
use crate::error::{Result, ScanError};
use crate::input::{self, Batch, Fields, InputFile, RawKind, RawRanges, RawRecord, RecordSink};
use crate::record::{extract, top_level_keys, SkipReason};

/// Live counters for a progress display (all monotone; read with `Relaxed`).
#[derive(Debug, Default)]
pub struct Progress {
    /// Raw input bytes read so far.
    pub bytes_read: AtomicU64,
    /// Total raw input bytes (0 when unknown, e.g. standard input).
    pub bytes_total: AtomicU64,
    /// Records processed (scored or skipped).
    pub records: AtomicU64,
    /// Tokens produced by the tokenizer.
    pub tokens: AtomicU64,
    /// Set while the final merge of distinct pairs runs.
    pub merging: AtomicBool,
}

/// Settings of one corpus pass (shared by the suspect corpus and the control).
#[derive(Clone, Debug)]
pub(crate) struct PassSettings {
    pub fields: Fields,
    pub threads: usize,
    pub memory_budget: usize,
    pub min_tokens: usize,
    pub curve_bins: usize,
    pub spill_dir: PathBuf,
}

/// Shared read-only state of a pass.
pub(crate) struct Keys {
    pub tokenizer: Arc<Tokenizer>,
    pub master: Watermark<AnyPrf>,
    pub accounts: Vec<(String, Watermark<AnyPrf>)>,
    pub fingerprinter: PairFingerprinter,
    /// Supervised mode: contexts that occur in the provider's own outputs.
    pub filter: Option<FingerprintSet>,
}

/// Result of one input file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InputSummary {
    /// Path as given or found.
    pub path: String,
    /// SHA-256 of the raw file bytes (lowercase hex).
    pub sha256: String,
    /// Records read from it (scored + skipped).
    pub records: u64,
    /// Raw bytes.
    pub bytes: u64,
    /// `jsonl`, `text` or `parquet`.
    pub format: input::InputFormat,
    /// `none`, `gzip` or `zstd`.
    pub compression: input::Compression,
}

/// One point of the cumulative evidence curve.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    /// Records read up to this point (input order).
    pub records: u64,
    /// Distinct pairs scored among them.
    pub scored_tokens: u64,
    /// log10 p of the pooled test over those pairs.
    pub log10_p: f64,
}

/// One account's pooled test over all distinct pairs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AccountResult {
    /// Rank by p-value (1 = most significant).
    pub rank: usize,
    /// The account id.
    pub account: String,
    /// Unadjusted log10 p.
    pub log10_p: f64,
    /// Bonferroni-adjusted log10 p (× number of accounts).
    pub adjusted_log10_p: f64,
    /// Bonferroni-adjusted p.
    pub adjusted_p_value: f64,
    /// The raw statistic under this account's key.
    pub statistic: Statistic,
    /// This account key's cumulative evidence curve in input order (as the report's `curve` is
    /// the master key's), recorded for the top-ranked account when its key, not the master key,
    /// carries the evidence (the rule of [`crate::report::overall_evidence`]); empty otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub curve: Vec<CurvePoint>,
}

/// Histogram of per-record p-values on a −log10 scale (for the QQ plot).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecordPValues {
    /// Records with at least one scored token (those with a p-value).
    pub count: u64,
    /// Width of each bin in −log10 p.
    pub bin_width: f64,
    /// `counts[i]` records have −log10 p in `[i·w, (i+1)·w)`; the last bin is open-ended.
    pub counts: Vec<u64>,
}

const P_BIN_WIDTH: f64 = 0.1;
const P_BINS: usize = 501;

/// Everything one pass over a corpus found.
#[derive(Clone, Debug)]
pub(crate) struct PassResult {
    pub statistic: Statistic,
    pub log10_p: f64,
    pub unique_pairs: u64,
    pub total_tokens: u64,
    pub records_total: u64,
    pub records_scored: u64,
    pub skipped: BTreeMap<SkipReason, u64>,
    pub inputs: Vec<InputSummary>,
    pub curve: Vec<CurvePoint>,
    pub record_p: RecordPValues,
    pub accounts: Vec<AccountResult>,
    pub spilled_runs: usize,
    /// Field names of sampled records that lacked the text field.
    pub fields_seen: Vec<String>,
}

/// One record's outcome.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub input: u32,
    pub locator: u64,
    pub id: Option<String>,
    pub tokens: u64,
    pub result: std::result::Result<(Statistic, f64), SkipReason>,
    /// Top-level field names of a record skipped as `missing_field` (only for the first few
    /// such records of each worker: they name the likely misspelling when nothing is scored).
    pub fields_seen: Vec<String>,
}

/// The per-record sums of a pass (or of a shard of it): plain sums, so shards add exactly.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecordCounts {
    /// Records read (scored + skipped).
    pub records_total: u64,
    /// Records scored.
    pub records_scored: u64,
    /// Tokens of all records.
    pub total_tokens: u64,
    /// Skipped records by reason.
    pub skipped: BTreeMap<SkipReason, u64>,
    /// Histogram of per-record p-values ([`RecordPValues`] bins).
    pub p_counts: Vec<u64>,
    /// Records with a p-value (at least one scored token).
    pub p_count: u64,
}

impl Default for RecordCounts {
    fn default() -> Self {
        RecordCounts {
            records_total: 0,
            records_scored: 0,
            total_tokens: 0,
            skipped: BTreeMap::new(),
            p_counts: vec![0; P_BINS],
            p_count: 0,
        }
    }
}

/// Number of counters of [`RecordCounts::counters`].
pub const RECORD_COUNTERS: usize = 4 + SkipReason::ALL.len() + P_BINS;

impl RecordCounts {
    /// Counts one record (its tokens and its test or skip reason).
    pub(crate) fn add(
        &mut self,
        tokens: u64,
        result: &std::result::Result<(Statistic, f64), SkipReason>,
    ) {
        self.records_total += 1;
        self.total_tokens += tokens;
        match result {
            Ok((stat, log10_p)) => {
                self.records_scored += 1;
                if stat.scored() > 0 {
                    self.p_count += 1;
                    let bin = ((-log10_p / P_BIN_WIDTH).max(0.0) as usize).min(P_BINS - 1);
                    self.p_counts[bin] += 1;
                }
            }
            Err(r) => *self.skipped.entry(*r).or_insert(0) += 1,
        }
    }

    /// Adds another shard's counts.
    pub fn merge(&mut self, other: &RecordCounts) {
        self.records_total += other.records_total;
        self.records_scored += other.records_scored;
        self.total_tokens += other.total_tokens;
        for (k, v) in &other.skipped {
            *self.skipped.entry(*k).or_insert(0) += v;
        }
        for (a, b) in self.p_counts.iter_mut().zip(&other.p_counts) {
            *a += b;
        }
        self.p_count += other.p_count;
    }

    /// The counts as numbered integer counters (index < [`RECORD_COUNTERS`], value), non-zero
    /// ones only: a map-reduce engine can carry and sum them as plain integer rows.
    pub fn counters(&self) -> Vec<(u32, u64)> {
        let mut all = vec![
            self.records_total,
            self.records_scored,
            self.total_tokens,
            self.p_count,
        ];
        all.extend(
            SkipReason::ALL
                .iter()
                .map(|r| self.skipped.get(r).copied().unwrap_or(0)),
        );
        all.extend_from_slice(&self.p_counts);
        all.into_iter()
            .enumerate()
            .filter(|&(_, v)| v > 0)
            .map(|(i, v)| (i as u32, v))
            .collect()
    }

    /// Adds `value` to counter `index` (the inverse of [`RecordCounts::counters`]).
    pub fn add_counter(&mut self, index: u32, value: u64) -> Result<()> {
        let i = index as usize;
        let nr = SkipReason::ALL.len();
        match i {
            0 => self.records_total += value,
            1 => self.records_scored += value,
            2 => self.total_tokens += value,
            3 => self.p_count += value,
            _ if i < 4 + nr => *self.skipped.entry(SkipReason::ALL[i - 4]).or_insert(0) += value,
            _ if i < RECORD_COUNTERS => self.p_counts[i - 4 - nr] += value,
            _ => {
                return Err(ScanError::Internal(format!(
                    "record counter {index} out of range"
                )))
            }
        }
        Ok(())
    }
}

/// Records missing the text field whose field names each worker samples.
const FIELD_SAMPLES_PER_WORKER: u32 = 16;
/// Most distinct field names kept for the "nothing scored" message.
const FIELD_NAMES_KEPT: usize = 24;

struct BatchOut {
    seq: u64,
    outcomes: Vec<Outcome>,
}

/// The JSON line written to the records file for one input record.
#[derive(Serialize)]
struct RecordLine<'a> {
    id: &'a str,
    input: &'a str,
    line: u64,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<SkipReason>,
    tokens: u64,
    scored_tokens: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    p_value: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    log10_p: Option<f64>,
}

const BATCH_BYTES: usize = 1 << 20;
const BATCH_RECORDS: usize = 2048;

struct BatchSender {
    tx: std::sync::mpsc::SyncSender<Batch>,
    current: Batch,
    next_record: u64,
    stop: Arc<AtomicBool>,
}

impl BatchSender {
    fn flush(&mut self) -> bool {
        if self.current.records.is_empty() {
            return true;
        }
        let seq = self.current.seq;
        let next = Batch {
            seq: seq + 1,
            first_record: self.next_record,
            data: Vec::with_capacity(BATCH_BYTES + (BATCH_BYTES >> 2)),
            records: Vec::with_capacity(BATCH_RECORDS),
        };
        let full = std::mem::replace(&mut self.current, next);
        self.tx.send(full).is_ok()
    }
}

impl RecordSink for BatchSender {
    fn push(
        &mut self,
        input: u32,
        locator: u64,
        kind: RawKind,
        fill: &mut dyn FnMut(&mut Vec<u8>) -> RawRanges,
    ) -> bool {
        if self.stop.load(Ordering::Relaxed) {
            return false;
        }
        let r = fill(&mut self.current.data);
        self.current.records.push(RawRecord {
            input,
            locator,
            kind,
            text: r.text,
            prompt: r.prompt,
            id: r.id,
        });
        self.next_record += 1;
        if self.current.data.len() >= BATCH_BYTES || self.current.records.len() >= BATCH_RECORDS {
            return self.flush();
        }
        true
    }
}

/// Where a worker puts each distinct pair of a record: the dedup table of a scan, or the
/// columns of a map call ([`crate::split`]).
pub(crate) trait PairSink {
    /// One distinct pair of record `ord` (ids: context then token, when kept).
    fn insert(&mut self, fp: u64, ord: u64, score: f64, ids: &[u32]) -> Result<()>;
}

impl PairSink for PairTable {
    fn insert(&mut self, fp: u64, ord: u64, score: f64, ids: &[u32]) -> Result<()> {
        PairTable::insert(self, fp, ord, score, ids)
    }
}

/// Per-worker scratch, reused across records (no allocation per token once grown).
pub(crate) struct Worker<S> {
    pub ids: Vec<u32>,
    pub prompt_ids: Vec<u32>,
    pub scratch: Scratch,
    pub seen: FingerprintSet,
    pub table: S,
    pub min_tokens: usize,
    pub stride: usize,
    pub fields: Fields,
    /// Missing-field records whose field names were sampled so far.
    pub field_samples: u32,
}

impl<S: PairSink> Worker<S> {
    pub fn process(
        &mut self,
        keys: &Keys,
        rec: &RawRecord,
        data: &[u8],
        ord: u64,
    ) -> Result<Outcome> {
        let mut out = Outcome {
            input: rec.input,
            locator: rec.locator,
            id: rec
                .id
                .as_ref()
                .map(|r| String::from_utf8_lossy(&data[r.clone()]).into_owned()),
            tokens: 0,
            result: Err(SkipReason::EmptyText),
            fields_seen: Vec::new(),
        };
        let fields = &data[rec.text.clone()];
        let prompt_bytes = rec.prompt.as_ref().map(|r| &data[r.clone()]);
        let (text, prompt) = match extract(&rec.kind, fields, prompt_bytes, &self.fields) {
            Ok(x) => {
                if x.id.is_some() {
                    out.id = x.id;
                }
                (x.text, x.prompt)
            }
            Err((reason, id)) => {
                if id.is_some() {
                    out.id = id;
                }
                out.result = Err(reason);
                if reason == SkipReason::MissingField
                    && rec.kind == RawKind::JsonLine
                    && self.field_samples < FIELD_SAMPLES_PER_WORKER
                {
                    self.field_samples += 1;
                    out.fields_seen = top_level_keys(fields);
                }
                return Ok(out);
            }
        };
        self.ids.clear();
        keys.tokenizer.encode_into(&text, &mut self.ids);
        out.tokens = self.ids.len() as u64;
        let h = keys.master.context_width();
        if self.ids.len() < self.min_tokens.max(h + 1) {
            out.result = Err(SkipReason::TooFewTokens);
            return Ok(out);
        }
        let is_special = |id: u32| keys.tokenizer.is_special(id);
        let mut opts = Options::with_fingerprinter(keys.fingerprinter.clone())
            .special_tokens(&is_special)
            // Pair dedup is done below with the same fingerprints that feed the global set, so the
            // walk is asked for every valid position (one SipHash per position instead of two).
            .dedup(Dedup::None)
            .keep_positions(true);
        self.prompt_ids.clear();
        if let Some(p) = prompt.as_deref() {
            keys.tokenizer.encode_into(p, &mut self.prompt_ids);
        }
        if !self.prompt_ids.is_empty() {
            opts = opts.prompt(&self.prompt_ids);
        }
        let ev = score_ids_with(&keys.master, &self.ids, &opts, &mut self.scratch)?;
        let positions = ev.positions.unwrap_or_default();
        let mut acc = Accumulator::for_scheme(&keys.master.scheme())?;
        self.seen.clear();
        let mut buf = [0u32; MAX_CONTEXT_WIDTH + 1];
        for (&i, &score) in positions.index.iter().zip(&positions.score) {
            let i = i as usize;
            // The pair as detect scored it: a response's first positions take their context from
            // the end of its prompt (the walk only visits them when the prompt supplies it).
            let pair: &[u32] = if i >= h {
                &self.ids[i - h..=i]
            } else {
                let need = h - i;
                let tail = &self.prompt_ids[self.prompt_ids.len() - need..];
                buf[..need].copy_from_slice(tail);
                buf[need..=h].copy_from_slice(&self.ids[..=i]);
                &buf[..=h]
            };
            let ctx = &pair[..h];
            // vLLM's SBW words depend on a coarser keyed input than (context, token) (its
            // seed; `Prf::keyed_input`): dedup on that input, as detect's pair dedup does, so
            // no two scored pairs share a keyed value (pair dedup alone over-rejects).
            let fp = match keys.master.prf() {
                prf @ AnyPrf::Sbw(_) => match provmark_core::prf::Prf::keyed_input(
                    prf,
                    &provmark_core::prf::Prf::absorb(prf, ctx),
                    pair[h],
                ) {
                    Some((input, token)) => keys.fingerprinter.keyed_input(input, token),
                    None => keys.fingerprinter.pair(ctx, pair[h]),
                },
                _ => keys.fingerprinter.pair(ctx, pair[h]),
            };
            // Each distinct pair once per record (the record's own test), as detect's `Dedup::Pair`.
            if !self.seen.insert(fp) {
                continue;
            }
            if let Some(filter) = &keys.filter {
                if !filter.contains(keys.fingerprinter.context(ctx)) {
                    continue;
                }
            }
            acc.add(score);
            let ids = if self.stride > 0 { pair } else { &[][..] };
            self.table.insert(fp, ord, score, ids)?;
        }
        self.scratch.recycle(positions);
        let statistic = acc.statistic();
        out.result = Ok((statistic, statistic.tail().log10_p));
        Ok(out)
    }
}

/// Runs one pass over `files`. `records_out` receives one JSON line per record, in input order.
pub(crate) fn run_pass(
    keys: &Keys,
    files: &[InputFile],
    settings: &PassSettings,
    records_out: Option<&mut dyn Write>,
    records_out_path: &Path,
    progress: &Progress,
    run_prefix: &str,
) -> Result<PassResult> {
    let threads = settings.threads.max(1);
    let h = keys.master.context_width();
    let stride = if keys.accounts.is_empty() { 0 } else { h + 1 };
    let total_bytes: u64 = files.iter().map(|f| f.size).sum();
    progress
        .bytes_total
        .fetch_add(total_bytes, Ordering::Relaxed);
    let bytes_counter = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let (batch_tx, batch_rx) = sync_channel::<Batch>(threads * 2 + 2);
    let batch_rx = Arc::new(Mutex::new(batch_rx));
    let (out_tx, out_rx) = channel::<Result<BatchOut>>();
    let per_worker_budget = settings.memory_budget / threads;

    std::thread::scope(|scope| -> Result<PassResult> {
        // Reader.
        let reader = {
            let stop = stop.clone();
            let fields = settings.fields.clone();
            let bytes_counter = bytes_counter.clone();
            scope.spawn(move || -> Result<Vec<input::FileDigest>> {
                let mut sender = BatchSender {
                    tx: batch_tx,
                    current: Batch {
                        seq: 0,
                        first_record: 0,
                        data: Vec::with_capacity(BATCH_BYTES + (BATCH_BYTES >> 2)),
                        records: Vec::with_capacity(BATCH_RECORDS),
                    },
                    next_record: 0,
                    stop: stop.clone(),
                };
                let mut digests = Vec::with_capacity(files.len());
                for (i, f) in files.iter().enumerate() {
                    match input::read_file(
                        i as u32,
                        f,
                        &fields,
                        &mut sender,
                        Some(bytes_counter.clone()),
                    ) {
                        Ok(d) => digests.push(d),
                        Err(e) => {
                            stop.store(true, Ordering::Relaxed);
                            return Err(e);
                        }
                    }
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                }
                sender.flush();
                Ok(digests)
            })
        };
        // Workers.
        let mut workers = Vec::with_capacity(threads);
        for w in 0..threads {
            let rx = batch_rx.clone();
            let tx = out_tx.clone();
            let stop = stop.clone();
            let fields = settings.fields.clone();
            workers.push(scope.spawn(move || -> Result<(SortedRun, Vec<PathBuf>)> {
                let mut worker = Worker {
                    ids: Vec::with_capacity(1 << 12),
                    prompt_ids: Vec::new(),
                    scratch: Scratch::new(),
                    seen: FingerprintSet::new(),
                    table: PairTable::new(
                        per_worker_budget,
                        stride,
                        &settings.spill_dir,
                        &format!("{run_prefix}-w{w}"),
                    ),
                    min_tokens: settings.min_tokens,
                    stride,
                    fields,
                    field_samples: 0,
                };
                loop {
                    let batch = {
                        let guard = rx
                            .lock()
                            .map_err(|_| ScanError::Internal("reader lock poisoned".into()))?;
                        guard.recv()
                    };
                    let Ok(batch) = batch else { break };
                    let mut outcomes = Vec::with_capacity(batch.records.len());
                    let mut tokens = 0;
                    for (k, rec) in batch.records.iter().enumerate() {
                        match worker.process(keys, rec, &batch.data, batch.first_record + k as u64)
                        {
                            Ok(o) => {
                                tokens += o.tokens;
                                outcomes.push(o);
                            }
                            Err(e) => {
                                stop.store(true, Ordering::Relaxed);
                                let _ = tx.send(Err(e));
                                return Ok(worker.table.finish());
                            }
                        }
                    }
                    progress
                        .records
                        .fetch_add(outcomes.len() as u64, Ordering::Relaxed);
                    progress.tokens.fetch_add(tokens, Ordering::Relaxed);
                    if tx
                        .send(Ok(BatchOut {
                            seq: batch.seq,
                            outcomes,
                        }))
                        .is_err()
                    {
                        break;
                    }
                }
                // Each worker sorts its own pairs, in parallel with the others.
                Ok(worker.table.finish())
            }));
        }
        drop(out_tx);

        // Collector (this thread): in input order.
        let mut collector = Collector::new(files.len(), records_out, records_out_path, files);
        let mut pending: BTreeMap<u64, Vec<Outcome>> = BTreeMap::new();
        let mut next_seq = 0u64;
        let mut first_error: Option<ScanError> = None;
        let mut last_bytes = 0;
        for msg in out_rx.iter() {
            let cur = bytes_counter.load(Ordering::Relaxed);
            progress
                .bytes_read
                .fetch_add(cur - last_bytes, Ordering::Relaxed);
            last_bytes = cur;
            match msg {
                Ok(b) => {
                    pending.insert(b.seq, b.outcomes);
                    while let Some(outcomes) = pending.remove(&next_seq) {
                        if first_error.is_none() {
                            if let Err(e) = collector.take(outcomes) {
                                stop.store(true, Ordering::Relaxed);
                                first_error = Some(e);
                            }
                        }
                        next_seq += 1;
                    }
                }
                Err(e) => {
                    if first_error.is_none() {
                        first_error = Some(e);
                    }
                }
            }
        }
        let digests = reader
            .join()
            .map_err(|_| ScanError::Internal("reader thread panicked".into()))?;
        let mut tables = Vec::with_capacity(threads);
        for w in workers {
            tables.push(
                w.join()
                    .map_err(|_| ScanError::Internal("worker thread panicked".into()))??,
            );
        }
        let cur = bytes_counter.load(Ordering::Relaxed);
        progress
            .bytes_read
            .fetch_add(cur - last_bytes, Ordering::Relaxed);
        if let Some(e) = first_error {
            return Err(e);
        }
        let digests = digests?;
        collector.finish_records()?;
        progress.merging.store(true, Ordering::Relaxed);
        let merged = merge(
            keys,
            tables,
            stride,
            collector.counts.records_total,
            settings.curve_bins,
            threads,
        )?;
        progress.merging.store(false, Ordering::Relaxed);
        Ok(collector.into_result(digests, merged))
    })
}

/// Gathers outcomes in input order: counts, skip reasons, the records file.
struct Collector<'w> {
    out: Option<std::io::BufWriter<&'w mut dyn Write>>,
    out_path: PathBuf,
    names: Vec<String>,
    formats: Vec<input::InputFormat>,
    compressions: Vec<input::Compression>,
    per_input: Vec<u64>,
    counts: RecordCounts,
    fields_seen: std::collections::BTreeSet<String>,
}

impl<'w> Collector<'w> {
    fn new(n: usize, out: Option<&'w mut dyn Write>, out_path: &Path, files: &[InputFile]) -> Self {
        Collector {
            out: out.map(|w| std::io::BufWriter::with_capacity(1 << 16, w)),
            out_path: out_path.to_path_buf(),
            names: files.iter().map(|f| f.path.display().to_string()).collect(),
            formats: files.iter().map(|f| f.format).collect(),
            compressions: files.iter().map(|f| f.compression).collect(),
            per_input: vec![0; n],
            counts: RecordCounts::default(),
            fields_seen: std::collections::BTreeSet::new(),
        }
    }

    fn take(&mut self, outcomes: Vec<Outcome>) -> Result<()> {
        for o in outcomes {
            let input = o.input as usize;
            self.per_input[input] += 1;
            self.counts.add(o.tokens, &o.result);
            for name in o.fields_seen {
                if self.fields_seen.len() < FIELD_NAMES_KEPT {
                    self.fields_seen.insert(name);
                }
            }
            let (status, reason, scored, p) = match o.result {
                Ok((stat, log10_p)) => ("scored", None, stat.scored(), Some(log10_p)),
                Err(r) => ("skipped", Some(r), 0, None),
            };
            if let Some(w) = self.out.as_mut() {
                let default_id;
                let id = match &o.id {
                    Some(id) => id.as_str(),
                    None => {
                        default_id = match self.formats[input] {
                            input::InputFormat::Jsonl => {
                                format!("{}:{}", self.names[input], o.locator)
                            }
                            input::InputFormat::Text => self.names[input].clone(),
                            input::InputFormat::Parquet => {
                                format!("{}#{}", self.names[input], o.locator)
                            }
                        };
                        default_id.as_str()
                    }
                };
                let line = RecordLine {
                    id,
                    input: &self.names[input],
                    line: o.locator,
                    status,
                    reason,
                    tokens: o.tokens,
                    scored_tokens: scored,
                    p_value: p.map(|l| TailProb { log10_p: l }.p_value()),
                    log10_p: p.map(finite),
                };
                serde_json::to_writer(&mut *w, &line)
                    .map_err(|e| ScanError::io(&self.out_path, e.into()))?;
                w.write_all(b"\n")
                    .map_err(|e| ScanError::io(&self.out_path, e))?;
            }
        }
        Ok(())
    }

    fn finish_records(&mut self) -> Result<()> {
        if let Some(w) = self.out.as_mut() {
            w.flush().map_err(|e| ScanError::io(&self.out_path, e))?;
        }
        Ok(())
    }

    fn into_result(self, digests: Vec<input::FileDigest>, merged: Merged) -> PassResult {
        let inputs = digests
            .into_iter()
            .enumerate()
            .map(|(i, d)| InputSummary {
                path: self.names[i].clone(),
                sha256: d.sha256,
                records: self.per_input[i],
                bytes: d.bytes,
                format: self.formats[i],
                compression: self.compressions[i],
            })
            .collect();
        pass_result(
            self.counts,
            inputs,
            merged,
            self.fields_seen.into_iter().collect(),
        )
    }
}

/// A pass's result from its record counts, inputs and merged pairs.
pub(crate) fn pass_result(
    c: RecordCounts,
    inputs: Vec<InputSummary>,
    merged: Merged,
    fields_seen: Vec<String>,
) -> PassResult {
    let mut counts = c.p_counts;
    while counts.len() > 1 && counts.last() == Some(&0) {
        counts.pop();
    }
    let statistic = merged.master.statistic();
    PassResult {
        log10_p: finite(statistic.tail().log10_p),
        statistic,
        unique_pairs: merged.master.scored(),
        total_tokens: c.total_tokens,
        records_total: c.records_total,
        records_scored: c.records_scored,
        skipped: c.skipped,
        inputs,
        curve: merged.curve,
        record_p: RecordPValues {
            count: c.p_count,
            bin_width: P_BIN_WIDTH,
            counts,
        },
        accounts: merged.accounts,
        spilled_runs: merged.spilled_runs,
        fields_seen,
    }
}

/// A log10 p that JSON can carry: −∞ (an outcome impossible under H0) becomes −1e300.
pub(crate) fn finite(log10_p: f64) -> f64 {
    if log10_p.is_finite() {
        log10_p
    } else if log10_p.is_nan() {
        0.0
    } else {
        -1e300
    }
}

pub(crate) struct Merged {
    pub master: Accumulator,
    pub curve: Vec<CurvePoint>,
    pub accounts: Vec<AccountResult>,
    pub spilled_runs: usize,
}

/// Most evidence-curve bins kept per account: an account's curve bin joins `k` consecutive
/// master-curve bins ([`account_bin_stride`]), so that memory and a split scan's pieces grow as
/// accounts × 50, not × 200, and every point of an account's curve lies on a point of the
/// master key's (same records, same pairs scored).
pub(crate) const ACCOUNT_CURVE_BINS: usize = 50;

/// Master-curve bins per account-curve bin for a pass with `bins` master bins.
pub(crate) fn account_bin_stride(bins: usize) -> usize {
    bins.max(1).div_ceil(ACCOUNT_CURVE_BINS)
}

/// The accumulators of one partition of distinct pairs (or of any set of them): the master
/// statistic, one per evidence-curve bin, and per account one per account-curve bin.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct PartResult {
    pub master: Accumulator,
    pub bins: Vec<Accumulator>,
    /// Account `a`'s curve bin `b` at `a * account_bins + b`.
    pub accounts: Vec<Accumulator>,
    /// Curve bins per account.
    pub account_bins: usize,
}

/// Curve bins per account of a pass with `bins` master curve bins.
pub(crate) fn account_bin_count(bins: usize) -> usize {
    bins.max(1).div_ceil(account_bin_stride(bins))
}

impl PartResult {
    pub fn new(empty: &Accumulator, bins: usize, accounts: usize) -> Self {
        let account_bins = account_bin_count(bins);
        PartResult {
            master: empty.clone(),
            bins: vec![empty.clone(); bins],
            accounts: vec![empty.clone(); accounts * account_bins],
            account_bins,
        }
    }

    /// Folds one distinct pair in, given the smallest ordinal it occurs at among
    /// `records_total` records: its master score into the master and its curve bin, and, given
    /// its ids (context then token), its score under each account key into that account's bin.
    #[inline]
    pub fn add(
        &mut self,
        accounts: &[(String, Watermark<AnyPrf>)],
        h: usize,
        ord: u64,
        records_total: u64,
        score: f64,
        ids: &[u32],
    ) {
        self.master.add(score);
        let bin = bin_of(ord, self.bins.len(), records_total);
        self.bins[bin].add(score);
        if !ids.is_empty() {
            let ab = (bin / account_bin_stride(self.bins.len())).min(self.account_bins - 1);
            let (ctx, tok) = (&ids[..h], ids[h]);
            for ((_, wm), accs) in accounts
                .iter()
                .zip(self.accounts.chunks_exact_mut(self.account_bins))
            {
                let st = wm.absorb(ctx);
                accs[ab].add(wm.score(&st, tok));
            }
        }
    }

    /// Adds another part of the same pass.
    pub fn merge(&mut self, other: &PartResult) -> Result<()> {
        if self.bins.len() != other.bins.len()
            || self.accounts.len() != other.accounts.len()
            || self.account_bins != other.account_bins
        {
            return Err(ScanError::Internal(format!(
                "parts of different shapes ({} vs {} curve bins, {} vs {} account bins)",
                self.bins.len(),
                other.bins.len(),
                self.accounts.len(),
                other.accounts.len()
            )));
        }
        self.master.merge(&other.master)?;
        for (a, b) in self.bins.iter_mut().zip(&other.bins) {
            a.merge(b)?;
        }
        for (a, b) in self.accounts.iter_mut().zip(&other.accounts) {
            a.merge(b)?;
        }
        Ok(())
    }
}

/// Number of evidence-curve bins of a pass over `records_total` records.
pub(crate) fn curve_bin_count(curve_bins: usize, records_total: u64) -> usize {
    curve_bins.max(1).min(records_total.max(1) as usize)
}

/// Curve bin of a record ordinal: ⌊ord · bins / records⌋ (u128 only if u64 would overflow).
#[inline]
pub(crate) fn bin_of(ord: u64, bins: usize, records_total: u64) -> usize {
    let bins = bins.max(1);
    let records = records_total.max(1);
    let b = match ord.checked_mul(bins as u64) {
        Some(x) => x / records,
        None => (u128::from(ord) * bins as u128 / u128::from(records)) as u64,
    };
    (b as usize).min(bins - 1)
}

/// Merges every worker's distinct pairs, partition by partition (in parallel), into the pooled
/// statistic, the evidence curve and the account tests. Exact and order-independent: the
/// accumulators are integer (binomial) or fixed point (Gumbel).
fn merge(
    keys: &Keys,
    tables: Vec<(SortedRun, Vec<PathBuf>)>,
    stride: usize,
    records_total: u64,
    curve_bins: usize,
    threads: usize,
) -> Result<Merged> {
    let mut sources = PairSources {
        stride,
        ..Default::default()
    };
    for (mem, files) in tables {
        sources.memory.push(mem);
        sources.files.extend(files);
    }
    let spilled_runs = sources.files.len();
    let scheme = keys.master.scheme();
    let empty = Accumulator::for_scheme(&scheme)?;
    let bins = curve_bin_count(curve_bins, records_total);
    let h = keys.master.context_width();
    let next = AtomicU64::new(0);
    // Each thread folds the partitions it takes into one part of its own (the accumulators are
    // exact, so which thread took which partition does not change the sum).
    let parts = std::thread::scope(|scope| -> Result<Vec<PartResult>> {
        let mut handles = Vec::new();
        for _ in 0..threads.max(1) {
            handles.push(scope.spawn(|| -> Result<PartResult> {
                let mut part = PartResult::new(&empty, bins, keys.accounts.len());
                loop {
                    let p = next.fetch_add(1, Ordering::Relaxed) as usize;
                    if p >= PARTITIONS {
                        return Ok(part);
                    }
                    sources.merge_partition(p, &mut |e, ids| {
                        part.add(&keys.accounts, h, e.ord, records_total, e.score, ids);
                    })?;
                }
            }));
        }
        let mut parts = Vec::with_capacity(handles.len());
        for h in handles {
            parts.push(
                h.join()
                    .map_err(|_| ScanError::Internal("merge thread panicked".into()))??,
            );
        }
        Ok(parts)
    })?;
    let names: Vec<String> = keys.accounts.iter().map(|(n, _)| n.clone()).collect();
    let mut total = PartResult::new(&empty, bins, names.len());
    for part in &parts {
        total.merge(part)?;
    }
    let mut merged = combine(&empty, total, &names, records_total)?;
    merged.spilled_runs = spilled_runs;
    Ok(merged)
}

/// The cumulative evidence curve from per-bin accumulators, in input order: bin `b` of
/// `bin_accs` joins master-curve bins `stride·b ..= stride·b + stride − 1` of the pass's
/// `bins` (equal ranges of record ordinals).
fn cumulative_curve(
    empty: &Accumulator,
    bin_accs: &[Accumulator],
    records_total: u64,
    bins: usize,
    stride: usize,
) -> Result<Vec<CurvePoint>> {
    let bins = bins.max(1);
    let r = records_total.max(1) as u128;
    let mut curve = Vec::with_capacity(bin_accs.len());
    let mut running = empty.clone();
    for (b, acc) in bin_accs.iter().enumerate() {
        running.merge(acc)?;
        let last = (b * stride + stride - 1).min(bins - 1);
        let end = ((last as u128 + 1) * r).div_ceil(bins as u128) as u64;
        curve.push(CurvePoint {
            records: end.min(records_total),
            scored_tokens: running.scored(),
            log10_p: finite(running.statistic().tail().log10_p),
        });
    }
    Ok(curve)
}

/// The pooled statistic, the cumulative evidence curve and the ranked account tests of a pass
/// from the sum of its parts.
pub(crate) fn combine(
    empty: &Accumulator,
    total: PartResult,
    account_names: &[String],
    records_total: u64,
) -> Result<Merged> {
    let PartResult {
        master,
        bins: bin_accs,
        accounts: account_accs,
        account_bins,
    } = total;
    let bins = bin_accs.len();
    let curve = cumulative_curve(empty, &bin_accs, records_total, bins, 1)?;
    // Accounts, adjusted and ranked.
    let n = account_names.len() as u64;
    let mut accounts = Vec::with_capacity(account_names.len());
    let mut account_curves = Vec::with_capacity(account_names.len());
    for (name, accs) in account_names
        .iter()
        .zip(account_accs.chunks_exact(account_bins.max(1)))
    {
        let mut acc = empty.clone();
        for a in accs {
            acc.merge(a)?;
        }
        let statistic = acc.statistic();
        let tail = statistic.tail();
        let adj = bonferroni(tail, n);
        accounts.push(AccountResult {
            rank: 0,
            account: name.clone(),
            log10_p: finite(tail.log10_p),
            adjusted_log10_p: finite(adj.log10_p),
            adjusted_p_value: adj.p_value(),
            statistic,
            curve: Vec::new(),
        });
        account_curves.push((name.clone(), accs));
    }
    accounts.sort_by(|a, b| {
        a.log10_p
            .total_cmp(&b.log10_p)
            .then_with(|| a.account.cmp(&b.account))
    });
    for (i, a) in accounts.iter_mut().enumerate() {
        a.rank = i + 1;
    }
    // When an account's key, not the master key, carries the evidence, that account's curve.
    let master_log10_p = finite(master.statistic().tail().log10_p);
    if let Some(best) = accounts.first_mut().filter(|b| b.log10_p < master_log10_p) {
        let accs = account_curves
            .iter()
            .find(|(name, _)| *name == best.account)
            .map(|(_, accs)| *accs)
            .ok_or_else(|| ScanError::Internal("ranked account not among the parts".into()))?;
        best.curve = cumulative_curve(empty, accs, records_total, bins, account_bin_stride(bins))?;
    }
    Ok(Merged {
        master,
        curve,
        accounts,
        spilled_runs: 0,
    })
}

/// Builds the supervised-mode filter: the context fingerprint of every full context in the
/// provider's own outputs.
///
/// A JSON line of a served log (`provmark serve --served-log`, [`SERVED_LOG_FORMAT`]) gives its
/// context fingerprints directly (no text is needed); its `key_id` and `context_width` must be
/// the profile's, since fingerprints are keyed by the profile's secret.
pub(crate) fn build_filter(
    tokenizer: &Tokenizer,
    fingerprinter: &PairFingerprinter,
    key_id: &str,
    h: usize,
    files: &[InputFile],
    fields: &Fields,
) -> Result<(FingerprintSet, u64, Vec<InputSummary>)> {
    struct FilterSink<'a> {
        tokenizer: &'a Tokenizer,
        fingerprinter: &'a PairFingerprinter,
        h: usize,
        fields: &'a Fields,
        set: FingerprintSet,
        ids: Vec<u32>,
        buf: Vec<u8>,
        records: u64,
        key_id: &'a str,
        /// The first served-log line that cannot be used (ends the read).
        error: Option<String>,
    }
    impl RecordSink for FilterSink<'_> {
        fn push(
            &mut self,
            _: u32,
            _: u64,
            kind: RawKind,
            fill: &mut dyn FnMut(&mut Vec<u8>) -> RawRanges,
        ) -> bool {
            self.buf.clear();
            let r = fill(&mut self.buf);
            let bytes = &self.buf[r.text];
            if kind == RawKind::JsonLine {
                match served_log_line(bytes, self.key_id, self.h) {
                    ServedLine::NotServed => {}
                    ServedLine::Fingerprints(fps) => {
                        self.records += 1;
                        for fp in fps {
                            self.set.insert(fp);
                        }
                        return true;
                    }
                    ServedLine::Torn => return true,
                    ServedLine::Mismatch(reason) => {
                        self.error = Some(reason);
                        return false;
                    }
                }
            }
            let text = extract(&kind, bytes, None, self.fields)
                .ok()
                .map(|x| x.text);
            if let Some(t) = text {
                self.records += 1;
                self.ids.clear();
                self.tokenizer.encode_into(&t, &mut self.ids);
                if self.h > 0 {
                    for w in self.ids.windows(self.h) {
                        self.set.insert(self.fingerprinter.context(w));
                    }
                }
            }
            true
        }
    }
    let mut sink = FilterSink {
        tokenizer,
        fingerprinter,
        h,
        fields,
        set: FingerprintSet::new(),
        ids: Vec::new(),
        buf: Vec::new(),
        records: 0,
        key_id,
        error: None,
    };
    let mut inputs = Vec::with_capacity(files.len());
    for (i, f) in files.iter().enumerate() {
        let before = sink.records;
        let d = input::read_file(i as u32, f, fields, &mut sink, None)?;
        if let Some(reason) = sink.error.take() {
            return Err(ScanError::Input {
                path: f.path.clone(),
                reason,
            });
        }
        inputs.push(InputSummary {
            path: f.path.display().to_string(),
            sha256: d.sha256,
            records: sink.records - before,
            bytes: d.bytes,
            format: f.format,
            compression: f.compression,
        });
    }
    Ok((sink.set, sink.records, inputs))
}

/// The `format` of a served-log line (written by `provmark serve`): one JSON object per answer
/// with `key_id`, `context_width` and `context_fingerprints` — the keyed context fingerprints
/// ([`PairFingerprinter::context`], 16 hex digits each) of every (context, token) pair served.
pub const SERVED_LOG_FORMAT: &str = "provmark-served/v1";

enum ServedLine {
    /// Not a served-log line: read it as text.
    NotServed,
    /// The contexts served.
    Fingerprints(Vec<u64>),
    /// A served-log line cut short (a crash mid-write): skipped.
    Torn,
    /// A served log of another key or context width: its fingerprints mean nothing here.
    Mismatch(String),
}

fn served_log_line(bytes: &[u8], key_id: &str, h: usize) -> ServedLine {
    #[derive(serde::Deserialize)]
    struct Line {
        format: String,
        key_id: String,
        context_width: usize,
        context_fingerprints: Vec<String>,
    }
    let marker = SERVED_LOG_FORMAT.as_bytes();
    if !bytes.windows(marker.len()).any(|w| w == marker) {
        return ServedLine::NotServed;
    }
    let Ok(line) = serde_json::from_slice::<Line>(bytes) else {
        return ServedLine::Torn;
    };
    if line.format != SERVED_LOG_FORMAT {
        return ServedLine::NotServed;
    }
    if line.key_id != key_id {
        return ServedLine::Mismatch(format!(
            "a served log of key {}, but the profile's key is {key_id}",
            line.key_id
        ));
    }
    if line.context_width != h {
        return ServedLine::Mismatch(format!(
            "a served log of context width {}, but the profile's is {h}",
            line.context_width
        ));
    }
    let mut fps = Vec::with_capacity(line.context_fingerprints.len());
    for f in &line.context_fingerprints {
        match u64::from_str_radix(f, 16) {
            Ok(v) if f.len() == 16 => fps.push(v),
            _ => return ServedLine::Mismatch(format!("bad context fingerprint {f:?}")),
        }
    }
    ServedLine::Fingerprints(fps)
}

/// The keyed schemes of a profile and its accounts.
pub(crate) fn account_watermarks(
    profile: &Profile,
    accounts: &[String],
) -> Result<Vec<(String, Watermark<AnyPrf>)>, ScanError> {
    if !accounts.is_empty() && !profile.supports_accounts() {
        return Err(ScanError::Config {
            name: "accounts",
            reason: "this profile (an imported key) has no per-account keys".into(),
        });
    }
    accounts
        .iter()
        .map(|a| {
            profile
                .try_watermark(Some(a))
                .map(|w| (a.clone(), w))
                .map_err(|e| ScanError::Config {
                    name: "accounts",
                    reason: e.to_string(),
                })
        })
        .collect()
}

#[cfg(test)]
mod served_log_tests {
    use super::*;

    fn line(key: &str, h: usize, fps: &[&str]) -> Vec<u8> {
        serde_json::json!({
            "format": SERVED_LOG_FORMAT, "time": "2026-01-01T00:00:00Z", "account": "a",
            "key_id": key, "context_width": h, "context_fingerprints": fps,
        })
        .to_string()
        .into_bytes()
    }

    #[test]
    fn served_log_lines_give_their_fingerprints_and_refuse_another_key() {
        let ok = line("k1", 2, &["00000000000000ff", "8000000000000001"]);
        match served_log_line(&ok, "k1", 2) {
            ServedLine::Fingerprints(f) => assert_eq!(f, vec![0xff, 0x8000_0000_0000_0001]),
            _ => panic!("expected fingerprints"),
        }
        assert!(
            matches!(served_log_line(&ok, "k2", 2), ServedLine::Mismatch(r) if r.contains("k1"))
        );
        assert!(matches!(
            served_log_line(&ok, "k1", 3),
            ServedLine::Mismatch(_)
        ));
        let bad = line("k1", 2, &["ff"]);
        assert!(matches!(
            served_log_line(&bad, "k1", 2),
            ServedLine::Mismatch(_)
        ));
        // A line cut short by a crash is skipped; ordinary records are text.
        assert!(matches!(
            served_log_line(&ok[..ok.len() - 5], "k1", 2),
            ServedLine::Torn
        ));
        assert!(matches!(
            served_log_line(br#"{"text": "hello"}"#, "k1", 2),
            ServedLine::NotServed
        ));
    }
}
