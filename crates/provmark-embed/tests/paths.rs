//! Path equivalences: full vocabulary vs candidate lists, pruned vs brute-force Gumbel, bias vs
//! the core's green test, batch vs single calls, and the repeated-context skip.

#![allow(clippy::unwrap_used)] // tests: a panic is a failure report

mod common;

use common::embedder;
use provmark_core::prf::Prf;
use provmark_core::Scheme;
use provmark_embed::{sample_plain, Choice, Dist, EmbedError, Scratch, SequenceState};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const VOCAB: usize = 3000;

/// Peaked logits like a chat model: a few large values, a long tail, some masked entries.
fn logits(rng: &mut ChaCha8Rng) -> Vec<f32> {
    (0..VOCAB)
        .map(|_| {
            let r: f64 = rng.random();
            if r < 0.2 {
                f32::NEG_INFINITY
            } else if r < 0.202 {
                rng.random_range(5.0..12.0)
            } else {
                rng.random_range(-8.0..0.0)
            }
        })
        .collect()
}

fn candidates(full: &[f32]) -> (Vec<u32>, Vec<f32>) {
    full.iter()
        .enumerate()
        .filter(|(_, l)| l.is_finite())
        .map(|(i, &l)| (i as u32, l))
        .unzip()
}

fn probs(logits: &[f32]) -> Vec<f32> {
    common::softmax(logits).iter().map(|&p| p as f32).collect()
}

#[test]
fn full_and_candidate_paths_choose_identically() {
    let mut data = ChaCha8Rng::seed_from_u64(1);
    for scheme in [Scheme::DEFAULT_GREEN, Scheme::Gumbel] {
        let e = embedder(11, scheme, 2, VOCAB);
        let mut scratch = Scratch::with_capacity(VOCAB);
        for step in 0..40u32 {
            let full = logits(&mut data);
            let (ids, cand) = candidates(&full);
            let p_full = probs(&full);
            let p_cand: Vec<f32> = ids.iter().map(|&i| p_full[i as usize]).collect();
            let ctx = [step, 99];
            let seed = data.random::<u64>();
            let pairs = [
                (
                    Dist::Logits(&full),
                    Dist::CandidateLogits {
                        ids: &ids,
                        logits: &cand,
                    },
                ),
                (
                    Dist::Probs(&p_full),
                    Dist::CandidateProbs {
                        ids: &ids,
                        probs: &p_cand,
                    },
                ),
            ];
            for (a, b) in pairs {
                let (mut s1, mut s2) = (e.new_sequence(4), e.new_sequence(4));
                let (mut r1, mut r2) = (
                    ChaCha8Rng::seed_from_u64(seed),
                    ChaCha8Rng::seed_from_u64(seed),
                );
                let x = e.choose(&mut s1, &ctx, a, &mut scratch, &mut r1).unwrap();
                let y = e.choose(&mut s2, &ctx, b, &mut scratch, &mut r2).unwrap();
                assert_eq!(x, y, "scheme {} step {step}", scheme.name());
                assert!(x.watermarked && full[x.token as usize].is_finite());
                // Plain sampling agrees too.
                let (mut r1, mut r2) = (
                    ChaCha8Rng::seed_from_u64(seed),
                    ChaCha8Rng::seed_from_u64(seed),
                );
                assert_eq!(
                    sample_plain(VOCAB, a, &mut scratch, &mut r1).unwrap(),
                    sample_plain(VOCAB, b, &mut scratch, &mut r2).unwrap()
                );
            }
            if matches!(scheme, Scheme::Gumbel) {
                // Gumbel does not depend on the list order.
                let mut order: Vec<usize> = (0..ids.len()).collect();
                order.reverse();
                let ids_r: Vec<u32> = order.iter().map(|&i| ids[i]).collect();
                let cand_r: Vec<f32> = order.iter().map(|&i| cand[i]).collect();
                let mut rng = ChaCha8Rng::seed_from_u64(0);
                let x = e
                    .choose(
                        &mut e.new_sequence(1),
                        &ctx,
                        Dist::Logits(&full),
                        &mut scratch,
                        &mut rng,
                    )
                    .unwrap();
                let dist = Dist::CandidateLogits {
                    ids: &ids_r,
                    logits: &cand_r,
                };
                let y = e
                    .choose(&mut e.new_sequence(1), &ctx, dist, &mut scratch, &mut rng)
                    .unwrap();
                assert_eq!(x, y);
            }
        }
    }
}

