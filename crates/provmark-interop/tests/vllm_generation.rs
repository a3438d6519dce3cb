//! vLLM-compatible generation: exact pruning, candidate paths, the repeated-context rule, SBW
//! bias consistency with provmark's `is_green`, and bad input.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use provmark_core::prf::{Prf, SbwPrf, SbwVariant, VllmPhiloxPrf};
use provmark_core::{Scheme, Watermark};
use provmark_interop::vllm::{
    gumbel_noise_f32, gumbel_select, gumbel_select_candidates, sbw_bias, sbw_bias_candidates,
    GenDedup, Route, StepKind, VllmAlgorithm, VllmConfig, VllmWatermarker,
};

struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Exhaustive argmax of logit + noise (NaN as −∞), ties to the lowest id.
fn naive(prf: &VllmPhiloxPrf, s: &[u32; 4], ids: &[u32], logits: &[f32]) -> u32 {
    let mut best = (f32::NEG_INFINITY, u32::MAX);
    for (&id, &l) in ids.iter().zip(logits) {
        let l = if l.is_nan() { f32::NEG_INFINITY } else { l };
        let v = l + gumbel_noise_f32(prf.uniform(prf.word(s, id)) as f32);
        if v > best.0 || (v == best.0 && id < best.1) {
            best = (v, id);
        }
    }
    best.1
}

#[test]
fn pruned_gumbel_equals_exhaustive() {
    let mut r = Lcg(5);
    let prf = VllmPhiloxPrf::new(0xDEAD_BEEF, 4);
    for trial in 0..300 {
        let vocab = 1 + (r.next() * 3000.0) as usize;
        let spread = [0.5, 4.0, 20.0, 60.0][trial % 4];
        let mut logits: Vec<f32> = (0..vocab).map(|_| (r.next() * spread) as f32).collect();
        // Ties, NaN and −∞ now and then.
        if trial % 5 == 0 {
            for l in logits.iter_mut().step_by(3) {
                *l = 1.0;
            }
        }
        if trial % 7 == 0 {
            logits[0] = f32::NAN;
            logits[vocab / 2] = f32::NEG_INFINITY;
        }
        let s = prf.absorb(&[trial as u32, 1, 2, 3]);
        let ids: Vec<u32> = (0..vocab as u32).collect();
        assert_eq!(
            gumbel_select(&prf, &s, &logits).unwrap(),
            naive(&prf, &s, &ids, &logits),
            "trial {trial}"
        );
        // A shuffled candidate subset with large ids.
        let cand: Vec<u32> = (0..vocab as u32)
            .map(|i| (i * 7919 + 13) % 200_000)
            .collect();
        assert_eq!(
            gumbel_select_candidates(&prf, &s, &cand, &logits).unwrap(),
            naive(&prf, &s, &cand, &logits),
            "trial {trial} (candidates)"
        );
    }
    // All −∞: token 0 like torch.argmax.
    let s = prf.absorb(&[1, 2, 3, 4]);
    assert_eq!(gumbel_select(&prf, &s, &[f32::NEG_INFINITY; 9]).unwrap(), 0);
    assert_eq!(gumbel_select(&prf, &s, &[f32::NAN; 3]).unwrap(), 0);
}

#[test]
fn full_vocabulary_and_candidate_paths_agree() {
    let prf = VllmPhiloxPrf::new(42, 4);
    let s = prf.absorb(&[9, 8, 7, 6]);
    let logits: Vec<f32> = (0..1000)
        .map(|i| ((i * 37 % 131) as f32 - 56.0) / 16.0)
        .collect();
    let full = gumbel_select(&prf, &s, &logits).unwrap();
    let ids: Vec<u32> = (0..1000).collect();
    assert_eq!(
        gumbel_select_candidates(&prf, &s, &ids, &logits).unwrap(),
        full
    );
    // A top-k list that contains the full-vocabulary winner picks it too.
    let mut top: Vec<u32> = ids.clone();
    top.sort_by(|&a, &b| {
        logits[b as usize]
            .total_cmp(&logits[a as usize])
            .then(a.cmp(&b))
    });
    top.truncate(200);
    if top.contains(&full) {
        let l: Vec<f32> = top.iter().map(|&i| logits[i as usize]).collect();
        assert_eq!(gumbel_select_candidates(&prf, &s, &top, &l).unwrap(), full);
    }
}

#[test]
fn sbw_bias_matches_is_green() {
    for variant in [
        SbwVariant::SelfHash,
        SbwVariant::LeftHash,
        SbwVariant::LeftHashRawSum,
    ] {
        for gamma in [0.5, 0.25, 0.1] {
            let prf = SbwPrf::new(7, variant, 3);
            let wm = Watermark::new(prf.clone(), Scheme::Green { gamma, delta: 2.0 }, 3).unwrap();
            let ctx = [u32::MAX, 17, 4];
            let st = prf.absorb(&ctx);
            let mut logits = vec![0.0f32; 512];
            sbw_bias(&prf, &st, gamma, 2.0, &mut logits);
            let greens = logits.iter().filter(|&&l| l == 2.0).count();
            for (v, &l) in logits.iter().enumerate() {
                assert_eq!(
                    l == 2.0,
                    wm.is_green(&st, v as u32),
                    "{variant:?} γ={gamma} v={v}"
                );
            }
            // Roughly γ of the vocabulary (binomial, 512 draws: ±6σ).
            let sd = (512.0 * gamma * (1.0 - gamma)).sqrt();
            assert!((greens as f64 - 512.0 * gamma).abs() < 6.0 * sd, "{greens}");
            let ids = [5u32, 300, 2, 511];
            let mut cl = [1.0f32; 4];
            sbw_bias_candidates(&prf, &st, gamma, 2.0, &ids, &mut cl);
            for (&id, &l) in ids.iter().zip(&cl) {
                assert_eq!(l == 3.0, wm.is_green(&st, id));
            }
        }
    }
}

