//! Every table of `docs/EVALUATION.md`, computed from seeds (`provmark eval tables`).
//!
//! * (a) power, (b) robustness and (c) calibration run on the project's simulated LM
//!   (`provmark-sim`, chat entropy profile) watermarked through the serving library
//!   (`provmark-embed`) and scored by the detection library (`provmark-detect`), except the
//!   incremental "tokens to p ≤ 1e-6" search of (a), which re-scores prefixes with the same
//!   rules (checked against `provmark-detect` in the tests).
//! * (d) distillation and (e) attribution run the threat of [`crate::distill`] on the learnable
//!   Markov language of [`crate::lang`].

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use provmark_core::prf::AnyPrf;
use provmark_core::{Profile, Scheme, Watermark};
use provmark_detect::tail::binomial_upper;
use provmark_detect::{score_ids, Options};
use provmark_embed::Embedder;
use provmark_sim::{Generator, SimConfig, SimLm};
use provmark_tokenize::Tokenizer;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha12Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::distill::{
    clean_responses, eval_profile, scan, student_outputs, Corpora, DistillConfig, World,
};
use crate::error::{EvalError, Result};
use crate::lang::pack;
use crate::pooled::{context_set, rank_accounts, select_pairs, Running};

/// Significance level of the power and robustness tables.
pub const ALPHA: f64 = 1e-6;

/// Size of a table run.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Budget {
    /// Runs per power cell.
    pub power_runs: usize,
    /// Longest text tried in the power search.
    pub power_max_tokens: usize,
    /// Runs per robustness cell.
    pub robust_runs: usize,
    /// Clean samples per calibration source and scheme.
    pub calib_samples: usize,
    /// Tokens per simulated calibration sample.
    pub calib_tokens: usize,
    /// Student training tokens.
    pub train_tokens: usize,
    /// Largest number of student tokens scanned.
    pub student_tokens: usize,
    /// Runs per attribution cell.
    pub attr_runs: usize,
    /// Largest account list.
    pub attr_max_accounts: usize,
    /// Student tokens scanned in the attribution runs.
    pub attr_student_tokens: usize,
}

impl Budget {
    /// The full tables (about 20–30 minutes on 2 cores, release build).
    pub fn full() -> Budget {
        Budget {
            power_runs: 200,
            power_max_tokens: 1000,
            robust_runs: 500,
            calib_samples: 1_000_000,
            calib_tokens: 100,
            train_tokens: 1_000_000,
            student_tokens: 300_000,
            attr_runs: 100,
            attr_max_accounts: 10_000,
            attr_student_tokens: 20_000,
        }
    }

    /// A quick run (a minute or two): same tables, far fewer runs — for smoke tests only.
    pub fn quick() -> Budget {
        Budget {
            power_runs: 20,
            power_max_tokens: 600,
            robust_runs: 40,
            calib_samples: 20_000,
            calib_tokens: 100,
            train_tokens: 400_000,
            student_tokens: 100_000,
            attr_runs: 6,
            attr_max_accounts: 1_000,
            attr_student_tokens: 20_000,
        }
    }

    /// A tiny run for unit tests (seconds).
    pub fn tiny() -> Budget {
        Budget {
            power_runs: 4,
            power_max_tokens: 300,
            robust_runs: 4,
            calib_samples: 500,
            calib_tokens: 50,
            train_tokens: 40_000,
            student_tokens: 10_000,
            attr_runs: 2,
            attr_max_accounts: 100,
            attr_student_tokens: 5_000,
        }
    }
}

fn scheme_label(s: &Scheme) -> String {
    match *s {
        Scheme::Green { gamma, delta } => format!("green γ={gamma} δ={delta}"),
        _ => "gumbel".to_string(),
    }
}

/// The entropy profile of the simulated LM used by tables (a)–(c).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LmProfile {
    /// `provmark-sim`'s default chat profile (mean 0.34 nats at T = 1; see its docs).
    Chat,
    /// A higher-entropy, open-ended profile (our assumption, base-model-like: quantiles
    /// 0 → 0.02, 0.2 → 0.5, 0.5 → 1.6, 0.8 → 2.6, 1 → 3.5 nats).
    Open,
}

impl LmProfile {
    /// Short label.
    pub fn label(&self) -> &'static str {
        match self {
            LmProfile::Chat => "chat",
            LmProfile::Open => "open",
        }
    }
}

fn sim_lm(tok: &Tokenizer, temperature: f64, profile: LmProfile) -> Result<SimLm> {
    let mut c = SimConfig::new(42);
    c.temperature = temperature;
    if profile == LmProfile::Open {
        c.entropy = provmark_sim::EntropyProfile::from_quantiles(&[
            (0.0, 0.02),
            (0.2, 0.5),
            (0.5, 1.6),
            (0.8, 2.6),
            (1.0, 3.5),
        ])
        .map_err(|e| EvalError::Setup(format!("entropy profile: {e}")))?;
    }
    SimLm::new(c, tok).map_err(|e| EvalError::Setup(format!("simulated LM: {e}")))
}