/// The spec's rule without any pruning: argmin −ln(u)/p over p > 0, ties to the lowest id.
fn brute_force_gumbel(
    e: &provmark_embed::Embedder<provmark_core::prf::Aes128Prf>,
    ctx: &[u32],
    p: &[f64],
) -> u32 {
    let wm = e.watermark();
    let state = wm.absorb(ctx);
    let mut best = (f64::INFINITY, u32::MAX);
    for (v, &pv) in p.iter().enumerate() {
        if pv > 0.0 {
            let r = -wm.uniform(&state, v as u32).ln() / pv;
            if r < best.0 {
                best = (r, v as u32);
            }
        }
    }
    best.1
}

#[test]
fn pruned_gumbel_equals_brute_force() {
    let mut data = ChaCha8Rng::seed_from_u64(2);
    let e = embedder(12, Scheme::Gumbel, 2, VOCAB);
    let mut scratch = Scratch::with_capacity(VOCAB);
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    for step in 0..150u32 {
        let full = logits(&mut data);
        let p = common::softmax(&full);
        let ctx = [step, 7];
        let want = brute_force_gumbel(&e, &ctx, &p);
        let got = e
            .choose(
                &mut e.new_sequence(1),
                &ctx,
                Dist::Logits(&full),
                &mut scratch,
                &mut rng,
            )
            .unwrap();
        assert_eq!(got.token, want, "logits, step {step}");
        let pf = probs(&full);
        let got = e
            .choose(
                &mut e.new_sequence(1),
                &ctx,
                Dist::Probs(&pf),
                &mut scratch,
                &mut rng,
            )
            .unwrap();
        let p32: Vec<f64> = pf.iter().map(|&x| x as f64).collect();
        assert_eq!(
            got.token,
            brute_force_gumbel(&e, &ctx, &p32),
            "probs, step {step}"
        );
    }
}

#[test]
fn bias_matches_core_green_test_on_both_paths() {
    let e = embedder(
        13,
        Scheme::Green {
            gamma: 0.3,
            delta: 1.5,
        },
        3,
        VOCAB,
    );
    let ctx = [5u32, 6, 7];
    let mut full = vec![0.5f32; VOCAB];
    full[10] = f32::NEG_INFINITY;
    assert!(e
        .bias_logits(&mut e.new_sequence(1), &ctx, &mut full)
        .unwrap());
    let state = e.watermark().absorb(&ctx);
    for (v, &l) in full.iter().enumerate() {
        if v == 10 {
            assert_eq!(l, f32::NEG_INFINITY);
            continue;
        }
        let want = if e.watermark().is_green(&state, v as u32) {
            2.0
        } else {
            0.5
        };
        assert_eq!(l, want, "token {v}");
    }
    let ids: Vec<u32> = (0..VOCAB as u32).rev().step_by(7).collect();
    let mut cand = vec![0.5f32; ids.len()];
    // Longer context: only the last h ids count.
    assert!(e
        .bias_candidate_logits(&mut e.new_sequence(1), &[1, 2, 5, 6, 7], &ids, &mut cand)
        .unwrap());
    for (&id, &l) in ids.iter().zip(&cand) {
        if id != 10 {
            assert_eq!(l, full[id as usize]);
        }
    }
    // The words the PRF gives one at a time and in a batch agree (what the chunked passes use).
    let mut out = vec![0u64; ids.len()];
    e.watermark().prf().words(&state, &ids, &mut out);
    for (&id, &w) in ids.iter().zip(&out) {
        assert_eq!(w, e.watermark().prf().word(&state, id));
    }
}

