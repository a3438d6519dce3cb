//! Unit-level checks of the scoring primitives: statistic JSON, accumulators, position rules.
#![allow(clippy::unwrap_used)]

use provmark_core::prf::{Aes128Prf, Prf};
use provmark_core::{Profile, Scheme, SecretKey, TokenizerSpec, Watermark};
use provmark_detect::{
    score_ids, score_selection, select_positions, Accumulator, ContextPolicy, Dedup, Options,
    PairFingerprinter, Scratch, Statistic,
};

fn profile(scheme: Scheme, h: usize) -> Profile {
    Profile::from_secret(
        SecretKey::from_bytes([42; 32]),
        scheme,
        h,
        TokenizerSpec::default_openai(),
    )
    .unwrap()
}

fn pseudo_ids(n: usize, seed: u64) -> Vec<u32> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % 50_000) as u32
        })
        .collect()
}

#[test]
fn statistic_json_is_exact_and_round_trips() {
    let b = Statistic::Binomial {
        successes: 7,
        trials: 20,
        gamma: 0.25,
    };
    let g = Statistic::Gamma { sum: 3.5, count: 4 };
    assert_eq!(
        serde_json::to_string(&b).unwrap(),
        r#"{"kind":"binomial","successes":7,"trials":20,"gamma":0.25}"#
    );
    assert_eq!(
        serde_json::to_string(&g).unwrap(),
        r#"{"kind":"gamma","sum":3.5,"count":4}"#
    );
    for s in [b, g] {
        let back: Statistic = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert_eq!(back, s);
        back.validate().unwrap();
    }
    assert!(serde_json::from_str::<Statistic>(r#"{"kind":"binomial","successes":1}"#).is_err());
    let bad = Statistic::Binomial {
        successes: 5,
        trials: 4,
        gamma: 0.25,
    };
    assert!(bad.validate().is_err());
}

#[test]
fn accumulator_merge_is_order_independent() {
    let scores: Vec<f64> = (1..=1000)
        .map(|i| -(1.0 - (i as f64) / 1001.0).ln())
        .collect();
    let mut whole = Accumulator::for_scheme(&Scheme::Gumbel).unwrap();
    scores.iter().for_each(|&s| whole.add(s));
    // Any split, merged in any order, gives the identical statistic (fixed-point sum).
    for split in [1usize, 7, 333, 999] {
        let mut a = Accumulator::for_scheme(&Scheme::Gumbel).unwrap();
        let mut b = a.clone();
        scores[..split].iter().rev().for_each(|&s| a.add(s));
        scores[split..].iter().for_each(|&s| b.add(s));
        b.merge(&a).unwrap();
        assert_eq!(b.statistic(), whole.statistic());
    }
    let Statistic::Gamma { sum, count } = whole.statistic() else {
        panic!("gamma expected")
    };
    assert_eq!(count, 1000);
    let naive: f64 = scores.iter().sum();
    assert!((sum - naive).abs() / naive < 1e-13, "{sum} vs {naive}");
    let mut green = Accumulator::for_scheme(&Scheme::DEFAULT_GREEN).unwrap();
    green.add(1.0);
    green.add(0.0);
    assert_eq!(
        green.statistic(),
        Statistic::Binomial {
            successes: 1,
            trials: 2,
            gamma: 0.25
        }
    );
    assert!(green.merge(&whole).is_err());
    let other_gamma = Accumulator::for_scheme(&Scheme::Green {
        gamma: 0.5,
        delta: 2.0,
    })
    .unwrap();
    assert!(green.merge(&other_gamma).is_err());
}

#[test]
fn fingerprints_do_not_depend_on_the_account_and_separate_domains() {
    let p = profile(Scheme::Gumbel, 2);
    let a = PairFingerprinter::for_profile(&p);
    let b = PairFingerprinter::from_master(p.secret());
    assert_eq!(a.pair(&[1, 2], 3), b.pair(&[1, 2], 3));
    let other = PairFingerprinter::from_master(&SecretKey::from_bytes([43; 32]));
    assert_ne!(a.pair(&[1, 2], 3), other.pair(&[1, 2], 3));
    assert_ne!(a.context(&[1, 2, 3]), a.pair(&[1, 2], 3));
    assert!(!format!("{a:?}").contains(&format!("{}", a.pair(&[], 0))));
}

#[test]
fn position_rules() {
    for scheme in [Scheme::DEFAULT_GREEN, Scheme::Gumbel] {
        let p = profile(scheme, 2);
        let wm = p.watermark(None);
        let base = Options::for_profile(&p);
        // Five-token sentence repeated: pair dedup scores it once.
        let sentence = [10u32, 11, 12, 13, 14];
        let ids: Vec<u32> = sentence.iter().copied().cycle().take(5 * 50).collect();
        let once = score_ids(&wm, &sentence, &base).unwrap();
        assert_eq!(once.scored_tokens, 3);
        let rep = score_ids(&wm, &ids, &base).unwrap();
        // Repeats add the wrap-around pairs (13,14)->10, (14,10)->11 once each, nothing more.
        assert_eq!(rep.scored_tokens, 5);
        assert_eq!(rep.total_tokens, 250);
        let none = score_ids(&wm, &ids, &base.clone().dedup(Dedup::None)).unwrap();
        assert_eq!(none.scored_tokens, 248);
        // Context dedup: same token after same context → same as pair here.
        let ctx = score_ids(&wm, &ids, &base.clone().dedup(Dedup::Context)).unwrap();
        assert_eq!(ctx.scored_tokens, 5);
        // Context dedup drops a new token after a seen context; pair dedup keeps it.
        let branch = [1u32, 2, 3, 1, 2, 4];
        assert_eq!(score_ids(&wm, &branch, &base).unwrap().scored_tokens, 4);
        assert_eq!(
            score_ids(&wm, &branch, &base.clone().dedup(Dedup::Context))
                .unwrap()
                .scored_tokens,
            3
        );
        // Padding scores the first h positions too.
        let pad = base
            .clone()
            .context_policy(ContextPolicy::PadWith(u32::MAX));
        assert_eq!(score_ids(&wm, &sentence, &pad).unwrap().scored_tokens, 5);
        // Special tokens are skipped.
        let is_special = |id: u32| id == 12;
        let sp = base.clone().special_tokens(&is_special);
        assert_eq!(score_ids(&wm, &sentence, &sp).unwrap().scored_tokens, 2);
        assert_eq!(
            score_ids(&wm, &sentence, &sp.clone().skip_special(false))
                .unwrap()
                .scored_tokens,
            3
        );
        // With a prompt, its last h ids are the context of the first positions (spec §4), and
        // contexts that occur in the prompt are skipped: here (11,12)→10, (10,11)→12 and
        // (11,12)→13 are skipped; (12,10)→11 and (12,13)→14 are scored.
        let prompt = [99u32, 10, 11, 12];
        let pr = base.clone().prompt(&prompt);
        assert_eq!(score_ids(&wm, &sentence, &pr).unwrap().scored_tokens, 2);
        assert_eq!(
            score_ids(&wm, &sentence, &pr.clone().skip_prompt_contexts(false))
                .unwrap()
                .scored_tokens,
            5
        );
        // A prompt shorter than h supplies what it has; the rest is missing (or padded).
        let short_prompt = [7u32];
        let sp1 = base
            .clone()
            .prompt(&short_prompt)
            .skip_prompt_contexts(false);
        assert_eq!(score_ids(&wm, &sentence, &sp1).unwrap().scored_tokens, 4);
        let sp2 = sp1.clone().context_policy(ContextPolicy::PadWith(u32::MAX));
        assert_eq!(score_ids(&wm, &sentence, &sp2).unwrap().scored_tokens, 5);
        // The prompt-supplied context is what generation used: position 0 after prompt (…, 8, 9)
        // is scored with context (8, 9).
        let wm2 = p.watermark(None);
        let st = wm2.absorb(&[8, 9]);
        let expect = wm2.score(&st, 10);
        let lone = base
            .clone()
            .prompt(&[8, 9])
            .skip_prompt_contexts(false)
            .keep_positions(true);
        let ev = score_ids(&wm2, &[10], &lone).unwrap();
        assert_eq!(ev.positions.unwrap().score, vec![expect]);
        // Too-short input and empty input: nothing scored, p = 1.
        for short in [&[][..], &[5u32][..], &[5u32, 6][..]] {
            let ev = score_ids(&wm, short, &base).unwrap();
            assert_eq!(ev.scored_tokens, 0);
            assert_eq!(ev.log10_p, 0.0);
            assert_eq!(ev.p_value(), 1.0);
        }
    }
}

#[test]
fn kept_positions_agree_with_the_statistic_and_selection_rescoring() {
    for scheme in [Scheme::DEFAULT_GREEN, Scheme::Gumbel] {
        let p = profile(scheme, 3);
        let wm = p.watermark(None);
        let mut ids = pseudo_ids(2000, 5);
        ids.extend_from_within(100..600); // a repeated block
        let opts = Options::for_profile(&p).keep_positions(true);
        let ev = score_ids(&wm, &ids, &opts).unwrap();
        let pos = ev.positions.clone().unwrap();
        assert_eq!(pos.index.len() as u64, ev.scored_tokens);
        let mut acc = Accumulator::for_scheme(&scheme).unwrap();
        pos.score.iter().for_each(|&s| acc.add(s));
        assert_eq!(acc.statistic(), ev.statistic);
        let plain = score_ids(&wm, &ids, &Options::for_profile(&p)).unwrap();
        assert_eq!(plain.statistic, ev.statistic);
        assert!(plain.positions.is_none());
        let sel = select_positions(3, &ids, &opts, &mut Scratch::new()).unwrap();
        assert_eq!(sel.positions(), &pos.index[..]);
        let again = score_selection(&wm, &ids, &sel, true).unwrap();
        assert_eq!(again, ev);
        // A mismatched selection is a typed error.
        assert!(score_selection(&wm, &ids[..10], &sel, false).is_err());
    }
}

#[test]
fn generic_prf_matches_anyprf() {
    let p = profile(Scheme::Gumbel, 2);
    let any = p.watermark(None);
    let native = Watermark::new(Aes128Prf::new(p.secret(), 2), Scheme::Gumbel, 2).unwrap();
    assert_eq!(native.prf().id(), any.prf().id());
    let ids = pseudo_ids(5000, 9);
    let opts = Options::for_profile(&p);
    assert_eq!(
        score_ids(&any, &ids, &opts).unwrap(),
        score_ids(&native, &ids, &opts).unwrap()
    );
}

#[test]
fn clean_text_is_not_significant_and_statistic_matches_tail() {
    let p = profile(Scheme::DEFAULT_GREEN, 2);
    let wm = p.watermark(None);
    let ev = score_ids(&wm, &pseudo_ids(10_000, 77), &Options::for_profile(&p)).unwrap();
    assert!(ev.p_value() > 1e-4, "{ev:?}");
    assert_eq!(ev.log10_p, ev.statistic.tail().log10_p);
}

/// A PRF whose word depends on the token alone (like the coarse seeds of vLLM's SBW): it says
/// so through `keyed_input`.
struct TokenOnlyPrf;

impl Prf for TokenOnlyPrf {
    type State = ();
    fn id(&self) -> &'static str {
        "test-token-only"
    }
    fn absorb(&self, _context: &[u32]) {}
    fn word(&self, _state: &(), token: u32) -> u64 {
        u64::from(token).wrapping_mul(0x9E37_79B9_7F4A_7C15)
    }
    fn keyed_input(&self, _state: &(), token: u32) -> Option<(u64, u32)> {
        Some((0, token))
    }
}

#[test]
fn pair_dedup_also_dedups_the_keyed_input() {
    let p = profile(Scheme::DEFAULT_GREEN, 2);
    let wm = Watermark::new(TokenOnlyPrf, Scheme::DEFAULT_GREEN, 2).unwrap();
    // Token 7 after five different contexts: one keyed value, scored once under pair dedup.
    let ids = [1u32, 2, 7, 3, 4, 7, 5, 6, 7, 8, 9, 7, 10, 11, 7];
    let pair = score_ids(&wm, &ids, &Options::for_profile(&p)).unwrap();
    // Scored positions 2..15 carry the tokens 7,3,4,7,5,6,7,8,9,7,10,11,7: 9 distinct.
    assert_eq!(pair.scored_tokens, 9);
    // Reference rules (context / none) reproduce other detectors: no keyed-input dedup.
    let none = score_ids(&wm, &ids, &Options::for_profile(&p).dedup(Dedup::None)).unwrap();
    assert_eq!(none.scored_tokens, 13);
    // The selection path (attribution) applies the same rule.
    let opts = Options::for_profile(&p);
    let sel = select_positions(2, &ids, &opts, &mut Scratch::new()).unwrap();
    assert_eq!(score_selection(&wm, &ids, &sel, false).unwrap(), pair);
}

#[test]
fn tournament_statistic_counts_layers() {
    let layers = 30;
    let scheme = Scheme::Tournament { layers };
    let p = profile(Scheme::DEFAULT_GREEN, 2);
    let wm = Watermark::new(Aes128Prf::new(p.secret(), 2), scheme, 2).unwrap();
    let ids = pseudo_ids(3000, 21);
    let ev = score_ids(&wm, &ids, &Options::for_profile(&p).keep_positions(true)).unwrap();
    let Statistic::Binomial {
        successes,
        trials,
        gamma,
    } = ev.statistic
    else {
        panic!("binomial expected")
    };
    assert_eq!(gamma, 0.5);
    assert_eq!(trials, ev.scored_tokens * u64::from(layers));
    let pos = ev.positions.clone().unwrap();
    let mut acc = Accumulator::for_scheme(&scheme).unwrap();
    let mut direct = 0u64;
    for &i in &pos.index {
        let i = i as usize;
        let st = wm.absorb(&ids[i - 2..i]);
        direct += wm.score(&st, ids[i]) as u64;
    }
    pos.score.iter().for_each(|&s| acc.add(s));
    assert_eq!(successes, direct);
    assert_eq!(acc.statistic(), ev.statistic);
    assert_eq!(acc.scored(), ev.scored_tokens);
    // Clean ids: about half the g-values are 1, not significant.
    assert!(ev.p_value() > 1e-4);
    let found =
        provmark_detect::find_spans(&ev, None, &provmark_detect::SpanOptions::default()).unwrap();
    assert!(found.spans.is_empty());
}