/// Mean per-step entropy (nats) of the simulated LM along clean generations (20 × 500 tokens).
pub fn sim_mean_entropy(tok: &Tokenizer, temperature: f64, profile: LmProfile) -> Result<f64> {
    let lm = sim_lm(tok, temperature, profile)?;
    let mut g = Generator::new(&lm, None).map_err(|e| EvalError::Setup(e.to_string()))?;
    let (mut sum, mut n) = (0.0, 0usize);
    let mut out = Vec::new();
    for i in 0..20u64 {
        let mut rng = ChaCha12Rng::seed_from_u64(9_000 + i);
        g.generate_observed(&[], 500, &mut rng, &mut out, |c, _| {
            sum += c.entropy();
            n += 1;
        })
        .map_err(|e| EvalError::Setup(e.to_string()))?;
    }
    Ok(sum / n.max(1) as f64)
}

fn embedder(profile: &Profile, account: Option<&str>, vocab: usize) -> Result<Embedder> {
    Embedder::from_profile(profile, account, vocab)
        .map_err(|e| EvalError::Setup(format!("embedder: {e}")))
}

fn sim_generate(
    lm: &SimLm,
    emb: Option<&Embedder>,
    n: usize,
    rng: &mut ChaCha12Rng,
    out: &mut Vec<u32>,
) -> Result<()> {
    Generator::new(lm, emb)
        .and_then(|mut g| g.generate_into(&[], n, rng, out))
        .map_err(|e| EvalError::Setup(format!("simulated LM generation: {e}")))
}

/// The number of tokens of `ids` after which the exact p-value first reaches `log10_alpha`
/// (each unique (context, token) pair scored once, positions without a full context skipped).
pub fn tokens_to_alpha(
    wm: &Watermark<AnyPrf>,
    ids: &[u32],
    log10_alpha: f64,
    seen: &mut HashSet<u128>,
) -> Option<usize> {
    seen.clear();
    let h = wm.context_width();
    let green = matches!(wm.scheme(), Scheme::Green { .. });
    let mut r = Running::new(wm.scheme());
    for i in h..ids.len() {
        if !seen.insert(pack(&ids[i - h..=i])) {
            continue;
        }
        let st = wm.absorb(&ids[i - h..i]);
        let s = wm.score(&st, ids[i]);
        r.add(s);
        if (!green || s > 0.5) && r.tail().log10_p <= log10_alpha {
            return Some(i + 1);
        }
    }
    None
}

fn median_opt(mut v: Vec<Option<usize>>) -> Option<usize> {
    // None (never reached) sorts last.
    v.sort_by_key(|x| x.unwrap_or(usize::MAX));
    v.get(v.len() / 2).copied().flatten()
}

/// One row of the power table.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PowerRow {
    /// Simulated LM entropy profile.
    pub lm: LmProfile,
    /// Scheme label.
    pub scheme: String,
    /// Context width.
    pub h: usize,
    /// Sampling temperature.
    pub temperature: f64,
    /// Edit applied before the search (`none` or `substitute 20%`).
    pub attack: String,
    /// Median tokens to p ≤ 1e-6 (`None`: not reached within `max_tokens` in half the runs).
    pub median_tokens: Option<usize>,
    /// 90th percentile.
    pub p90_tokens: Option<usize>,
    /// Share of runs that reached p ≤ 1e-6 within `max_tokens`.
    pub reached: f64,
    /// Runs.
    pub runs: usize,
    /// Longest text tried.
    pub max_tokens: usize,
}