#[test]
fn repeated_contexts_are_sampled_plainly() {
    let mut data = ChaCha8Rng::seed_from_u64(3);
    let full = logits(&mut data);
    let mut scratch = Scratch::with_capacity(VOCAB);
    for scheme in [Scheme::DEFAULT_GREEN, Scheme::Gumbel] {
        let e = embedder(14, scheme, 2, VOCAB);
        let mut seq = e.new_sequence(2);
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let first = e
            .choose(
                &mut seq,
                &[1, 2],
                Dist::Logits(&full),
                &mut scratch,
                &mut rng,
            )
            .unwrap();
        assert!(first.watermarked);
        // Same last-h context (longer prefix differs): a repeat, sampled exactly as plain.
        let mut plain_rng = rng.clone();
        let again = e
            .choose(
                &mut seq,
                &[9, 1, 2],
                Dist::Logits(&full),
                &mut scratch,
                &mut rng,
            )
            .unwrap();
        let plain = sample_plain(VOCAB, Dist::Logits(&full), &mut scratch, &mut plain_rng).unwrap();
        assert_eq!(
            again,
            Choice {
                token: plain,
                watermarked: false
            }
        );
        // Bias path sees the same memory.
        if matches!(scheme, Scheme::Green { .. }) {
            let mut l = full.clone();
            assert!(!e.bias_logits(&mut seq, &[1, 2], &mut l).unwrap());
            assert_eq!(
                l.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
                full.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
            );
        }
        // A new context is watermarked; reset forgets.
        assert!(
            e.choose(
                &mut seq,
                &[2, 1],
                Dist::Logits(&full),
                &mut scratch,
                &mut rng
            )
            .unwrap()
            .watermarked
        );
        seq.reset();
        assert!(
            e.choose(
                &mut seq,
                &[1, 2],
                Dist::Logits(&full),
                &mut scratch,
                &mut rng
            )
            .unwrap()
            .watermarked
        );
        // Disabled: every step watermarked.
        let off = e.clone().with_skip_repeated_contexts(false);
        let mut seq = off.new_sequence(2);
        for _ in 0..3 {
            assert!(
                off.choose(
                    &mut seq,
                    &[1, 2],
                    Dist::Logits(&full),
                    &mut scratch,
                    &mut rng
                )
                .unwrap()
                .watermarked
            );
        }
        assert!(seq.is_empty());
    }
}

#[test]
fn failed_step_leaves_sequence_unchanged() {
    let e = embedder(15, Scheme::Gumbel, 2, 4);
    let mut seq = e.new_sequence(4);
    let mut scratch = Scratch::with_capacity(4);
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let bad = [0.0, f32::NAN, 1.0, 2.0];
    assert!(e
        .choose(
            &mut seq,
            &[1, 2],
            Dist::Logits(&bad),
            &mut scratch,
            &mut rng
        )
        .is_err());
    assert!(seq.is_empty());
    let good = [0.0, 1.0, 1.0, 2.0];
    assert!(
        e.choose(
            &mut seq,
            &[1, 2],
            Dist::Logits(&good),
            &mut scratch,
            &mut rng
        )
        .unwrap()
        .watermarked
    );
}

#[test]
fn sequence_state_grows_past_capacity_and_stays_exact() {
    for width in [0usize, 1, 2, 5] {
        let mut s = SequenceState::new(width, 3, true);
        let ctx = |i: u32| {
            (0..width as u32)
                .map(|j| i.wrapping_mul(2654435761).wrapping_add(j))
                .collect::<Vec<_>>()
        };
        let n = if width == 0 { 1 } else { 500 };
        for i in 0..n {
            assert!(s.insert(&ctx(i)).unwrap(), "width {width} i {i}");
        }
        assert_eq!(s.len(), n as usize);
        for i in 0..n {
            assert!(s.contains(&ctx(i)).unwrap());
            assert!(!s.insert(&ctx(i)).unwrap());
        }
        if width > 0 {
            assert!(!s.contains(&ctx(n + 1)).unwrap());
            // Shorter contexts are errors; longer ones use their last `width` ids.
            assert!(s.insert(&ctx(0)[1..]).is_err());
            assert!(s.contains(&ctx(0)[1..]).is_err());
            let mut longer = vec![77u32];
            longer.extend(ctx(0));
            assert!(s.contains(&longer).unwrap());
        }
    }
}

