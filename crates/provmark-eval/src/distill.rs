//! The distillation threat, end to end, from a seed.
//!
//! 1. **Teacher**: the simulated LM ([`World::teacher`]) serves watermarked responses under the
//!    profile's master key or per-account keys.
//! 2. **Clean source**: a *different* simulated model of the same language
//!    ([`World::clean`]: same successor graph, independently perturbed logits, its own seed),
//!    unwatermarked.
//! 3. **Student**: an interpolated n-gram model ([`crate::ngram`]) trained on a mix — a fraction
//!    `F` of watermarked teacher responses, the rest clean-source responses, fixed total size.
//!    Optionally the student uses another tokenizer (`cl100k_base`) and is trained on the same
//!    text re-tokenized; its outputs are detokenized and re-tokenized with the teacher's
//!    tokenizer for the scan.
//! 4. **Control**: the same student trained with `F = 0` (clean source only).
//! 5. **Scan**: one pooled test over each student's outputs with global dedup
//!    ([`crate::pooled`]), optionally supervised (contexts of our served outputs only).

use std::collections::HashSet;

use provmark_core::prf::AnyPrf;
use provmark_core::{Profile, Scheme, SecretKey, TokenizerSpec, Watermark};
use provmark_detect::Statistic;
use provmark_tokenize::Tokenizer;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha12Rng;
use rayon::prelude::*;
use serde::Serialize;

use crate::error::{EvalError, Result};
use crate::lang::{generate, FastSampler, GenScratch, Language, SimModel};
use crate::ngram::NgramStudent;
use crate::pooled::{context_set, score_curve, select_pairs, Pairs, Running, MAX_WIDTH};

/// Words in the simulated language.
pub const LANGUAGE_WORDS: usize = 5000;

/// The fixed simulated world: tokenizer, language, teacher model and clean-source model.
#[derive(Debug)]
pub struct World {
    /// The teacher's tokenizer (`o200k_base`).
    pub tokenizer: Tokenizer,
    /// The language.
    pub lang: Language,
    /// The teacher's (unwatermarked) model.
    pub teacher: SimModel,
    /// The clean source: another model of the same language (perturbed logits, σ = 1).
    pub clean: SimModel,
}

impl World {
    /// Builds the standard world (`o200k_base`, 5,000 words, fixed seeds 1/2/3).
    pub fn standard() -> Result<World> {
        let tokenizer = Tokenizer::openai("o200k_base")?;
        let lang = Language::build(&tokenizer, LANGUAGE_WORDS, 1)?;
        let teacher = SimModel::new(&lang, 2);
        let clean = teacher.perturbed(1.0, 3);
        Ok(World {
            tokenizer,
            lang,
            teacher,
            clean,
        })
    }
}

/// A profile whose secret is derived from `seed` (evaluation only — never a real key).
pub fn eval_profile(seed: u64, scheme: Scheme, width: usize) -> Result<Profile> {
    let mut rng = ChaCha12Rng::seed_from_u64(seed ^ 0x6b65_795f_7365_6564);
    let mut b = [0u8; 32];
    rng.fill(&mut b);
    Ok(Profile::from_secret(
        SecretKey::from_bytes(b),
        scheme,
        width,
        TokenizerSpec::default_openai(),
    )?)
}

fn sub_seed(seed: u64, stream: u64, i: u64) -> u64 {
    let mut r = ChaCha12Rng::seed_from_u64(seed);
    r.set_stream(stream);
    r.set_word_pos(i as u128 * 16);
    r.random()
}

/// `count` watermarked teacher responses of `len` tokens, response `i` under
/// `watermarks[i % watermarks.len()]` (deterministic in `seed`, parallel).
pub fn teacher_responses(
    world: &World,
    watermarks: &[Watermark<AnyPrf>],
    skip_repeated: bool,
    temperature: f64,
    count: usize,
    len: usize,
    seed: u64,
) -> Vec<Vec<u32>> {
    (0..count)
        .into_par_iter()
        .map_init(GenScratch::default, |scratch, i| {
            let mut rng = ChaCha12Rng::seed_from_u64(sub_seed(seed, 1, i as u64));
            let mut out = Vec::with_capacity(len);
            let wm = watermarks.get(i % watermarks.len().max(1));
            generate(
                &world.lang,
                &world.teacher,
                wm,
                skip_repeated,
                temperature,
                len,
                &mut rng,
                scratch,
                &mut out,
            );
            out
        })
        .collect()
}