/// (a) Power: median tokens to p ≤ 1e-6 per scheme, (γ, δ), h and temperature.
pub fn power_table(tok: &Tokenizer, b: &Budget) -> Result<Vec<PowerRow>> {
    let schemes = [
        Scheme::Green {
            gamma: 0.25,
            delta: 2.0,
        },
        Scheme::Green {
            gamma: 0.25,
            delta: 1.0,
        },
        Scheme::Green {
            gamma: 0.25,
            delta: 4.0,
        },
        Scheme::Green {
            gamma: 0.5,
            delta: 2.0,
        },
        Scheme::Gumbel,
    ];
    let mut rows = Vec::new();
    let mut cells: Vec<(LmProfile, f64, Scheme, usize, Attack)> = Vec::new();
    for lmp in [LmProfile::Chat, LmProfile::Open] {
        for &temperature in &[1.0, 0.7] {
            for scheme in schemes {
                for h in [1usize, 2, 4] {
                    cells.push((lmp, temperature, scheme, h, Attack::None));
                }
            }
        }
        cells.push((lmp, 1.0, Scheme::DEFAULT_GREEN, 2, Attack::Substitute(0.2)));
        cells.push((lmp, 1.0, Scheme::Gumbel, 2, Attack::Substitute(0.2)));
    }
    let lms = [
        sim_lm(tok, 1.0, LmProfile::Chat)?,
        sim_lm(tok, 0.7, LmProfile::Chat)?,
        sim_lm(tok, 1.0, LmProfile::Open)?,
        sim_lm(tok, 0.7, LmProfile::Open)?,
    ];
    for (lmp, temperature, scheme, h, attack) in cells {
        let lm = &lms[usize::from(temperature != 1.0) + 2 * usize::from(lmp == LmProfile::Open)];
        let found: Vec<Option<usize>> = (0..b.power_runs)
            .into_par_iter()
            .map(|run| -> Result<Option<usize>> {
                let seed = 1_000_000 + run as u64;
                let profile = eval_profile(seed, scheme, h)?;
                let emb = embedder(&profile, None, tok.vocab_size())?;
                let mut rng = ChaCha12Rng::seed_from_u64(seed);
                let mut ids = Vec::new();
                sim_generate(lm, Some(&emb), b.power_max_tokens, &mut rng, &mut ids)?;
                if attack != Attack::None {
                    let mut clean = Vec::new();
                    sim_generate(lm, None, 2000, &mut rng, &mut clean)?;
                    ids = attack.apply(&ids, &clean, &mut rng);
                }
                let wm = profile.watermark(None);
                Ok(tokens_to_alpha(
                    &wm,
                    &ids,
                    ALPHA.log10(),
                    &mut HashSet::new(),
                ))
            })
            .collect::<Result<_>>()?;
        let reached =
            found.iter().filter(|x| x.is_some()).count() as f64 / found.len().max(1) as f64;
        let mut sorted = found.clone();
        sorted.sort_by_key(|x| x.unwrap_or(usize::MAX));
        let p90 = sorted.get((sorted.len() * 9) / 10).copied().flatten();
        rows.push(PowerRow {
            lm: lmp,
            scheme: scheme_label(&scheme),
            h,
            temperature,
            attack: attack.label(),
            median_tokens: median_opt(found),
            p90_tokens: p90,
            reached,
            runs: b.power_runs,
            max_tokens: b.power_max_tokens,
        });
    }
    Ok(rows)
}

/// An edit applied to a watermarked text.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case", tag = "kind", content = "share")]
pub enum Attack {
    /// No edit.
    None,
    /// Replace this share of the tokens (distinct random positions) by clean-text tokens.
    Substitute(f64),
    /// Insert this share (of 200) of clean-text tokens at random positions.
    Insert(f64),
    /// Delete this share of the tokens at random positions.
    Delete(f64),
    /// Keep 200 tokens of which this share is a clean passage spliced into the watermarked text.
    MixClean(f64),
    /// All 200 watermarked tokens, spliced into clean text so that they are this share of it.
    Embed(f64),
}

impl Attack {
    /// Human label.
    pub fn label(&self) -> String {
        match *self {
            Attack::None => "none".into(),
            Attack::Substitute(s) => format!("substitute {:.0}%", s * 100.0),
            Attack::Insert(s) => format!("insert {:.0}%", s * 100.0),
            Attack::Delete(s) => format!("delete {:.0}%", s * 100.0),
            Attack::MixClean(s) => format!("mix: {:.0}% clean of 200", s * 100.0),
            Attack::Embed(s) => format!("embed: 200 marked = {:.0}% of text", s * 100.0),
        }
    }

    /// Applies the edit; `clean` supplies replacement tokens and passages (≥ 2000 tokens).
    pub fn apply<R: Rng>(&self, wm: &[u32], clean: &[u32], rng: &mut R) -> Vec<u32> {
        let n = wm.len();
        let count = |s: f64| (s * n as f64).round() as usize;
        let mut out = wm.to_vec();
        match *self {
            Attack::None => {}
            Attack::Substitute(s) => {
                let mut idx: Vec<usize> = (0..n).collect();
                for i in 0..count(s).min(n) {
                    let j = rng.random_range(i..n);
                    idx.swap(i, j);
                    out[idx[i]] = clean[rng.random_range(0..clean.len())];
                }
            }
            Attack::Insert(s) => {
                for _ in 0..count(s) {
                    let at = rng.random_range(0..=out.len());
                    out.insert(at, clean[rng.random_range(0..clean.len())]);
                }
            }
            Attack::Delete(s) => {
                for _ in 0..count(s).min(n) {
                    let at = rng.random_range(0..out.len());
                    out.remove(at);
                }
            }
            Attack::MixClean(s) => {
                let c = count(s);
                let keep = n - c;
                let start = rng.random_range(0..clean.len() - c);
                let at = rng.random_range(0..=keep);
                out.truncate(keep);
                let tail = out.split_off(at);
                out.extend_from_slice(&clean[start..start + c]);
                out.extend(tail);
            }
            Attack::Embed(s) => {
                let total = (n as f64 / s).round() as usize;
                let c = total - n;
                let start = rng.random_range(0..clean.len() - c);
                let at = rng.random_range(0..=c);
                let passage = &clean[start..start + c];
                out = passage[..at].to_vec();
                out.extend_from_slice(wm);
                out.extend_from_slice(&passage[at..]);
            }
        }
        out
    }
}

