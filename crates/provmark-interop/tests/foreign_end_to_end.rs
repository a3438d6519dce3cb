//! End to end for each foreign scheme: a profile from an imported key, text generated with the
//! vLLM-compatible generator or the SynthID processor from a simulated next-token distribution
//! (random logits; a simulation, not a language model), detection with provmark's exact tests.
//! Watermarked text is detected at 1e-6; text sampled without the watermark is not (fixed seeds).
#![allow(clippy::unwrap_used)]

use provmark_core::prf::{SbwVariant, SynthIdPrf, SYNTHID_DEFAULT_KEYS};
use provmark_core::{SecretKey, TokenizerSpec};
use provmark_detect::fingerprint::PairFingerprinter;
use provmark_detect::tail::binomial_upper;
use provmark_detect::{score_ids, ContextPolicy, Dedup, Options};
use provmark_interop::exact::dual_key_upper;
use provmark_interop::import::{
    synthid_profile_with_secret, vllm_profile_with_secret, VllmImport, VllmImportAlgorithm,
};
use provmark_interop::synthid::{
    detect, DetectOptions, ProcessorConfig, ProcessorStep, SynthIdProcessor,
};
use provmark_interop::vllm::{dual_key_route, Route, VllmAlgorithm, VllmConfig, VllmWatermarker};

const VOCAB: usize = 2000;
const LEN: usize = 200;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
    /// Simulated next-token logits: spread 8 nats over the vocabulary.
    fn logits(&mut self) -> Vec<f32> {
        (0..VOCAB).map(|_| (self.next() * 8.0) as f32).collect()
    }
    /// Samples an index from softmax(logits).
    fn sample(&mut self, logits: &[f32]) -> usize {
        let m = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let w: Vec<f64> = logits.iter().map(|&l| f64::from(l - m).exp()).collect();
        let mut u = self.next() * w.iter().sum::<f64>();
        for (i, x) in w.iter().enumerate() {
            u -= x;
            if u <= 0.0 {
                return i;
            }
        }
        w.len() - 1
    }
}

fn clean_text(seed: u64) -> Vec<u32> {
    let mut r = Rng(seed);
    (0..LEN)
        .map(|_| {
            let l = r.logits();
            r.sample(&l) as u32
        })
        .collect()
}

fn opts() -> Options<'static> {
    Options::with_fingerprinter(PairFingerprinter::from_master(&SecretKey::from_bytes(
        [2; 32],
    )))
    .dedup(Dedup::Pair)
    .context_policy(ContextPolicy::PadWith(u32::MAX))
}

fn vllm_generate(wm: &VllmWatermarker, seed: u64) -> Vec<u32> {
    let mut r = Rng(seed);
    let mut req = wm.request(&[]);
    let mut out = Vec::new();
    for _ in 0..LEN {
        let mut logits = r.logits();
        let tok = match wm.config().algorithm {
            VllmAlgorithm::Sbw { .. } => {
                wm.bias(&req, &mut logits).unwrap();
                r.sample(&logits) as u32
            }
            VllmAlgorithm::DualKeyGumbel { alpha } => {
                let route = dual_key_route(alpha, r.next());
                match wm.select(&req, &logits, route).unwrap() {
                    Some(t) => t,
                    None => r.sample(&logits) as u32,
                }
            }
            _ => match wm.select(&req, &logits, Route::A).unwrap() {
                Some(t) => t,
                None => r.sample(&logits) as u32,
            },
        };
        out.push(tok);
        req.push(tok);
    }
    out
}

#[test]
fn vllm_gumbel_and_sbw_profiles_detect_generated_text() {
    for (algorithm, sbw_variant) in [
        (VllmImportAlgorithm::Gumbel, None),
        (VllmImportAlgorithm::Sbw, Some(SbwVariant::SelfHash)),
        (VllmImportAlgorithm::Sbw, Some(SbwVariant::LeftHash)),
    ] {
        let imp = VllmImport {
            algorithm,
            sbw_variant,
            ..VllmImport::default()
        };
        let profile = vllm_profile_with_secret(
            SecretKey::from_bytes([4; 32]),
            42,
            &imp,
            TokenizerSpec::default_openai(),
        )
        .unwrap();
        let alg = match algorithm {
            VllmImportAlgorithm::Gumbel => VllmAlgorithm::Gumbel,
            _ => VllmAlgorithm::Sbw {
                variant: sbw_variant.unwrap(),
                gamma: 0.5,
                delta: 2.0,
            },
        };
        let mut cfg = VllmConfig::new(alg);
        cfg.context_width = profile.context_width;
        let gen = VllmWatermarker::new(42, &cfg).unwrap();
        let wm = profile.watermark(None);
        let marked = score_ids(&wm, &vllm_generate(&gen, 11), &opts()).unwrap();
        let clean = score_ids(&wm, &clean_text(12), &opts()).unwrap();
        eprintln!(
            "{}: watermarked p = {:e} ({} scored), clean p = {:.3}",
            profile.prf,
            marked.p_value(),
            marked.scored_tokens,
            clean.p_value()
        );
        assert!(
            marked.p_value() < 1e-6,
            "{}: {}",
            profile.prf,
            marked.p_value()
        );
        assert!(
            clean.p_value() > 1e-3,
            "{}: {}",
            profile.prf,
            clean.p_value()
        );
    }
}

