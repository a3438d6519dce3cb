//! The open-model test on a suspect GGUF model (`provmark scan-model`): feed our watermarked
//! answers to the suspect, teacher-forced, and test its own top-1 predictions under our key
//! ([`provmark_detect::OpenModelTest`] explains the statistics and why copies are skipped).

use std::collections::BTreeMap;

use provmark_core::Profile;
use provmark_detect::{OpenModelEvidence, OpenModelTest, PairFingerprinter};
use provmark_tokenize::Tokenizer;
use serde::Serialize;

use crate::chat::ChatTemplate;
use crate::llama::Llama;
use crate::{ModelError, Result};

/// One of our texts: the answer, and the prompt it answered when known (then the suspect reads
/// the ChatML conversation and only the answer's positions are scored).
#[derive(Clone, Debug)]
pub struct OurText {
    /// The prompt, if known.
    pub prompt: Option<String>,
    /// The (watermarked) answer.
    pub text: String,
}

/// The report of `provmark scan-model`.
#[derive(Clone, Debug, Serialize)]
pub struct SuspectReport {
    /// Texts given.
    pub texts: usize,
    /// Texts fed to the suspect and scored.
    pub texts_scored: usize,
    /// Texts not scored, by reason.
    pub skipped: BTreeMap<String, usize>,
    /// Tokens fed to the suspect.
    pub tokens_fed: u64,
    /// The open-model evidence.
    pub evidence: OpenModelEvidence,
    /// Account the key belongs to, if an account subkey was tested.
    pub account: Option<String>,
}

/// Runs the open-model test of `suspect` on `texts` under `profile` (and `account`'s subkey when
/// given). Texts longer than the suspect's context are cut to it (the cut is counted in
/// `tokens_fed`, not skipped); an empty text is skipped with a reason.
pub fn scan_model(
    suspect: &Llama,
    tok: &Tokenizer,
    profile: &Profile,
    account: Option<&str>,
    texts: &[OurText],
) -> Result<SuspectReport> {
    let wm = profile
        .try_watermark(account)
        .map_err(|e| ModelError::Input(format!("cannot derive the key: {e}")))?;
    let mut test = OpenModelTest::new(&wm, PairFingerprinter::for_profile(profile))
        .map_err(|e| ModelError::Input(format!("cannot test this scheme: {e}")))?;
    let template = ChatTemplate::for_tokenizer(tok)?;
    let limit = suspect.config().context_length;
    let mut skipped = BTreeMap::new();
    let mut scored = 0;
    let mut fed = 0u64;
    for t in texts {
        let answer = tok.encode(&t.text);
        if answer.is_empty() {
            *skipped.entry("empty_text".to_string()).or_insert(0) += 1;
            continue;
        }
        let mut ids = match &t.prompt {
            Some(p) => template.user_turn(tok, p),
            None => Vec::new(),
        };
        let from = ids.len();
        ids.extend_from_slice(&answer);
        ids.truncate(limit);
        if ids.len() <= from {
            *skipped
                .entry("prompt_fills_the_context".to_string())
                .or_insert(0) += 1;
            continue;
        }
        // predicted[t] must be the prediction *for* position t: shift the model's output.
        let top1 = suspect.predict_top1(&ids, 512)?;
        let mut predicted = vec![0u32; ids.len()];
        predicted[1..].copy_from_slice(&top1[..ids.len() - 1]);
        test.add(&ids, &predicted, from.max(1));
        fed += ids.len() as u64;
        scored += 1;
    }
    Ok(SuspectReport {
        texts: texts.len(),
        texts_scored: scored,
        skipped,
        tokens_fed: fed,
        evidence: test.evidence(),
        account: account.map(str::to_string),
    })
}