/// One row of the robustness table.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RobustRow {
    /// Simulated LM entropy profile.
    pub lm: LmProfile,
    /// Scheme label.
    pub scheme: String,
    /// Context width.
    pub h: usize,
    /// The edit.
    pub attack: Attack,
    /// Human label of the edit.
    pub label: String,
    /// Share of runs detected at p ≤ 1e-6.
    pub detected: f64,
    /// Median log10 p.
    pub median_log10_p: f64,
    /// Median tokens of the edited text.
    pub median_tokens: usize,
    /// Runs.
    pub runs: usize,
}

/// The attacks of table (b).
pub fn attacks() -> Vec<Attack> {
    let mut v = vec![Attack::None];
    for s in [0.1, 0.2, 0.3] {
        v.push(Attack::Substitute(s));
    }
    for s in [0.1, 0.2, 0.3] {
        v.push(Attack::Insert(s));
    }
    for s in [0.1, 0.2, 0.3] {
        v.push(Attack::Delete(s));
    }
    for s in [0.1, 0.25, 0.5] {
        v.push(Attack::MixClean(s));
    }
    for s in [0.5, 0.25, 0.1] {
        v.push(Attack::Embed(s));
    }
    v
}

/// (b) Robustness at 200 tokens (default profiles, T = 1).
pub fn robustness_table(tok: &Tokenizer, b: &Budget) -> Result<Vec<RobustRow>> {
    let mut rows = Vec::new();
    for (lmp, scheme, h) in [
        (LmProfile::Chat, Scheme::DEFAULT_GREEN, 2usize),
        (LmProfile::Chat, Scheme::Gumbel, 2),
        (LmProfile::Open, Scheme::DEFAULT_GREEN, 2),
        (LmProfile::Open, Scheme::Gumbel, 2),
    ] {
        let lm = sim_lm(tok, 1.0, lmp)?;
        let lm = &lm;
        // Per run: one key, one 200-token watermarked text, one clean text (same LM, no key).
        let runs: Vec<(Profile, Vec<u32>, Vec<u32>)> = (0..b.robust_runs)
            .into_par_iter()
            .map(|run| -> Result<_> {
                let seed = 2_000_000 + run as u64;
                let profile = eval_profile(seed, scheme, h)?;
                let emb = embedder(&profile, None, tok.vocab_size())?;
                let mut rng = ChaCha12Rng::seed_from_u64(seed);
                let mut wm = Vec::new();
                sim_generate(lm, Some(&emb), 200, &mut rng, &mut wm)?;
                let mut clean = Vec::new();
                sim_generate(lm, None, 2000, &mut rng, &mut clean)?;
                Ok((profile, wm, clean))
            })
            .collect::<Result<_>>()?;
        for attack in attacks() {
            let res: Vec<(f64, usize)> = runs
                .par_iter()
                .enumerate()
                .map(|(i, (profile, wm, clean))| -> Result<(f64, usize)> {
                    let mut rng = ChaCha12Rng::seed_from_u64(3_000_000 + i as u64);
                    let text = attack.apply(wm, clean, &mut rng);
                    let ev = score_ids(
                        &profile.watermark(None),
                        &text,
                        &Options::for_profile(profile),
                    )
                    .map_err(|e| EvalError::Setup(format!("detect: {e}")))?;
                    Ok((ev.log10_p, text.len()))
                })
                .collect::<Result<_>>()?;
            let detected = res.iter().filter(|r| r.0 <= ALPHA.log10()).count() as f64
                / res.len().max(1) as f64;
            let mut lp: Vec<f64> = res.iter().map(|r| r.0).collect();
            lp.sort_by(f64::total_cmp);
            let mut lens: Vec<usize> = res.iter().map(|r| r.1).collect();
            lens.sort_unstable();
            rows.push(RobustRow {
                lm: lmp,
                scheme: scheme_label(&scheme),
                h,
                attack,
                label: attack.label(),
                detected,
                median_log10_p: lp.get(lp.len() / 2).copied().unwrap_or(0.0),
                median_tokens: lens.get(lens.len() / 2).copied().unwrap_or(0),
                runs: b.robust_runs,
            });
        }
    }
    Ok(rows)
}

/// One row of the calibration table.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CalibRow {
    /// Text source.
    pub source: String,
    /// Scheme label.
    pub scheme: String,
    /// Samples (text × key).
    pub samples: u64,
    /// Distinct keys used.
    pub keys: u64,
    /// Median scored tokens per sample.
    pub median_scored: u64,
    /// Per α: (α, false positives, FPR, 99.9% binomial bound on the count (lo, hi), within bound or below).
    pub levels: Vec<CalibLevel>,
}