#[test]
fn vllm_dual_key_profile_detects_generated_text() {
    let imp = VllmImport {
        algorithm: VllmImportAlgorithm::DualKeyGumbel,
        ..VllmImport::default()
    };
    let profile = vllm_profile_with_secret(
        SecretKey::from_bytes([4; 32]),
        7,
        &imp,
        TokenizerSpec::default_openai(),
    )
    .unwrap();
    let gen = VllmWatermarker::new(
        7,
        &VllmConfig::new(VllmAlgorithm::DualKeyGumbel { alpha: 0.1 }),
    )
    .unwrap();
    let wm = profile.watermark(None);
    let test = |ids: &[u32]| {
        // provmark's dual-key scheme score, pair dedup over the vLLM contexts, exact tail.
        let mut s = 0.0;
        let mut seen = std::collections::HashSet::new();
        let mut n = 0;
        let mut padded = vec![u32::MAX; 4];
        padded.extend_from_slice(ids);
        for (i, &t) in ids.iter().enumerate() {
            let ctx = &padded[i..i + 4];
            if seen.insert((ctx.to_vec(), t)) {
                s += wm.score(&wm.absorb(ctx), t);
                n += 1;
            }
        }
        dual_key_upper(s, n, 0.1).p_value()
    };
    let marked = test(&vllm_generate(&gen, 21));
    let clean = test(&clean_text(22));
    eprintln!("dual-key: watermarked p = {marked:e}, clean p = {clean:.3}");
    assert!(marked < 1e-6 && clean > 1e-3);

    // provmark's detector with the profile's defaults (pair dedup, vLLM's padding) computes the
    // same statistic, as `{"kind":"dual_key_gamma",…}` with the exact tail.
    for ids in [vllm_generate(&gen, 21), clean_text(22)] {
        let ev = score_ids(&wm, &ids, &Options::for_profile(&profile)).unwrap();
        let provmark_detect::Statistic::DualKeyGamma { sum, count, alpha } = ev.statistic else {
            panic!("expected the dual-key statistic, got {:?}", ev.statistic)
        };
        assert_eq!(alpha, 0.1);
        assert_eq!(count, ev.scored_tokens);
        assert_eq!(count as usize, ids.len(), "all 200 pairs distinct here");
        assert_eq!(ev.log10_p, dual_key_upper(sum, count, 0.1).log10_p);
        let manual = test(&ids);
        if manual > 0.0 {
            assert!((ev.p_value() / manual - 1.0).abs() < 1e-9);
        } else {
            assert!(ev.log10_p < -300.0);
        }
        let json = serde_json::to_string(&ev.statistic).unwrap();
        assert!(
            json.starts_with(r#"{"kind":"dual_key_gamma","sum":"#),
            "{json}"
        );
    }
}

#[test]
fn synthid_profile_detects_generated_text() {
    let profile = synthid_profile_with_secret(
        SecretKey::from_bytes([4; 32]),
        &SYNTHID_DEFAULT_KEYS,
        None,
        TokenizerSpec::default_openai(),
    )
    .unwrap();
    assert_eq!(profile.context_width, 4);
    let prf = SynthIdPrf::new(&SYNTHID_DEFAULT_KEYS, 4).unwrap();
    let mut proc = SynthIdProcessor::new(
        prf.clone(),
        ProcessorConfig {
            temperature: 1.0,
            top_k: 40,
            ..ProcessorConfig::default()
        },
    )
    .unwrap();
    let mut r = Rng(31);
    let mut step = ProcessorStep::default();
    let mut marked = Vec::new();
    let mut last = 0u32;
    for _ in 0..LEN {
        let logits = r.logits();
        proc.call(last, &logits, &mut step).unwrap();
        last = step.indices[r.sample(&step.scores)];
        marked.push(last);
    }
    let test = |ids: &[u32]| {
        let d = detect(&prf, ids, &DetectOptions::default());
        // The profile's tournament scheme gives the same g-sum.
        let wm = profile.watermark(None);
        let ctxs = provmark_interop::synthid::context_repetition_mask(&prf, ids, 1024);
        let s: f64 = ids
            .windows(5)
            .zip(&ctxs)
            .filter(|(_, &m)| m)
            .map(|(w, _)| wm.score(&wm.absorb(&w[..4]), w[4]))
            .sum();
        assert_eq!(s as u64, d.g_sum);
        // provmark's detector: context dedup without padding reproduces the reference's
        // repetition mask on texts shorter than its 1024-entry window.
        let o = Options::with_fingerprinter(PairFingerprinter::from_master(
            &SecretKey::from_bytes([2; 32]),
        ))
        .dedup(Dedup::Context)
        .context_policy(ContextPolicy::SkipPartial);
        let ev = score_ids(&wm, ids, &o).unwrap();
        match ev.statistic {
            provmark_detect::Statistic::Binomial {
                successes,
                trials,
                gamma,
            } => {
                assert_eq!((successes, trials, gamma), (d.g_sum, d.trials, 0.5));
            }
            other => panic!("expected a binomial statistic, got {other:?}"),
        }
        (binomial_upper(d.g_sum, d.trials, 0.5).p_value(), d.mean)
    };
    let (pm, mean_m) = test(&marked);
    let (pc, mean_c) = test(&clean_text(32));
    eprintln!("synthid: watermarked p = {pm:e} (mean g {mean_m:.3}), clean p = {pc:.3} (mean g {mean_c:.3})");
    assert!(pm < 1e-6 && pc > 1e-3);
}