/// `count` clean responses of `len` tokens from `model` (deterministic in `seed`, parallel).
pub fn clean_responses(
    world: &World,
    model: &SimModel,
    temperature: f64,
    count: usize,
    len: usize,
    seed: u64,
) -> Vec<Vec<u32>> {
    let sampler = FastSampler::new(&world.lang, model, temperature);
    (0..count)
        .into_par_iter()
        .map(|i| {
            let mut rng = ChaCha12Rng::seed_from_u64(sub_seed(seed, 2, i as u64));
            let mut out = Vec::with_capacity(len);
            sampler.generate(&world.lang, len, &mut rng, &mut out);
            out
        })
        .collect()
}

/// The tokenizer a student uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StudentTokenizer {
    /// The teacher's own (`o200k_base`).
    Same,
    /// OpenAI `cl100k_base`: the student trains on the teacher's text re-tokenized.
    Cl100k,
}

/// Parameters of one distillation run.
#[derive(Debug, Clone, Serialize)]
pub struct DistillConfig {
    /// Watermark scheme.
    pub scheme: Scheme,
    /// Context width h of the watermark.
    pub context_width: usize,
    /// Watermarked share of the student's training tokens, in [0, 1].
    pub fraction: f64,
    /// Student training tokens (watermarked + clean).
    pub train_tokens: usize,
    /// Tokens the student generates (and the scan reads).
    pub student_tokens: usize,
    /// Supervised filter: score only contexts that occur in our served outputs.
    pub filter: bool,
    /// Seed of everything random (key, teacher, clean source, student).
    pub seed: u64,
    /// Teacher and clean-source sampling temperature.
    pub temperature: f64,
    /// Tokens per response (teacher, clean source and student alike).
    pub response_tokens: usize,
    /// The student's tokenizer.
    pub student_tokenizer: StudentTokenizer,
    /// Student n-gram context length in its own tokens (order = this + 1); default h, or
    /// 2h + 1 for a student with another tokenizer (its tokens are shorter).
    pub student_context: usize,
    /// Scanned-token counts at which the cumulative evidence is reported.
    pub checkpoints: Vec<u64>,
}

impl DistillConfig {
    /// Defaults: green γ = 0.25, δ = 2, h = 2, 1M training tokens, 200-token responses, T = 1.
    pub fn new(fraction: f64, student_tokens: usize) -> DistillConfig {
        DistillConfig {
            scheme: Scheme::DEFAULT_GREEN,
            context_width: 2,
            fraction,
            train_tokens: 1_000_000,
            student_tokens,
            filter: false,
            seed: 1,
            temperature: 1.0,
            response_tokens: 200,
            student_tokenizer: StudentTokenizer::Same,
            student_context: 2,
            checkpoints: Vec::new(),
        }
    }

    /// Checks every parameter.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(EvalError::Param(m));
        if !(0.0..=1.0).contains(&self.fraction) {
            return bad(format!("fraction must be in [0, 1], got {}", self.fraction));
        }
        if self.context_width == 0 || self.context_width > MAX_WIDTH {
            return bad(format!(
                "context width must be 1..={MAX_WIDTH}, got {}",
                self.context_width
            ));
        }
        if !(self.temperature > 0.0 && self.temperature.is_finite()) {
            return bad(format!(
                "temperature must be positive, got {}",
                self.temperature
            ));
        }
        if self.response_tokens < 2 * self.context_width + 2 {
            return bad("response length too short for the context width".into());
        }
        if self.train_tokens < self.response_tokens || self.student_tokens == 0 {
            return bad(
                "train and student token counts must be positive (train ≥ one response)".into(),
            );
        }
        if self.student_context == 0 || self.student_context > crate::ngram::MAX_STUDENT_CONTEXT {
            return bad(format!(
                "student context must be 1..=7, got {}",
                self.student_context
            ));
        }
        self.scheme.validate()?;
        Ok(())
    }
}

/// One point of the cumulative evidence curve.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct CurvePoint {
    /// Student tokens scanned so far.
    pub tokens_scanned: u64,
    /// Unique pairs scored so far.
    pub scored_tokens: u64,
    /// log10 of the pooled p-value so far.
    pub log10_p: f64,
}