/// One α of a calibration row.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CalibLevel {
    /// Significance level.
    pub alpha: f64,
    /// Samples with p ≤ α.
    pub false_positives: u64,
    /// Empirical false-positive rate.
    pub fpr: f64,
    /// Lower end of the central 99.9% Binomial(samples, α) interval of the count.
    pub bound_lo: u64,
    /// Upper end.
    pub bound_hi: u64,
    /// The count is not above the upper end (valid; below is conservative).
    pub valid: bool,
}

/// Central `1 − 2·tail` interval of Binomial(n, p), exact (via the upper tails).
pub fn binomial_interval(n: u64, p: f64, tail: f64) -> (u64, u64) {
    let mean = (n as f64 * p).round() as u64;
    let lt = tail.log10();
    let mut hi = mean;
    while hi < n && binomial_upper(hi + 1, n, p).log10_p > lt {
        hi += 1;
    }
    // P(X ≤ lo − 1) = 1 − P(X ≥ lo) ≤ tail: the lowest lo with that.
    let mut lo = mean;
    while lo > 0 && 1.0 - binomial_upper(lo, n, p).p_value() > tail {
        lo -= 1;
    }
    (lo, hi)
}

const CALIB_ALPHAS: [f64; 3] = [1e-2, 1e-3, 1e-4];

fn calib_row(
    source: &str,
    scheme: &Scheme,
    samples: u64,
    keys: u64,
    mut pvals: Vec<f64>,
    mut scored: Vec<u64>,
) -> CalibRow {
    pvals.sort_by(f64::total_cmp);
    scored.sort_unstable();
    let levels = CALIB_ALPHAS
        .iter()
        .map(|&alpha| {
            let fp = pvals.partition_point(|&p| p <= alpha) as u64;
            let (lo, hi) = binomial_interval(samples, alpha, 0.0005);
            CalibLevel {
                alpha,
                false_positives: fp,
                fpr: fp as f64 / samples.max(1) as f64,
                bound_lo: lo,
                bound_hi: hi,
                valid: fp <= hi,
            }
        })
        .collect();
    CalibRow {
        source: source.to_string(),
        scheme: scheme_label(scheme),
        samples,
        keys,
        median_scored: scored.get(scored.len() / 2).copied().unwrap_or(0),
        levels,
    }
}

/// Where the shared reference folder is: `$PROVMARK_SHARED`, else `../shared` next to the
/// checkout (found from the crate's source directory), else `None`.
pub fn shared_dir() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("PROVMARK_SHARED") {
        let p = PathBuf::from(p);
        return p.is_dir().then_some(p);
    }
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared");
    p.is_dir().then_some(p)
}

/// Real text from `shared/corpora/*.jsonl` (every string field of every record except ids),
/// tokenized and cut into chunks of at most 200 tokens (at least 20). Empty when absent.
pub fn corpus_chunks(tok: &Tokenizer) -> Vec<Vec<u32>> {
    let Some(dir) = shared_dir().map(|d| d.join("corpora")) else {
        return Vec::new();
    };
    let Ok(rd) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    files.sort();
    let mut chunks = Vec::new();
    for f in files {
        let Ok(text) = std::fs::read_to_string(&f) else {
            continue;
        };
        for line in text.lines() {
            let Ok(serde_json::Value::Object(m)) = serde_json::from_str::<serde_json::Value>(line)
            else {
                continue;
            };
            for (k, v) in m {
                let Some(s) = v.as_str() else { continue };
                if k.contains("id") {
                    continue;
                }
                let ids = tok.encode(s);
                for c in ids.chunks(200) {
                    if c.len() >= 20 {
                        chunks.push(c.to_vec());
                    }
                }
            }
        }
    }
    chunks
}

