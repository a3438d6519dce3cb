//! Every bad input is a typed error, never a panic.

#![allow(clippy::unwrap_used)] // tests: a panic is a failure report

mod common;

use common::embedder;
use provmark_core::prf::Aes128Prf;
use provmark_core::{Scheme, SecretKey, Watermark};
use provmark_embed::{sample_plain, Choice, Dist, EmbedError, Embedder, Scratch};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

const NEG: f32 = f32::NEG_INFINITY;

fn all_paths(vocab: usize, dist: Dist<'_>, ctx: &[u32]) -> Vec<EmbedError> {
    let mut scratch = Scratch::with_capacity(1);
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let mut errs = vec![sample_plain(vocab, dist, &mut scratch, &mut rng).unwrap_err()];
    for scheme in [Scheme::DEFAULT_GREEN, Scheme::Gumbel] {
        let e = embedder(1, scheme, 2, vocab);
        errs.push(
            e.choose(&mut e.new_sequence(4), ctx, dist, &mut scratch, &mut rng)
                .unwrap_err(),
        );
        // A repeated context takes the plain path: same validation.
        let mut seq = e.new_sequence(4);
        let _ = seq.insert(ctx);
        errs.push(
            e.choose(&mut seq, ctx, dist, &mut scratch, &mut rng)
                .unwrap_err(),
        );
    }
    errs
}

fn assert_all(errs: Vec<EmbedError>, pred: impl Fn(&EmbedError) -> bool) {
    for e in &errs {
        assert!(pred(e), "unexpected {e:?}");
        assert!(!e.to_string().is_empty());
    }
}

#[test]
fn empty_and_oversized_vocabulary() {
    let key = SecretKey::from_bytes([1; 32]);
    let wm = Watermark::new(Aes128Prf::new(&key, 2), Scheme::Gumbel, 2).unwrap();
    assert_eq!(
        Embedder::new(wm.clone(), 0).unwrap_err(),
        EmbedError::EmptyVocabulary
    );
    if usize::BITS > 32 {
        let big = (u32::MAX as usize).saturating_add(2);
        assert!(matches!(
            Embedder::new(wm, big),
            Err(EmbedError::VocabularyTooLarge(_))
        ));
    }
    let mut s = Scratch::default();
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    assert_eq!(
        sample_plain(0, Dist::Logits(&[]), &mut s, &mut rng).unwrap_err(),
        EmbedError::AllMasked
    );
}

#[test]
fn nan_and_positive_infinite_logits() {
    for bad in [f32::NAN, f32::INFINITY] {
        let l = [0.0, 1.0, bad, 2.0];
        assert_all(all_paths(4, Dist::Logits(&l), &[1, 2]), |e| {
            matches!(e, EmbedError::InvalidLogit { index: 2, .. })
        });
        let ids = [3u32, 0, 1, 2];
        assert_all(
            all_paths(
                4,
                Dist::CandidateLogits {
                    ids: &ids,
                    logits: &l,
                },
                &[1, 2],
            ),
            |e| matches!(e, EmbedError::InvalidLogit { index: 2, .. }),
        );
    }
}

#[test]
fn negative_nan_infinite_probabilities() {
    for bad in [-0.1f32, f32::NAN, f32::INFINITY, NEG] {
        let p = [0.2, bad, 0.3];
        assert_all(all_paths(3, Dist::Probs(&p), &[1, 2]), |e| {
            matches!(e, EmbedError::InvalidProbability { index: 1, .. })
        });
    }
}

#[test]
fn all_masked_and_empty_candidates() {
    assert_all(all_paths(3, Dist::Logits(&[NEG; 3]), &[1, 2]), |e| {
        *e == EmbedError::AllMasked
    });
    assert_all(all_paths(3, Dist::Probs(&[0.0; 3]), &[1, 2]), |e| {
        *e == EmbedError::AllMasked
    });
    assert_all(
        all_paths(
            3,
            Dist::CandidateLogits {
                ids: &[],
                logits: &[],
            },
            &[1, 2],
        ),
        |e| *e == EmbedError::AllMasked,
    );
}

#[test]
fn context_shorter_than_width() {
    let l = [0.0f32, 1.0];
    for ctx in [&[][..], &[5][..]] {
        let mut scratch = Scratch::with_capacity(2);
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        for scheme in [Scheme::DEFAULT_GREEN, Scheme::Gumbel] {
            let e = embedder(1, scheme, 2, 2);
            let err = e
                .choose(
                    &mut e.new_sequence(1),
                    ctx,
                    Dist::Logits(&l),
                    &mut scratch,
                    &mut rng,
                )
                .unwrap_err();
            assert_eq!(
                err,
                EmbedError::ContextTooShort {
                    len: ctx.len(),
                    width: 2
                }
            );
        }
        let e = embedder(1, Scheme::DEFAULT_GREEN, 2, 2);
        let mut m = l;
        assert!(matches!(
            e.bias_logits(&mut e.new_sequence(1), ctx, &mut m),
            Err(EmbedError::ContextTooShort { .. })
        ));
    }
}