/// The pooled scan of one corpus.
#[derive(Debug, Clone, Serialize)]
pub struct ScanOutcome {
    /// p-value (0 when below the f64 range; see `log10_p`).
    pub p_value: f64,
    /// log10 of the exact p-value.
    pub log10_p: f64,
    /// Unique (context, token) pairs scored.
    pub scored_tokens: u64,
    /// Tokens scanned.
    pub total_tokens: u64,
    /// The raw statistic and its null.
    pub statistic: Statistic,
    /// Green share (green) or mean score (Gumbel) of the scored tokens.
    pub mean_score: f64,
    /// Cumulative evidence at the configured checkpoints.
    pub curve: Vec<CurvePoint>,
}

impl ScanOutcome {
    fn from(curve: Vec<(u64, Running)>, pairs: &Pairs, total: Running) -> ScanOutcome {
        let tail = total.tail();
        ScanOutcome {
            p_value: tail.p_value(),
            log10_p: tail.log10_p,
            scored_tokens: total.scored(),
            total_tokens: pairs.total_tokens,
            statistic: total.statistic(),
            mean_score: total.mean(),
            curve: curve
                .into_iter()
                .map(|(t, r)| CurvePoint {
                    tokens_scanned: t,
                    scored_tokens: r.scored(),
                    log10_p: r.tail().log10_p,
                })
                .collect(),
        }
    }
}

/// Scans `records` (teacher-tokenizer ids) under `wm`, optionally supervised by `filter`.
pub fn scan(
    wm: &Watermark<AnyPrf>,
    records: &[Vec<u32>],
    filter: Option<&HashSet<u128>>,
    checkpoints: &[u64],
) -> ScanOutcome {
    let pairs = select_pairs(records, wm.context_width(), filter, checkpoints);
    let (curve, total) = score_curve(wm, &pairs);
    ScanOutcome::from(curve, &pairs, total)
}

/// Everything a distillation run produced.
#[derive(Debug, Clone, Serialize)]
pub struct DistillOutcome {
    /// Parameters.
    pub config: DistillConfig,
    /// Public key id of the evaluation key.
    pub key_id: String,
    /// Watermarked teacher responses in the training mix.
    pub served_responses: usize,
    /// Mean score of the teacher's own served responses (pooled scan of them).
    pub teacher_mean_score: f64,
    /// The suspect student's scan.
    pub suspect: ScanOutcome,
    /// The clean control student's scan (same settings, F = 0).
    pub control: ScanOutcome,
}

impl DistillOutcome {
    /// The flat JSON object of `provmark eval distill --json`.
    pub fn summary_json(&self) -> serde_json::Value {
        let c = &self.config;
        let (gamma, delta) = match c.scheme {
            Scheme::Green { gamma, delta } => (Some(gamma), Some(delta)),
            _ => (None, None),
        };
        serde_json::json!({
            "p_value": self.suspect.p_value,
            "log10_p": self.suspect.log10_p,
            "scored_tokens": self.suspect.scored_tokens,
            "total_tokens": self.suspect.total_tokens,
            "statistic": self.suspect.statistic,
            "mean_score": self.suspect.mean_score,
            "control_p_value": self.control.p_value,
            "control_log10_p": self.control.log10_p,
            "control_scored_tokens": self.control.scored_tokens,
            "control_statistic": self.control.statistic,
            "control_mean_score": self.control.mean_score,
            "teacher_mean_score": self.teacher_mean_score,
            "fraction": c.fraction,
            "student_tokens": c.student_tokens,
            "train_tokens": c.train_tokens,
            "served_responses": self.served_responses,
            "scheme": c.scheme.name(),
            "gamma": gamma,
            "delta": delta,
            "context_width": c.context_width,
            "filter": c.filter,
            "seed": c.seed,
            "temperature": c.temperature,
            "response_tokens": c.response_tokens,
            "student_tokenizer": c.student_tokenizer,
            "student_context": c.student_context,
            "key_id": self.key_id,
            "curve": self.suspect.curve,
            "control_curve": self.control.curve,
            "simulation": "simulated teacher and clean source over o200k_base whole-word tokens; n-gram student",
        })
    }
}

/// The corpora of one threat: served (watermarked) responses and clean-source responses.
#[derive(Debug, Clone)]
pub struct Corpora {
    /// Watermarked teacher responses (our served outputs that reached the student).
    pub served: Vec<Vec<u32>>,
    /// Clean-source responses, enough for a full training set on their own.
    pub clean: Vec<Vec<u32>>,
}