/// (c) Calibration: empirical FPR over clean samples, simulated LM and real text (when present).
pub fn calibration_table(tok: &Tokenizer, b: &Budget) -> Result<Vec<CalibRow>> {
    let lm = sim_lm(tok, 1.0, LmProfile::Chat)?;
    let schemes = [Scheme::DEFAULT_GREEN, Scheme::Gumbel];
    let per_key = 1000usize;
    let blocks = b.calib_samples.div_ceil(per_key);
    // Simulated clean text, one fresh key per block of 1000 samples, both schemes on the same text.
    let sim: Vec<[(Vec<f64>, Vec<u64>); 2]> = (0..blocks)
        .into_par_iter()
        .map(|blk| -> Result<_> {
            let seed = 4_000_000 + blk as u64;
            let profiles = [
                eval_profile(seed, schemes[0], 2)?,
                eval_profile(seed, schemes[1], 2)?,
            ];
            let wms = [profiles[0].watermark(None), profiles[1].watermark(None)];
            let opts = [
                Options::for_profile(&profiles[0]),
                Options::for_profile(&profiles[1]),
            ];
            let mut rng = ChaCha12Rng::seed_from_u64(seed);
            let mut gen = Generator::new(&lm, None).map_err(|e| EvalError::Setup(e.to_string()))?;
            let mut ids = Vec::new();
            let mut out: [(Vec<f64>, Vec<u64>); 2] = Default::default();
            for _ in 0..per_key.min(b.calib_samples - blk * per_key) {
                gen.generate_into(&[], b.calib_tokens, &mut rng, &mut ids)
                    .map_err(|e| EvalError::Setup(e.to_string()))?;
                for s in 0..2 {
                    let ev = score_ids(&wms[s], &ids, &opts[s])
                        .map_err(|e| EvalError::Setup(e.to_string()))?;
                    out[s].0.push(ev.p_value());
                    out[s].1.push(ev.scored_tokens);
                }
            }
            Ok(out)
        })
        .collect::<Result<_>>()?;
    let mut rows = Vec::new();
    for (s, scheme) in schemes.iter().enumerate() {
        let p: Vec<f64> = sim.iter().flat_map(|o| o[s].0.iter().copied()).collect();
        let n: Vec<u64> = sim.iter().flat_map(|o| o[s].1.iter().copied()).collect();
        rows.push(calib_row(
            &format!(
                "simulated LM, chat profile (clean, {} tokens)",
                b.calib_tokens
            ),
            scheme,
            p.len() as u64,
            blocks as u64,
            p,
            n,
        ));
    }
    // Real text: every chunk under enough keys to reach the sample count.
    let chunks = corpus_chunks(tok);
    if !chunks.is_empty() {
        let keys = b.calib_samples.div_ceil(chunks.len());
        let real: Vec<[(Vec<f64>, Vec<u64>); 2]> = (0..keys)
            .into_par_iter()
            .map(|k| -> Result<_> {
                let seed = 5_000_000 + k as u64;
                let profiles = [
                    eval_profile(seed, schemes[0], 2)?,
                    eval_profile(seed, schemes[1], 2)?,
                ];
                let mut out: [(Vec<f64>, Vec<u64>); 2] = Default::default();
                for s in 0..2 {
                    let wm = profiles[s].watermark(None);
                    let opts = Options::for_profile(&profiles[s]);
                    for c in &chunks {
                        let ev = score_ids(&wm, c, &opts)
                            .map_err(|e| EvalError::Setup(e.to_string()))?;
                        out[s].0.push(ev.p_value());
                        out[s].1.push(ev.scored_tokens);
                    }
                }
                Ok(out)
            })
            .collect::<Result<_>>()?;
        for (s, scheme) in schemes.iter().enumerate() {
            let p: Vec<f64> = real.iter().flat_map(|o| o[s].0.iter().copied()).collect();
            let n: Vec<u64> = real.iter().flat_map(|o| o[s].1.iter().copied()).collect();
            rows.push(calib_row(
                &format!("shared/corpora ({} chunks ≤ 200 tokens)", chunks.len()),
                scheme,
                p.len() as u64,
                keys as u64,
                p,
                n,
            ));
        }
    }
    Ok(rows)
}

/// One cell of the distillation table.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DistillRow {
    /// Scheme label.
    pub scheme: String,
    /// Watermark context width.
    pub h: usize,
    /// Watermarked fraction of the training mix.
    pub fraction: f64,
    /// Supervised filter on.
    pub filter: bool,
    /// Student tokenizer (`o200k_base` or `cl100k_base`).
    pub student_tokenizer: String,
    /// Student context length (its own tokens).
    pub student_context: usize,
    /// (tokens scanned, scored, log10 p) along the student's outputs.
    pub curve: Vec<(u64, u64, f64)>,
    /// log10 p over the first 100,000 scored tokens (`None` when fewer were scored).
    pub log10_p_at_100k_scored: Option<f64>,
    /// Green share of the suspect's scored tokens.
    pub suspect_mean_score: f64,
    /// Control (F = 0) log10 p at the full scan.
    pub control_log10_p: f64,
    /// Control scored tokens.
    pub control_scored: u64,
    /// Control log10 p over its first 100,000 scored tokens.
    pub control_log10_p_at_100k_scored: Option<f64>,
}

fn at_scored(
    wm: &Watermark<AnyPrf>,
    records: &[Vec<u32>],
    filter: Option<&HashSet<u128>>,
    n: usize,
) -> Option<f64> {
    let pairs = select_pairs(records, wm.context_width(), filter, &[]);
    (pairs.len() >= n).then(|| {
        crate::pooled::score_pairs(wm, &pairs.truncated(n))
            .tail()
            .log10_p
    })
}

/// Checkpoints (student tokens scanned) of table (d).
pub fn distill_checkpoints(max: usize) -> Vec<u64> {
    [10_000u64, 30_000, 100_000, 300_000, 1_000_000]
        .into_iter()
        .filter(|&c| c <= max as u64)
        .collect()
}