#[test]
fn candidate_ids_out_of_range() {
    let ids = [0u32, 7, 3];
    let l = [0.0f32, 1.0, 2.0];
    assert_all(
        all_paths(
            5,
            Dist::CandidateLogits {
                ids: &ids,
                logits: &l,
            },
            &[1, 2],
        ),
        |e| {
            *e == EmbedError::CandidateOutOfRange {
                index: 1,
                id: 7,
                vocab: 5,
            }
        },
    );
    assert_all(
        all_paths(
            5,
            Dist::CandidateProbs {
                ids: &ids,
                probs: &l,
            },
            &[1, 2],
        ),
        |e| matches!(e, EmbedError::CandidateOutOfRange { id: 7, .. }),
    );
    let e = embedder(1, Scheme::DEFAULT_GREEN, 2, 5);
    let mut m = l;
    assert!(matches!(
        e.bias_candidate_logits(&mut e.new_sequence(1), &[1, 2], &ids, &mut m),
        Err(EmbedError::CandidateOutOfRange { id: 7, .. })
    ));
    assert_eq!(m, l, "nothing modified on error");
}

#[test]
fn length_mismatches() {
    let l = [0.0f32, 1.0, 2.0];
    assert_all(all_paths(4, Dist::Logits(&l), &[1, 2]), |e| {
        matches!(e, EmbedError::LengthMismatch { .. })
    });
    assert_all(
        all_paths(
            4,
            Dist::CandidateLogits {
                ids: &[0, 1],
                logits: &l,
            },
            &[1, 2],
        ),
        |e| matches!(e, EmbedError::LengthMismatch { .. }),
    );
    let e = embedder(1, Scheme::DEFAULT_GREEN, 2, 4);
    let mut scratch = Scratch::with_capacity(4);
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    // Sequence state of another width.
    let mut other = embedder(1, Scheme::DEFAULT_GREEN, 3, 4).new_sequence(1);
    let four = [0.0f32; 4];
    assert!(matches!(
        e.choose(
            &mut other,
            &[1, 2, 3],
            Dist::Logits(&four),
            &mut scratch,
            &mut rng
        ),
        Err(EmbedError::LengthMismatch { .. })
    ));
    // Bias: logits not of vocabulary length; ids vs logits.
    let mut three = l;
    assert!(matches!(
        e.bias_logits(&mut e.new_sequence(1), &[1, 2], &mut three),
        Err(EmbedError::LengthMismatch { .. })
    ));
    assert!(matches!(
        e.bias_candidate_logits(&mut e.new_sequence(1), &[1, 2], &[0], &mut three),
        Err(EmbedError::LengthMismatch { .. })
    ));
    // Batch: rows that do not divide, contexts, outputs.
    let mut seqs = vec![e.new_sequence(1), e.new_sequence(1)];
    let mut out = [Choice {
        token: 0,
        watermarked: false,
    }; 2];
    let seven = [0.0f32; 7];
    let r = e.choose_batch(
        &mut seqs,
        &[1, 2, 3, 4],
        Dist::Logits(&seven),
        &mut scratch,
        &mut rng,
        &mut out,
    );
    assert!(matches!(r, Err(EmbedError::Batch { row: 0, .. })), "{r:?}");
    let eight = [0.0f32; 8];
    let r = e.choose_batch(
        &mut seqs,
        &[1, 2, 3],
        Dist::Logits(&eight),
        &mut scratch,
        &mut rng,
        &mut out,
    );
    assert!(matches!(r, Err(EmbedError::LengthMismatch { .. })));
    let r = e.choose_batch(
        &mut seqs,
        &[1, 2, 3, 4],
        Dist::Logits(&eight),
        &mut scratch,
        &mut rng,
        &mut out[..1],
    );
    assert!(matches!(r, Err(EmbedError::LengthMismatch { .. })));
    let mut flat = [0.0f32; 7];
    let mut flags = [false; 2];
    assert!(matches!(
        e.bias_logits_batch(&mut seqs, &[1, 2, 3, 4], &mut flat, &mut flags),
        Err(EmbedError::LengthMismatch { .. })
    ));
}

#[test]
fn bias_rejects_bad_logits_without_modifying_and_needs_green() {
    let e = embedder(1, Scheme::DEFAULT_GREEN, 2, 4);
    let mut l = [0.0f32, f32::NAN, 1.0, 2.0];
    let before = l.map(f32::to_bits);
    assert!(matches!(
        e.bias_logits(&mut e.new_sequence(1), &[1, 2], &mut l),
        Err(EmbedError::InvalidLogit { index: 1, .. })
    ));
    assert_eq!(l.map(f32::to_bits), before);
    let g = embedder(1, Scheme::Gumbel, 2, 4);
    let mut l = [0.0f32; 4];
    assert!(matches!(
        g.bias_logits(&mut g.new_sequence(1), &[1, 2], &mut l),
        Err(EmbedError::SchemeMismatch { needs: "green", .. })
    ));
}

#[test]
fn minus_infinity_is_accepted_as_masked() {
    let l = [NEG, 0.5, NEG, NEG];
    let mut scratch = Scratch::with_capacity(4);
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    for scheme in [Scheme::DEFAULT_GREEN, Scheme::Gumbel] {
        let e = embedder(3, scheme, 2, 4);
        for i in 0..50u32 {
            let c = e
                .choose(
                    &mut e.new_sequence(1),
                    &[i, 1],
                    Dist::Logits(&l),
                    &mut scratch,
                    &mut rng,
                )
                .unwrap();
            assert_eq!(c.token, 1);
        }
    }
    assert_eq!(
        sample_plain(4, Dist::Logits(&l), &mut scratch, &mut rng).unwrap(),
        1
    );
}
