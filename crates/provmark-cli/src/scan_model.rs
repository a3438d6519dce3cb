//! `provmark scan-model`: the open-model test — a suspect model's own next-token predictions on
//! our watermarked answers, scored under our key (the work is `provmark_model::scan_model`).

use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use provmark_model::OurText;
use provmark_tokenize::Tokenizer;

use crate::common::load_profile;
use crate::generate_model::same_identity;

/// Arguments of `provmark scan-model`.
#[derive(clap::Args)]
pub struct ScanModelArgs {
    /// Text for the suspect to read: JSONL, one record per text. Use text the tested key did not
    /// choose (e.g. `generate --no-watermark --jsonl` answers to prompts like the ones served):
    /// the test is then exact; on text watermarked with the tested key it is valid but very
    /// conservative (positions where the suspect predicts the text's own token are skipped).
    input: PathBuf,
    /// The profile the answers were watermarked with.
    #[arg(long)]
    profile: PathBuf,
    /// The suspect's weights: a llama-architecture GGUF with the profile's tokenizer.
    #[arg(long, value_name = "GGUF")]
    suspect_model: PathBuf,
    /// Field holding the answer text.
    #[arg(long, default_value = "text")]
    field: String,
    /// Field holding the prompt (when present, the suspect reads the ChatML conversation and only
    /// the answer is scored). An empty string turns it off.
    #[arg(long, default_value = "prompt")]
    prompt_field: String,
    /// Test this account's subkey (answers served to that account) instead of the master key.
    #[arg(long)]
    account: Option<String>,
    /// Significance level of the verdict.
    #[arg(long, default_value_t = 1e-6)]
    alpha: f64,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

/// Runs `scan-model`.
pub fn run(a: ScanModelArgs) -> anyhow::Result<ExitCode> {
    let profile = load_profile(&a.profile)?;
    let tok = Tokenizer::from_file(&a.suspect_model)
        .with_context(|| format!("cannot read the tokenizer of {}", a.suspect_model.display()))?;
    if tok.spec() != profile.tokenizer && !same_identity(&tok, &profile) {
        bail!(
            "the suspect model {} has {}, but the profile was made for {}: the open-model test needs the suspect to share our vocabulary",
            a.suspect_model.display(),
            tok.spec(),
            profile.tokenizer
        );
    }
    let f = std::fs::File::open(&a.input)
        .with_context(|| format!("cannot open {}", a.input.display()))?;
    let mut texts = Vec::new();
    let mut bad = 0usize;
    for (i, line) in std::io::BufReader::new(f).lines().enumerate() {
        let line = line.with_context(|| format!("cannot read {}", a.input.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value = match serde_json::from_str(&line) {
            Ok(v) => v,
            Err(_) => {
                bad += 1;
                continue;
            }
        };
        let Some(text) = v.get(&a.field).and_then(|t| t.as_str()) else {
            bail!(
                "{} line {}: no string field {:?}",
                a.input.display(),
                i + 1,
                a.field
            );
        };
        let prompt = if a.prompt_field.is_empty() {
            None
        } else {
            v.get(&a.prompt_field)
                .and_then(|p| p.as_str())
                .map(str::to_string)
        };
        texts.push(OurText {
            prompt,
            text: text.to_string(),
        });
    }
    if texts.is_empty() {
        bail!("{} holds no answers to feed the suspect", a.input.display());
    }
    let model = provmark_model::load(&a.suspect_model)?;
    let mut report =
        provmark_model::scan_model(&model, &tok, &profile, a.account.as_deref(), &texts)?;
    if bad > 0 {
        report.texts += bad;
        report.skipped.insert("not_json".into(), bad);
    }
    let e = &report.evidence;
    if e.scored_pairs == 0 {
        bail!(
            "nothing was scored: {} of {} answers fed, every prediction a copy or a repeat",
            report.texts_scored,
            report.texts
        );
    }
    let significant = e.log10_p <= a.alpha.log10();
    if a.json {
        let mut v = serde_json::to_value(&report)?;
        v["verdict"] = serde_json::json!(if significant {
            "learned_the_watermark"
        } else {
            "no_evidence"
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!(
            "verdict: {}",
            if significant {
                "the suspect learned the watermark"
            } else {
                "no evidence that the suspect learned the watermark"
            }
        );
        println!(
            "p-value: 10^{:.2} (exact, {} distinct (context, prediction) pairs)",
            e.log10_p, e.scored_pairs
        );
        if let Some(g) = e.green_share {
            println!(
                "green share of the suspect's predictions: {:.4} (γ = {} under no learning)",
                g,
                match profile.scheme {
                    provmark_core::Scheme::Green { gamma, .. } => gamma,
                    _ => f64::NAN,
                }
            );
        }
        println!(
            "answers fed: {} of {}; positions {}, copies of our token skipped {}, repeats skipped {}",
            report.texts_scored, report.texts, e.positions, e.copies_skipped, e.repeats_skipped
        );
    }
    Ok(ExitCode::from(if significant { 0 } else { 1 }))
}