/// (d) Distillation: p-value vs watermarked fraction and tokens scanned, h = 1, 2, 4, filter
/// off/on, control beside each; plus a `cl100k_base` student.
pub fn distill_table(world: &World, b: &Budget) -> Result<Vec<DistillRow>> {
    let cps = distill_checkpoints(b.student_tokens);
    let cl100k = Tokenizer::openai("cl100k_base")?;
    let mut cells: Vec<(usize, f64, bool)> = Vec::new();
    for h in [1usize, 2, 4] {
        for f in [0.01, 0.02, 0.05, 0.10, 0.25] {
            cells.push((h, f, false));
        }
    }
    for f in [0.05, 0.25] {
        cells.push((2, f, true));
    }
    let mut rows = Vec::new();
    for (h, f, cross) in cells {
        let mut cfg = DistillConfig::new(f, b.student_tokens);
        cfg.context_width = h;
        cfg.train_tokens = b.train_tokens;
        cfg.seed = 7_000 + 100 * h as u64 + (f * 1000.0) as u64 + if cross { 50 } else { 0 };
        cfg.student_context = if cross { 2 * h + 1 } else { h };
        let profile = eval_profile(cfg.seed, cfg.scheme, h)?;
        let wm = profile.watermark(None);
        let corpora = Corpora::build(world, &cfg, std::slice::from_ref(&wm));
        let st = cross.then_some(&cl100k);
        let suspect = student_outputs(
            world,
            st,
            &corpora.suspect_mix(),
            cfg.student_context,
            cfg.student_tokens,
            cfg.response_tokens,
            cfg.seed ^ 0x5555,
        )?;
        let control = student_outputs(
            world,
            st,
            &corpora.clean,
            cfg.student_context,
            cfg.student_tokens,
            cfg.response_tokens,
            cfg.seed ^ 0xaaaa,
        )?;
        let filter_set = context_set(&corpora.served, h);
        for filter in [false, true] {
            let fs = filter.then_some(&filter_set);
            let s = scan(&wm, &suspect, fs, &cps);
            let c = scan(&wm, &control, fs, &cps);
            rows.push(DistillRow {
                scheme: scheme_label(&cfg.scheme),
                h,
                fraction: f,
                filter,
                student_tokenizer: if cross { "cl100k_base" } else { "o200k_base" }.into(),
                student_context: cfg.student_context,
                curve: s
                    .curve
                    .iter()
                    .map(|p| (p.tokens_scanned, p.scored_tokens, p.log10_p))
                    .collect(),
                log10_p_at_100k_scored: at_scored(&wm, &suspect, fs, 100_000),
                suspect_mean_score: s.mean_score,
                control_log10_p: c.log10_p,
                control_scored: c.scored_tokens,
                control_log10_p_at_100k_scored: at_scored(&wm, &control, fs, 100_000),
            });
        }
    }
    Ok(rows)
}

/// One row of the attribution table.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AttrRow {
    /// `one` (one account's data) or `two` (two accounts mixed, half each).
    pub scenario: String,
    /// Accounts tested.
    pub accounts: usize,
    /// Share of runs whose top-ranked account is a true source.
    pub top1_correct: f64,
    /// Two accounts: share of runs whose top two are exactly the two sources.
    pub top2_both: Option<f64>,
    /// Share of runs whose top account's Bonferroni-adjusted p ≤ 1e-6 and is a true source.
    pub named_at_1e6: f64,
    /// Median log10 of the (true) top account's adjusted p-value.
    pub median_adjusted_log10_p: f64,
    /// Runs.
    pub runs: usize,
}

/// One attribution run at one list size: (top-1 is a source, both sources top-2, named at
/// adjusted 1e-6, adjusted log10 p of the top account).
type RunOutcome = (bool, bool, bool, f64);