#[test]
fn batch_equals_rows_one_by_one() {
    let mut data = ChaCha8Rng::seed_from_u64(4);
    let rows = 5;
    let mut flat = Vec::new();
    for _ in 0..rows {
        flat.extend(logits(&mut data));
    }
    let contexts: Vec<u32> = (0..rows as u32 * 2).collect();
    let mut scratch = Scratch::with_capacity(VOCAB);
    for scheme in [Scheme::DEFAULT_GREEN, Scheme::Gumbel] {
        let e = embedder(16, scheme, 2, VOCAB);
        let mut seqs: Vec<_> = (0..rows).map(|_| e.new_sequence(8)).collect();
        let mut out = vec![
            Choice {
                token: 0,
                watermarked: false
            };
            rows
        ];
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        e.choose_batch(
            &mut seqs,
            &contexts,
            Dist::Logits(&flat),
            &mut scratch,
            &mut rng,
            &mut out,
        )
        .unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        for r in 0..rows {
            let mut seq = e.new_sequence(8);
            let one = e
                .choose(
                    &mut seq,
                    &contexts[2 * r..2 * r + 2],
                    Dist::Logits(&flat[r * VOCAB..(r + 1) * VOCAB]),
                    &mut scratch,
                    &mut rng,
                )
                .unwrap();
            assert_eq!(out[r], one);
        }
        // A bad row is reported with its index.
        let mut bad = flat.clone();
        bad[3 * VOCAB + 1] = f32::NAN;
        let err = e
            .choose_batch(
                &mut seqs,
                &contexts,
                Dist::Logits(&bad),
                &mut scratch,
                &mut rng,
                &mut out,
            )
            .unwrap_err();
        assert!(matches!(err, EmbedError::Batch { row: 3, .. }), "{err:?}");
    }
}

/// With one RNG per row, a row's tokens do not depend on which other rows share its batch: the
/// per-row batch call equals single calls, and a row alone equals the same row among others.
#[test]
fn per_row_rngs_make_rows_independent_of_the_batch() {
    for scheme in [Scheme::DEFAULT_GREEN, Scheme::Gumbel] {
        let e = embedder(5, scheme, 2, VOCAB);
        let mut data = ChaCha8Rng::seed_from_u64(77);
        let rows = 5;
        let mut all = Vec::new();
        for _ in 0..rows {
            all.extend(logits(&mut data));
        }
        let contexts: Vec<u32> = (0..rows as u32 * 2).map(|i| 100 + i).collect();
        let mut scratch = Scratch::with_capacity(VOCAB);
        let mut seqs: Vec<SequenceState> = (0..rows).map(|_| e.new_sequence(16)).collect();
        let mut rngs: Vec<ChaCha8Rng> = (0..rows as u64).map(ChaCha8Rng::seed_from_u64).collect();
        let mut out = vec![
            Choice {
                token: 0,
                watermarked: false
            };
            rows
        ];
        e.choose_batch_per_row(
            &mut seqs,
            &contexts,
            Dist::Logits(&all),
            &mut scratch,
            &mut rngs,
            &mut out,
        )
        .unwrap();
        for r in 0..rows {
            let mut seq = e.new_sequence(16);
            let mut rng = ChaCha8Rng::seed_from_u64(r as u64);
            let one = e
                .choose(
                    &mut seq,
                    &contexts[2 * r..2 * r + 2],
                    Dist::Logits(&all[r * VOCAB..(r + 1) * VOCAB]),
                    &mut scratch,
                    &mut rng,
                )
                .unwrap();
            assert_eq!(one, out[r], "row {r}");
        }
        // A wrong number of RNGs is an error, not a panic.
        let mut two: Vec<ChaCha8Rng> = (0..2).map(ChaCha8Rng::seed_from_u64).collect();
        assert!(e
            .choose_batch_per_row(
                &mut seqs,
                &contexts,
                Dist::Logits(&all),
                &mut scratch,
                &mut two,
                &mut out
            )
            .is_err());
    }
}