#[test]
fn repeated_context_rule() {
    let mut cfg = VllmConfig::new(VllmAlgorithm::Gumbel);
    cfg.context_width = 1;
    let wm = VllmWatermarker::new(1, &cfg).unwrap();
    let mut req = wm.request(&[]);
    // history: 5 then 6; contexts seen: [-1] (before 5), [5] (before 6).
    assert_eq!(req.step_kind(), StepKind::Watermark); // context [-1], nothing seen yet
    req.push(5);
    assert_eq!(req.step_kind(), StepKind::Watermark); // context [5]
    req.push(6);
    assert_eq!(req.step_kind(), StepKind::Watermark); // context [6]
    req.push(5);
    assert_eq!(req.step_kind(), StepKind::RepeatedContext); // [5] preceded token 6
    assert_eq!(req.context(), &[5]);

    // max_history 2: only the last two history positions count.
    cfg.max_history = Some(2);
    let wm = VllmWatermarker::new(1, &cfg).unwrap();
    let mut req = wm.request(&[]);
    for t in [5, 6, 7] {
        req.push(t);
    }
    req.push(5); // context [5] preceded position 1 (< start = 4 − 2 = 2)
    assert_eq!(req.step_kind(), StepKind::Watermark);

    // all: prompt enters the history, the first h generated steps are partial.
    cfg.dedup = GenDedup::All;
    cfg.max_history = None;
    cfg.context_width = 2;
    let wm = VllmWatermarker::new(1, &cfg).unwrap();
    let mut req = wm.request(&[3, 4, 9]);
    assert_eq!(req.step_kind(), StepKind::PartialContext);
    req.push(3);
    assert_eq!(req.step_kind(), StepKind::PartialContext);
    req.push(4);
    // Context [3, 4] preceded prompt token 9.
    assert_eq!(req.step_kind(), StepKind::RepeatedContext);
    assert_eq!(wm.select(&req, &[0.0; 8], Route::A).unwrap(), None);

    // none: always watermarked.
    cfg.dedup = GenDedup::None;
    let wm = VllmWatermarker::new(1, &cfg).unwrap();
    let mut req = wm.request(&[]);
    for _ in 0..5 {
        assert_eq!(req.step_kind(), StepKind::Watermark);
        req.push(1);
    }
}

#[test]
fn bad_input_is_an_error() {
    let wm = VllmWatermarker::new(1, &VllmConfig::new(VllmAlgorithm::Gumbel)).unwrap();
    let req = wm.request(&[]);
    assert!(wm.select(&req, &[], Route::A).is_err());
    assert!(wm
        .select_candidates(&req, &[1, 2], &[0.0], Route::A)
        .is_err());
    let mut l = [0.0f32; 4];
    assert!(wm.bias(&req, &mut l).is_err());
    let sbw = VllmAlgorithm::Sbw {
        variant: SbwVariant::SelfHash,
        gamma: 0.5,
        delta: 2.0,
    };
    let ws = VllmWatermarker::new(1, &VllmConfig::new(sbw)).unwrap();
    assert!(ws.select(&ws.request(&[]), &[0.0], Route::A).is_err());
    assert!(ws.bias_candidates(&ws.request(&[]), &[1], &mut l).is_err());
    for bad in [
        VllmAlgorithm::DualKeyGumbel { alpha: 1.5 },
        VllmAlgorithm::Sbw {
            variant: SbwVariant::SelfHash,
            gamma: 1.0,
            delta: 2.0,
        },
        VllmAlgorithm::Sbw {
            variant: SbwVariant::SelfHash,
            gamma: 0.5,
            delta: f64::NAN,
        },
    ] {
        assert!(VllmWatermarker::new(1, &VllmConfig::new(bad)).is_err());
    }
    let mut cfg = VllmConfig::new(VllmAlgorithm::Gumbel);
    for w in [0, 17] {
        cfg.context_width = w;
        assert!(VllmWatermarker::new(1, &cfg).is_err());
    }
    // The key never shows in Debug output.
    let dbg = format!(
        "{:?}",
        VllmWatermarker::new(
            0x1234_5678_9abc_def0,
            &VllmConfig::new(VllmAlgorithm::Gumbel)
        )
        .unwrap()
    );
    assert!(
        !dbg.contains("1311768467463790320") && !dbg.to_lowercase().contains("123456789abcdef0"),
        "{dbg}"
    );
}