/// (e) Attribution among 10, 100, 10,000 accounts (student trained with 10% watermarked data).
pub fn attribution_table(world: &World, b: &Budget) -> Result<Vec<AttrRow>> {
    let sizes: Vec<usize> = [10usize, 100, 1_000, 10_000]
        .into_iter()
        .filter(|&n| n <= b.attr_max_accounts)
        .collect();
    let max = *sizes.last().unwrap_or(&10);
    let mut rows = Vec::new();
    for two in [false, true] {
        // Per run and per size: (top1 correct, top2 both, named at 1e-6, adjusted log10 p of top).
        let mut per: Vec<Vec<RunOutcome>> = vec![Vec::new(); sizes.len()];
        for run in 0..b.attr_runs {
            let seed = 8_000_000 + run as u64 + if two { 500_000 } else { 0 };
            let mut cfg = DistillConfig::new(0.10, b.attr_student_tokens);
            cfg.train_tokens = b.train_tokens;
            cfg.seed = seed;
            let profile = eval_profile(seed, cfg.scheme, cfg.context_width)?;
            let names: Vec<String> = (0..max).map(|i| format!("acct-{run}-{i:05}")).collect();
            // True sources sit at random positions among the first 10 so every list contains them.
            let mut rng = ChaCha12Rng::seed_from_u64(seed);
            let a = rng.random_range(0..10usize);
            let mut bb = rng.random_range(0..9usize);
            if bb >= a {
                bb += 1;
            }
            let sources: Vec<usize> = if two { vec![a, bb] } else { vec![a] };
            let wms: Vec<Watermark<AnyPrf>> = sources
                .iter()
                .map(|&i| profile.watermark(Some(&names[i])))
                .collect();
            let corpora = Corpora::build(world, &cfg, &wms);
            let out = student_outputs(
                world,
                None,
                &corpora.suspect_mix(),
                cfg.student_context,
                cfg.student_tokens,
                cfg.response_tokens,
                seed ^ 0x5555,
            )?;
            let pairs = select_pairs(&out, cfg.context_width, None, &[]);
            let ranked = rank_accounts(max, |i| profile.watermark(Some(&names[i])), &pairs);
            for (si, &n) in sizes.iter().enumerate() {
                let sub: Vec<_> = ranked.iter().filter(|r| r.index < n).collect();
                let top = sub[0];
                let adj = provmark_detect::tail::bonferroni(top.tail, n as u64);
                let top1 = sources.contains(&top.index);
                let top2 = two && sub.len() > 1 && sources.contains(&sub[1].index) && top1;
                per[si].push((top1, top2, top1 && adj.log10_p <= -6.0, adj.log10_p));
            }
        }
        for (si, &n) in sizes.iter().enumerate() {
            let v = &per[si];
            let share = |f: &dyn Fn(&RunOutcome) -> bool| {
                v.iter().filter(|x| f(x)).count() as f64 / v.len().max(1) as f64
            };
            let mut lp: Vec<f64> = v.iter().map(|x| x.3).collect();
            lp.sort_by(f64::total_cmp);
            rows.push(AttrRow {
                scenario: if two { "two" } else { "one" }.into(),
                accounts: n,
                top1_correct: share(&|x| x.0),
                top2_both: two.then(|| share(&|x| x.1)),
                named_at_1e6: share(&|x| x.2),
                median_adjusted_log10_p: lp.get(lp.len() / 2).copied().unwrap_or(0.0),
                runs: v.len(),
            });
        }
    }
    Ok(rows)
}

/// Facts about the simulation reported beside the tables.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SimFacts {
    /// Words in the distillation language.
    pub language_words: usize,
    /// Mean next-word entropy of the distillation teacher at T = 1 (nats).
    pub teacher_entropy_nats: f64,
    /// Mean next-word entropy of the clean source at T = 1 (nats).
    pub clean_entropy_nats: f64,
    /// Mean per-step entropy (nats) of the serving-table LM: (profile, T, entropy).
    pub serving_entropy_nats: Vec<(LmProfile, f64, f64)>,
}

/// Every table.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Tables {
    /// The budget used.
    pub budget: Budget,
    /// Facts about the simulation.
    pub sim: SimFacts,
    /// (a) Power.
    pub power: Vec<PowerRow>,
    /// (b) Robustness.
    pub robustness: Vec<RobustRow>,
    /// (c) Calibration.
    pub calibration: Vec<CalibRow>,
    /// (d) Distillation (including the cross-tokenizer student).
    pub distillation: Vec<DistillRow>,
    /// (e) Attribution.
    pub attribution: Vec<AttrRow>,
    /// Wall-clock seconds of the run that produced the tables (set by the caller).
    #[serde(default)]
    pub wall_seconds: Option<f64>,
}

/// Computes every table; `progress` is told which table starts.
pub fn run_all(b: &Budget, progress: &mut dyn FnMut(&str)) -> Result<Tables> {
    let world = World::standard()?;
    let sample = clean_responses(&world, &world.teacher, 1.0, 200, 200, 99);
    let flat: Vec<u32> = sample.concat();
    let sim = SimFacts {
        language_words: world.lang.len(),
        teacher_entropy_nats: world.teacher.mean_entropy(&world.lang, &flat, 1.0),
        clean_entropy_nats: world.clean.mean_entropy(&world.lang, &flat, 1.0),
        serving_entropy_nats: [LmProfile::Chat, LmProfile::Open]
            .into_iter()
            .flat_map(|p| [(p, 1.0), (p, 0.7)])
            .map(|(p, t)| sim_mean_entropy(&world.tokenizer, t, p).map(|e| (p, t, e)))
            .collect::<Result<_>>()?,
    };
    progress("(a) power");
    let power = power_table(&world.tokenizer, b)?;
    progress("(b) robustness");
    let robustness = robustness_table(&world.tokenizer, b)?;
    progress("(c) calibration");
    let calibration = calibration_table(&world.tokenizer, b)?;
    progress("(d) distillation");
    let distillation = distill_table(&world, b)?;
    progress("(e) attribution");
    let attribution = attribution_table(&world, b)?;
    Ok(Tables {
        budget: *b,
        sim,
        power,
        robustness,
        calibration,
        distillation,
        attribution,
        wall_seconds: None,
    })
}
