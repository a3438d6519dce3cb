//! Validity of exact tests on vLLM's SBW selfhash: its seed ignores the oldest context token and
//! is a min over the others and the token itself, so many distinct (context, token) pairs share
//! one keyed input (seed, token) and hence one green bit. Deduplicating on (context, token)
//! alone leaves those copies in and the binomial test over-rejects on clean text; adding
//! `Prf::keyed_input` to the dedup restores validity.
#![allow(clippy::unwrap_used)]

use std::collections::HashSet;

use provmark_core::prf::{Prf, SbwPrf, SbwVariant};
use provmark_detect::tail::binomial_upper;

/// Clean, text-like ids: log-uniform over 20k (a Zipf-like frequency profile).
fn clean_text(next: &mut impl FnMut() -> f64, len: usize) -> Vec<u32> {
    (0..len)
        .map(|_| ((20_000f64).powf(next()) as u32).min(19_999))
        .collect()
}

/// (k, n) of the green-count test with pair dedup, optionally also deduplicating keyed inputs.
fn green_count(prf: &SbwPrf, ids: &[u32], h: usize, keyed: bool) -> (u64, u64) {
    let mut pairs = HashSet::new();
    let mut inputs = HashSet::new();
    let (mut k, mut n) = (0, 0);
    for i in h..ids.len() {
        let ctx = &ids[i - h..i];
        if !pairs.insert((ctx.to_vec(), ids[i])) {
            continue;
        }
        let st = prf.absorb(ctx);
        if keyed {
            if let Some(input) = prf.keyed_input(&st, ids[i]) {
                if !inputs.insert(input) {
                    continue;
                }
            }
        }
        n += 1;
        k += u64::from(prf.uniform(prf.word(&st, ids[i])) < 0.5);
    }
    (k, n)
}

#[test]
fn selfhash_needs_keyed_input_dedup() {
    let mut s = 7u64;
    let mut next = move || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (s >> 11) as f64 / (1u64 << 53) as f64
    };
    let (texts, len, h, alpha) = (1500u32, 400usize, 4usize, 0.01f64);
    let (mut rej_pair, mut rej_keyed) = (0u32, 0u32);
    for t in 0..texts {
        let ids = clean_text(&mut next, len);
        let prf = SbwPrf::new(1_000_003 + u64::from(t) * 7919, SbwVariant::SelfHash, h);
        let (k, n) = green_count(&prf, &ids, h, false);
        rej_pair += u32::from(binomial_upper(k, n, 0.5).p_value() <= alpha);
        let (k, n) = green_count(&prf, &ids, h, true);
        rej_keyed += u32::from(binomial_upper(k, n, 0.5).p_value() <= alpha);
    }
    // 99.9% upper bound of Binomial(texts, α): mean + 3.1 sd.
    let mean = f64::from(texts) * alpha;
    let bound = mean + 3.1 * (mean * (1.0 - alpha)).sqrt();
    eprintln!(
        "FPR at α = {alpha}: pair dedup {:.4}, pair + keyed-input dedup {:.4} (bound {:.4})",
        f64::from(rej_pair) / f64::from(texts),
        f64::from(rej_keyed) / f64::from(texts),
        bound / f64::from(texts)
    );
    assert!(
        f64::from(rej_keyed) <= bound,
        "keyed-input dedup over-rejects: {rej_keyed}"
    );
    assert!(
        f64::from(rej_pair) > bound,
        "pair dedup alone was expected to over-reject: {rej_pair}"
    );
}

#[test]
fn keyed_input_is_the_seed() {
    let prf = SbwPrf::new(42, SbwVariant::SelfHash, 4);
    // The oldest context token is ignored: same keyed input, same word.
    let (a, b) = (prf.absorb(&[1, 10, 11, 12]), prf.absorb(&[2, 10, 11, 12]));
    assert_eq!(prf.keyed_input(&a, 5), prf.keyed_input(&b, 5));
    assert_eq!(prf.word(&a, 5), prf.word(&b, 5));
    // The min over the other context tokens ignores their order.
    let c = prf.absorb(&[3, 12, 11, 10]);
    assert_eq!(prf.word(&a, 5), prf.word(&c, 5));
    assert_eq!(prf.keyed_input(&a, 5), Some((prf.seed(&a, 5) as u64, 5)));
    // lefthash: the sum ignores order too.
    let l = SbwPrf::new(42, SbwVariant::LeftHash, 3);
    assert_eq!(
        l.word(&l.absorb(&[4, 5, 6]), 9),
        l.word(&l.absorb(&[6, 4, 5]), 9)
    );
}

/// Share of pair-deduplicated positions whose keyed input repeats an earlier one, on 100k
/// tokens of Zipf-like text (vocabulary 50k).
#[test]
fn keyed_input_repeat_share() {
    let mut s = 1u64;
    let mut next = move || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (s >> 11) as f64 / (1u64 << 53) as f64
    };
    let ids: Vec<u32> = (0..100_000)
        .map(|_| ((50_000f64).powf(next()) as u32).min(49_999))
        .collect();
    for (variant, h) in [(SbwVariant::SelfHash, 4usize), (SbwVariant::LeftHash, 4)] {
        let prf = SbwPrf::new(42, variant, h);
        let (mut pairs, mut inputs) = (HashSet::new(), HashSet::new());
        let (mut scored, mut repeats) = (0u32, 0u32);
        for i in h..ids.len() {
            let ctx = &ids[i - h..i];
            if !pairs.insert((ctx.to_vec(), ids[i])) {
                continue;
            }
            scored += 1;
            let input = prf.keyed_input(&prf.absorb(ctx), ids[i]).unwrap();
            repeats += u32::from(!inputs.insert(input));
        }
        let share = f64::from(repeats) / f64::from(scored);
        eprintln!("{variant:?} h={h}: {repeats} of {scored} pair-deduped positions ({:.1}%) repeat a keyed input", 100.0 * share);
        match variant {
            SbwVariant::SelfHash => assert!(share > 0.2, "{share}"),
            _ => assert!(share < 0.01, "{share}"),
        }
    }
}