impl Corpora {
    /// Builds the corpora for `cfg` with the given teacher keys (one or more accounts, or the master).
    pub fn build(world: &World, cfg: &DistillConfig, watermarks: &[Watermark<AnyPrf>]) -> Corpora {
        let n_resp = cfg.train_tokens / cfg.response_tokens;
        let n_wm = (cfg.fraction * n_resp as f64).round() as usize;
        Corpora {
            served: teacher_responses(
                world,
                watermarks,
                true,
                cfg.temperature,
                n_wm,
                cfg.response_tokens,
                cfg.seed,
            ),
            clean: clean_responses(
                world,
                &world.clean,
                cfg.temperature,
                n_resp,
                cfg.response_tokens,
                cfg.seed,
            ),
        }
    }

    /// The suspect's training mix: all served responses, clean ones for the rest.
    pub fn suspect_mix(&self) -> Vec<Vec<u32>> {
        let rest = self.clean.len().saturating_sub(self.served.len());
        self.served
            .iter()
            .chain(self.clean[..rest].iter())
            .cloned()
            .collect()
    }
}

/// Converts teacher-tokenizer sequences to another tokenizer's ids via text.
pub fn retokenize(from: &Tokenizer, to: &Tokenizer, seqs: &[Vec<u32>]) -> Vec<Vec<u32>> {
    seqs.par_iter()
        .map(|s| to.encode(&from.decode_lossy(s)))
        .collect()
}

/// Trains a student on `mix` (teacher-tokenizer ids) and returns its generated outputs in the
/// teacher's tokenizer (re-tokenized through text when the student uses another tokenizer).
pub fn student_outputs(
    world: &World,
    student_tok: Option<&Tokenizer>,
    mix: &[Vec<u32>],
    context: usize,
    tokens: usize,
    len: usize,
    seed: u64,
) -> Result<Vec<Vec<u32>>> {
    // Another tokenizer: train on the text re-tokenized, and write responses as long (in its
    // tokens) as `len` teacher tokens, so the scan reads about `tokens` teacher tokens.
    let (train, len_s) = match student_tok {
        Some(t) => {
            let train = retokenize(&world.tokenizer, t, mix);
            let ours: usize = mix.iter().map(Vec::len).sum();
            let theirs: usize = train.iter().map(Vec::len).sum();
            let ratio = theirs as f64 / ours.max(1) as f64;
            (train, ((len as f64 * ratio).round() as usize).max(2))
        }
        None => (mix.to_vec(), len),
    };
    let student = NgramStudent::train(&train, context)?;
    let count = tokens.div_ceil(len);
    let outs: Vec<Vec<u32>> = (0..count)
        .into_par_iter()
        .map(|i| {
            let mut rng = ChaCha12Rng::seed_from_u64(sub_seed(seed, 3, i as u64));
            let mut out = Vec::with_capacity(len_s);
            student.generate(len_s, &mut rng, &mut out);
            out
        })
        .collect();
    Ok(match student_tok {
        Some(t) => retokenize(t, &world.tokenizer, &outs),
        None => outs,
    })
}

/// Runs one distillation threat end to end.
pub fn run_distill(world: &World, cfg: &DistillConfig) -> Result<DistillOutcome> {
    cfg.validate()?;
    let profile = eval_profile(cfg.seed, cfg.scheme, cfg.context_width)?;
    let wm = profile.watermark(None);
    let corpora = Corpora::build(world, cfg, std::slice::from_ref(&wm));
    let cl100k = match cfg.student_tokenizer {
        StudentTokenizer::Same => None,
        StudentTokenizer::Cl100k => Some(Tokenizer::openai("cl100k_base")?),
    };
    let suspect_out = student_outputs(
        world,
        cl100k.as_ref(),
        &corpora.suspect_mix(),
        cfg.student_context,
        cfg.student_tokens,
        cfg.response_tokens,
        cfg.seed ^ 0x5555,
    )?;
    let control_out = student_outputs(
        world,
        cl100k.as_ref(),
        &corpora.clean,
        cfg.student_context,
        cfg.student_tokens,
        cfg.response_tokens,
        cfg.seed ^ 0xaaaa,
    )?;
    let filter = cfg
        .filter
        .then(|| context_set(&corpora.served, cfg.context_width));
    let teacher = scan(&wm, &corpora.served, None, &[]);
    Ok(DistillOutcome {
        config: cfg.clone(),
        key_id: profile.key_id().0.clone(),
        served_responses: corpora.served.len(),
        teacher_mean_score: teacher.mean_score,
        suspect: scan(&wm, &suspect_out, filter.as_ref(), &cfg.checkpoints),
        control: scan(&wm, &control_out, filter.as_ref(), &cfg.checkpoints),
    })
}
