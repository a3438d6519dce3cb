//! The bundled demo corpus (`testdata/demo/`): a suspect student's outputs, a clean control
//! student's outputs, our served outputs (for `scan --filter-from`) and the profile — under a
//! **public demo key** that anyone can read and that must never watermark anything real.

use std::io::Write;
use std::path::Path;

use provmark_core::{Profile, Scheme, SecretKey, TokenizerSpec};
use serde::Serialize;

use crate::distill::{scan, student_outputs, Corpora, DistillConfig, World};
use crate::error::{EvalError, Result};
use crate::pooled::context_set;

/// The demo secret: 32 printable bytes that say what they are. Public; never use it for real.
pub const DEMO_SECRET: [u8; 32] = *b"PROVMARK-PUBLIC-DEMO-KEY-0000001";

/// File name of the demo profile.
pub const DEMO_PROFILE: &str = "PUBLIC-DEMO-KEY.profile.json";

/// The demo profile (default green scheme, h = 2, `o200k_base`).
pub fn demo_profile() -> Result<Profile> {
    Ok(Profile::from_secret(
        SecretKey::from_bytes(DEMO_SECRET),
        Scheme::DEFAULT_GREEN,
        2,
        TokenizerSpec::default_openai(),
    )?)
}

/// What the demo writer produced and what the evaluation's own pooled scan finds in it.
#[derive(Debug, Clone, Serialize)]
pub struct DemoSummary {
    /// Watermarked fraction of the suspect student's training mix.
    pub fraction: f64,
    /// Student training tokens.
    pub train_tokens: usize,
    /// Records in suspect.jsonl / control.jsonl / served.jsonl.
    pub records: [usize; 3],
    /// Suspect: (scored tokens, log10 p), unsupervised.
    pub suspect: (u64, f64),
    /// Suspect with the supervised filter (served.jsonl).
    pub suspect_filtered: (u64, f64),
    /// Control: (scored tokens, log10 p), unsupervised.
    pub control: (u64, f64),
    /// Control with the supervised filter.
    pub control_filtered: (u64, f64),
}

fn write_jsonl(path: &Path, prefix: &str, texts: &[String]) -> Result<()> {
    let io = |source| EvalError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).map_err(io)?);
    for (i, t) in texts.iter().enumerate() {
        let line = serde_json::json!({ "id": format!("{prefix}-{i:05}"), "text": t });
        writeln!(f, "{line}").map_err(io)?;
    }
    f.flush().map_err(io)
}

/// Writes the demo corpus into `dir` (created if missing; existing demo files are replaced,
/// the profile only if absent).
pub fn write_demo(
    dir: &Path,
    fraction: f64,
    student_tokens: usize,
    train_tokens: usize,
    seed: u64,
) -> Result<DemoSummary> {
    let world = World::standard()?;
    let profile = demo_profile()?;
    let wm = profile.watermark(None);
    let mut cfg = DistillConfig::new(fraction, student_tokens);
    cfg.train_tokens = train_tokens;
    cfg.seed = seed;
    cfg.validate()?;
    let corpora = Corpora::build(&world, &cfg, std::slice::from_ref(&wm));
    let suspect = student_outputs(
        &world,
        None,
        &corpora.suspect_mix(),
        2,
        student_tokens,
        200,
        seed ^ 0x5555,
    )?;
    let control = student_outputs(
        &world,
        None,
        &corpora.clean,
        2,
        student_tokens,
        200,
        seed ^ 0xaaaa,
    )?;
    let filter = context_set(&corpora.served, 2);
    let s = scan(&wm, &suspect, None, &[]);
    let sf = scan(&wm, &suspect, Some(&filter), &[]);
    let c = scan(&wm, &control, None, &[]);
    let cf = scan(&wm, &control, Some(&filter), &[]);
    std::fs::create_dir_all(dir).map_err(|source| EvalError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let text = |v: &[Vec<u32>]| -> Vec<String> {
        v.iter()
            .map(|ids| world.tokenizer.decode_lossy(ids))
            .collect()
    };
    write_jsonl(&dir.join("suspect.jsonl"), "suspect", &text(&suspect))?;
    write_jsonl(&dir.join("control.jsonl"), "control", &text(&control))?;
    write_jsonl(&dir.join("served.jsonl"), "served", &text(&corpora.served))?;
    let pp = dir.join(DEMO_PROFILE);
    if !pp.exists() {
        profile.save_new(&pp)?;
    }
    Ok(DemoSummary {
        fraction,
        train_tokens,
        records: [suspect.len(), control.len(), corpora.served.len()],
        suspect: (s.scored_tokens, s.log10_p),
        suspect_filtered: (sf.scored_tokens, sf.log10_p),
        control: (c.scored_tokens, c.log10_p),
        control_filtered: (cf.scored_tokens, cf.log10_p),
    })
}
