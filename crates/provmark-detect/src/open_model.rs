//! The open-model test: when a suspect model's weights are available, score the suspect's own
//! next-token predictions on our watermarked text (the radioactivity paper's "open model"
//! setting, Sander et al. 2024).
//!
//! Feed our text to the suspect (teacher forcing); at each position t with a full context
//! c = x[t−h..t], take the suspect's top-1 prediction v̂ and score the pair (c, v̂) under our
//! key. A model that never learned our watermark predicts v̂ without regard to the key, so each
//! *distinct* pair is green with probability γ (Gumbel: its score is Exp(1)) independently, and
//! the exact Binomial / Gamma tail applies — after two exclusions that keep it valid:
//!
//! * **Copies.** Where v̂ equals the text's own next token x_t, the pair is one our watermark
//!   chose, so it is green more often than γ *whatever the suspect is*: a good clean model
//!   predicting our text would look guilty. Those positions are skipped. Given that the
//!   watermark chose x_t ≠ v̂, v̂ is *less* likely to be green, so on text watermarked with the
//!   tested key what remains is conservative — strongly so: the unwatermarked SmolLM2 reading
//!   its own green-watermarked answers (γ 0.25, δ 2) had a green share of 0.153 among the
//!   scored pairs. **Feed text that the tested key did not choose** (clean answers of the same
//!   model, any text of the domain): then contexts and predictions are independent of the key
//!   and the test is exact (the same model on 20 clean answers: green share 0.248).
//! * **Repeats.** Each (context, prediction) pair is scored once over everything added (pair
//!   fingerprints, as in the closed-model scan), so repeated phrases do not count twice.

use provmark_core::prf::Prf;
use provmark_core::Watermark;
use serde::Serialize;

use crate::error::Result;
use crate::fingerprint::{FingerprintSet, PairFingerprinter};
use crate::statistic::{Accumulator, Statistic};

/// What the open-model test found.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OpenModelEvidence {
    /// The statistic over the scored pairs and its exact null.
    pub statistic: Statistic,
    /// log10 of the exact p-value.
    pub log10_p: f64,
    /// Positions with a full context that were considered.
    pub positions: u64,
    /// Positions skipped because the prediction was the text's own next token.
    pub copies_skipped: u64,
    /// Positions skipped because their (context, prediction) pair was already scored.
    pub repeats_skipped: u64,
    /// Distinct pairs scored.
    pub scored_pairs: u64,
    /// Share of the scored pairs that were green (green-list schemes; `None` otherwise).
    pub green_share: Option<f64>,
}

/// Accumulates the open-model test over many texts.
pub struct OpenModelTest<'a, P: Prf> {
    wm: &'a Watermark<P>,
    fingerprinter: PairFingerprinter,
    seen: FingerprintSet,
    acc: Accumulator,
    positions: u64,
    copies: u64,
    repeats: u64,
}

impl<'a, P: Prf> OpenModelTest<'a, P> {
    /// A test under `wm`; pairs are deduplicated with `fingerprinter` (use the profile's).
    pub fn new(wm: &'a Watermark<P>, fingerprinter: PairFingerprinter) -> Result<Self> {
        Ok(OpenModelTest {
            acc: Accumulator::for_scheme(&wm.scheme())?,
            wm,
            fingerprinter,
            seen: FingerprintSet::new(),
            positions: 0,
            copies: 0,
            repeats: 0,
        })
    }

    /// Adds one text: `ids` as fed to the suspect, `predicted[t]` the suspect's top-1 token
    /// after `ids[..t]` (so `predicted[0]` is unused), scoring positions `from..` (e.g. the
    /// answer after its prompt). Positions without a full context are not considered.
    pub fn add(&mut self, ids: &[u32], predicted: &[u32], from: usize) {
        let h = self.wm.context_width();
        let n = ids.len().min(predicted.len());
        for t in from.max(h).max(1)..n {
            let ctx = &ids[t - h..t];
            let v = predicted[t];
            self.positions += 1;
            if v == ids[t] {
                self.copies += 1;
                continue;
            }
            if !self.seen.insert(self.fingerprinter.pair(ctx, v)) {
                self.repeats += 1;
                continue;
            }
            let state = self.wm.absorb(ctx);
            self.acc.add(self.wm.score(&state, v));
        }
    }

    /// The evidence so far.
    pub fn evidence(&self) -> OpenModelEvidence {
        let statistic = self.acc.statistic();
        let green_share = match statistic {
            Statistic::Binomial {
                successes, trials, ..
            } if trials > 0 => Some(successes as f64 / trials as f64),
            _ => None,
        };
        OpenModelEvidence {
            log10_p: statistic.tail().log10_p,
            statistic,
            positions: self.positions,
            copies_skipped: self.copies,
            repeats_skipped: self.repeats,
            scored_pairs: self.acc.scored(),
            green_share,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use provmark_core::{Profile, Scheme, SecretKey, TokenizerSpec};
    use rand::{Rng, SeedableRng};

    fn profile() -> Profile {
        Profile::from_secret(
            SecretKey::from_bytes([9; 32]),
            Scheme::DEFAULT_GREEN,
            2,
            TokenizerSpec::default_openai(),
        )
        .unwrap()
    }

    #[test]
    fn copies_and_repeats_are_skipped_and_the_rest_scored_once() {
        let p = profile();
        let wm = p.watermark(None);
        let mut t = OpenModelTest::new(&wm, PairFingerprinter::for_profile(&p)).unwrap();
        let ids = [5u32, 6, 7, 8, 5, 6, 7, 8];
        // Position 2 copies the text (7); position 7 repeats position 3's pair ((6, 7), 1).
        let predicted = [0u32, 0, 7, 1, 2, 3, 9, 1];
        t.add(&ids, &predicted, 0);
        let e = t.evidence();
        assert_eq!(e.positions, 6);
        assert_eq!(e.copies_skipped, 1);
        // Position 7: context (6, 7) with prediction 1 — the same pair as position 3.
        assert_eq!(e.repeats_skipped, 1);
        assert_eq!(e.scored_pairs, 4);
    }

    #[test]
    fn a_key_blind_suspect_gives_uniform_p_values() {
        // Predictions that ignore the key: p-values over many independent texts are uniform
        // (green is discrete, so P(p ≤ a) ≤ a; check the rejection rates at a few levels).
        let p = profile();
        let wm = p.watermark(None);
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(5);
        let runs = 2000;
        let mut rej = [0usize; 3];
        for _ in 0..runs {
            let mut t = OpenModelTest::new(&wm, PairFingerprinter::for_profile(&p)).unwrap();
            let ids: Vec<u32> = (0..120).map(|_| rng.random_range(0..50_000)).collect();
            let pred: Vec<u32> = (0..120).map(|_| rng.random_range(0..50_000)).collect();
            t.add(&ids, &pred, 0);
            let lp = t.evidence().log10_p;
            for (j, a) in [-1.0f64, -1.5, -2.0].iter().enumerate() {
                rej[j] += usize::from(lp <= *a);
            }
        }
        // Expected at most 200, 63, 20; allow binomial noise (about 4 sd) above, and require the
        // test not to be degenerate (some rejections at 0.1).
        assert!(rej[0] <= 260 && rej[0] >= 100, "{rej:?}");
        assert!(rej[1] <= 100, "{rej:?}");
        assert!(rej[2] <= 40, "{rej:?}");
    }
}
