//! Validation of the detector (issue 3, item 8): false-positive rate on clean text, power on
//! watermarked text, and dedup.
//!
//! Sizes: release builds (and `PROVMARK_FULL_VALIDATION=1`) run the full sizes — at least
//! 100,000 clean samples per source and scheme; debug builds run the random-sequence check at
//! full size and the others reduced, so plain `cargo test` stays fast. Full run:
//! `cargo test --release -p provmark-detect --test validation -- --nocapture`.
//!
//! **Independent keys.** Each clean sample (or each (text, key) pair for the simulated and real
//! texts) is tested under its own key (an account subkey of one profile). Under H0 the p-values
//! are then independent, so the number of false positives has an exactly known distribution and
//! the test can check it against an exact 99.9% interval. (One key over a corpus with shared
//! boilerplate gives correlated p-values; that is the corpus scan's concern, handled by global
//! dedup.)
//!
//! **Discreteness.** The binomial test's attainable size at level α is below α (it jumps with k);
//! the check uses the exact size for each sample's number of scored tokens, and also checks the
//! count against the upper bound around the nominal α.
#![allow(clippy::unwrap_used)]

mod common;

use common::{full, random_clean, real_texts, Tally};
use provmark_core::{Profile, Scheme, SecretKey, TokenizerSpec};
use provmark_detect::{
    attribute, find_spans, score_ids, score_ids_with, Accumulator, Dedup, Options, Scratch,
    SpanOptions, Statistic,
};
use provmark_embed::Embedder;
use provmark_sim::{EntropyProfile, Generator, SimConfig, SimLm};
use provmark_tokenize::Tokenizer;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

const SCHEMES: [Scheme; 2] = [Scheme::DEFAULT_GREEN, Scheme::Gumbel];

fn profile(scheme: Scheme, seed: u8) -> Profile {
    Profile::from_secret(
        SecretKey::from_bytes([seed; 32]),
        scheme,
        2,
        TokenizerSpec::default_openai(),
    )
    .unwrap()
}

/// The simulated LM with the base-model entropy profile (mean ≈ 2.4 nats per token).
fn base_lm(tok: &Tokenizer, seed: u64) -> SimLm {
    let cfg = SimConfig {
        entropy: EntropyProfile::base_model(),
        top_k: 1000,
        ..SimConfig::new(seed)
    };
    SimLm::new(cfg, tok).unwrap()
}

fn tokenizer() -> Tokenizer {
    Tokenizer::openai("o200k_base").unwrap()
}

#[test]
fn fpr_random_sequences_with_repetition() {
    let n = if full() { 100_000u64 } else { 30_000 };
    let boiler = common::boilerplate();
    for scheme in SCHEMES {
        let p = profile(scheme, 1);
        let opts = Options::for_profile(&p);
        let mut scratch = Scratch::new();
        let mut rng = ChaCha8Rng::seed_from_u64(0xF00D);
        let mut tally = Tally::default();
        for i in 0..n {
            let len = if full() {
                16 + (i % 113) as usize
            } else {
                16 + (i % 33) as usize
            };
            let ids = random_clean(&mut rng, len, &boiler);
            let wm = p.watermark(Some(&format!("fpr-{i}")));
            tally.add(&score_ids_with(&wm, &ids, &opts, &mut scratch).unwrap());
        }
        tally.check("random+repetition", scheme.name());
    }
}

#[test]
fn fpr_simulated_lm() {
    let tok = tokenizer();
    let lm = SimLm::new(SimConfig::new(3), &tok).unwrap();
    let (texts, keys, len) = if full() {
        (10_000u64, 10u64, 200)
    } else {
        (500, 4, 100)
    };
    let mut gen = Generator::new(&lm, None).unwrap();
    for scheme in SCHEMES {
        let p = profile(scheme, 2);
        let mut scratch = Scratch::new();
        let mut tally = Tally::default();
        for t in 0..texts {
            let s = gen.sample(77, t, len).unwrap();
            let opts = Options::for_profile(&p).prompt(&s.prompt);
            for k in 0..keys {
                let wm = p.watermark(Some(&format!("sim-{t}-{k}")));
                tally.add(&score_ids_with(&wm, &s.ids, &opts, &mut scratch).unwrap());
            }
        }
        tally.check("simulated LM", scheme.name());
    }
}

#[test]
fn fpr_real_corpora() {
    let Some(texts) = real_texts() else {
        eprintln!("skipped: ../shared/corpora not found (set PROVMARK_SHARED)");
        return;
    };
    let tok = tokenizer();
    let is_special = |id: u32| tok.is_special(id);
    // Full: enough keys for ≥ 100,000 (text, key) samples; debug: a few keys over short prefixes.
    let keys = if full() {
        100_000u64.div_ceil(texts.len() as u64)
    } else {
        2
    };
    let max_tokens = if full() { usize::MAX } else { 128 };
    let docs: Vec<Vec<u32>> = texts
        .iter()
        .map(|t| {
            let mut ids = tok.encode(t);
            ids.truncate(max_tokens);
            ids
        })
        .collect();
    for scheme in SCHEMES {
        let p = profile(scheme, 3);
        let opts = Options::for_profile(&p).special_tokens(&is_special);
        let mut scratch = Scratch::new();
        let mut tally = Tally::default();
        let mut shared_key = Tally::default();
        for k in 0..keys {
            let shared = p.watermark(Some(&format!("real-{k}")));
            for (d, ids) in docs.iter().enumerate() {
                let own = p.watermark(Some(&format!("real-{k}-{d}")));
                tally.add(&score_ids_with(&own, ids, &opts, &mut scratch).unwrap());
                shared_key.add(&score_ids_with(&shared, ids, &opts, &mut scratch).unwrap());
            }
        }
        tally.check("real corpora", scheme.name());
        // The same texts under one key per pass: texts that share n-grams (templates, translated
        // pairs, code boilerplate) then share keyed values, so their p-values are dependent and
        // the realised share for one key can sit far from alpha (each p-value stays valid over
        // the key). Measured and reported, not asserted: see the crate README.
        shared_key.report("real corpora, shared key", scheme.name());
    }
}

/// Watermarked samples of the simulated LM (prompt + 200 tokens) under `profile`'s key or an
/// account's.
fn watermarked(
    lm: &SimLm,
    profile: &Profile,
    account: Option<&str>,
    seed: u64,
    count: u64,
    len: usize,
) -> Vec<(Vec<u32>, Vec<u32>)> {
    let emb = Embedder::from_profile(profile, account, lm.vocab_size()).unwrap();
    let mut gen = Generator::new(lm, Some(&emb)).unwrap();
    (0..count)
        .map(|i| {
            let s = gen.sample(seed, i, len).unwrap();
            (s.prompt, s.ids)
        })
        .collect()
}

/// Detection rate at 1e-6 of `count` 200-token samples; also the pooled statistic of all of them.
fn power(lm: &SimLm, p: &Profile, count: u64) -> (u64, f64, f64, Statistic) {
    let wm = p.watermark(None);
    let samples = watermarked(lm, p, None, 9, count, 200);
    let mut detected = 0u64;
    let mut logs = Vec::new();
    let mut pooled = Accumulator::for_scheme(&p.scheme).unwrap();
    for (prompt, ids) in &samples {
        let ev = score_ids(&wm, ids, &Options::for_profile(p).prompt(prompt)).unwrap();
        detected += u64::from(ev.log10_p <= -6.0);
        logs.push(ev.log10_p);
        let mut one = Accumulator::for_scheme(&p.scheme).unwrap();
        match ev.statistic {
            Statistic::Binomial {
                successes, trials, ..
            } => (0..trials).for_each(|j| one.add(if j < successes { 1.0 } else { 0.0 })),
            Statistic::Gamma { .. } => {
                let ev = score_ids(
                    &wm,
                    ids,
                    &Options::for_profile(p).prompt(prompt).keep_positions(true),
                )
                .unwrap();
                ev.positions.unwrap().score.iter().for_each(|&x| one.add(x));
            }
            _ => unreachable!(),
        }
        pooled.merge(&one).unwrap();
    }
    logs.sort_by(f64::total_cmp);
    (
        detected,
        logs[logs.len() / 2],
        logs[logs.len() - 1],
        pooled.statistic(),
    )
}

#[test]
fn power_200_tokens_at_1e6() {
    let tok = tokenizer();
    let count = if full() { 1000 } else { 100 };
    // Base-model entropy (mean 2.4 nats/token): the target, ≥ 99% at 1e-6.
    let lm = base_lm(&tok, 5);
    for scheme in SCHEMES {
        let p = profile(scheme, 4);
        let (detected, median, worst, _) = power(&lm, &p, count);
        println!(
            "POWER | base-model entropy | {:<6} | 200 tokens | alpha 1e-6 | detected {detected}/{count} = {:.4} | median log10 p {median:.1} | worst {worst:.1}",
            scheme.name(),
            detected as f64 / count as f64,
        );
        assert!(
            detected * 100 >= count * 99,
            "{}: {detected}/{count}",
            scheme.name()
        );
    }
    // Chat entropy (the simulation's default, mean 0.34 nats/token): 200 tokens carry too little
    // signal for 1e-6 with the default parameters (a property of the scheme at this entropy, not
    // of the test). Reported; the pooled test over all samples must still be overwhelming.
    let lm = SimLm::new(SimConfig::new(5), &tok).unwrap();
    let count = if full() { 1000 } else { 50 };
    for scheme in SCHEMES {
        let p = profile(scheme, 4);
        let (detected, median, worst, pooled) = power(&lm, &p, count);
        let pooled_log10 = pooled.tail().log10_p;
        println!(
            "POWER | chat entropy       | {:<6} | 200 tokens | alpha 1e-6 | detected {detected}/{count} = {:.4} | median log10 p {median:.1} | worst {worst:.1} | pooled {} tokens log10 p {pooled_log10:.1}",
            scheme.name(),
            detected as f64 / count as f64,
            pooled.scored(),
        );
        assert!(pooled_log10 < -20.0, "{pooled:?}");
    }
}

#[test]
fn dedup_repeated_sentence_is_no_more_significant() {
    let tok = tokenizer();
    let lm = SimLm::new(SimConfig::new(6), &tok).unwrap();
    for scheme in SCHEMES {
        let p = profile(scheme, 5);
        let wm = p.watermark(None);
        let (_, sentence) = watermarked(&lm, &p, None, 3, 1, 30).remove(0);
        let h = p.context_width;
        let opts = Options::for_profile(&p);
        let once = score_ids(&wm, &sentence, &opts).unwrap();
        // The sentence "closed": followed by its own first h ids, i.e. every pair that one copy
        // running into the next creates.
        let mut closed = sentence.clone();
        closed.extend_from_slice(&sentence[..h]);
        let closed = score_ids(&wm, &closed, &opts).unwrap();
        let repeated: Vec<u32> = sentence
            .iter()
            .copied()
            .cycle()
            .take(sentence.len() * 50)
            .collect();
        let rep = score_ids(&wm, &repeated, &opts).unwrap();
        assert_eq!(rep.statistic, closed.statistic, "{}", scheme.name());
        assert!(rep.scored_tokens <= once.scored_tokens + h as u64);
        // Once is significant on its own; repetition adds nothing beyond the h seam pairs.
        assert!(rep.log10_p >= closed.log10_p);
        // Without dedup the same text is (wrongly) overwhelming: the check above can fail.
        let none = score_ids(&wm, &repeated, &opts.clone().dedup(Dedup::None)).unwrap();
        assert!(none.log10_p < 10.0 * once.log10_p.min(-1.0), "{none:?}");
        println!(
            "DEDUP | {:<6} | once log10 p {:.2} ({} scored) | 50x log10 p {:.2} ({} scored) | 50x without dedup {:.1}",
            scheme.name(),
            once.log10_p,
            once.scored_tokens,
            rep.log10_p,
            rep.scored_tokens,
            none.log10_p
        );
    }
}

#[test]
fn attribution_finds_the_leaking_account() {
    let tok = tokenizer();
    let lm = base_lm(&tok, 7);
    let accounts: Vec<String> = (0..1000).map(|i| format!("acct-{i:04}")).collect();
    for scheme in SCHEMES {
        let p = profile(scheme, 6);
        let (prompt, ids) = watermarked(&lm, &p, Some("acct-0637"), 4, 1, 200).remove(0);
        let opts = Options::for_profile(&p).prompt(&prompt);
        let att = attribute(&p, &ids, &accounts, &opts).unwrap();
        let best = att.best().unwrap();
        assert_eq!(best.account, "acct-0637");
        assert_eq!(att.accounts_tested, 1000);
        assert!((best.adjusted_log10_p - (best.log10_p + 3.0)).abs() < 1e-9);
        assert!(best.adjusted_log10_p < -6.0, "{best:?}");
        assert!(
            att.master.log10_p > -4.0,
            "master key must not explain an account's text"
        );
        // The second best is just noise.
        assert!(att.ranking[1].adjusted_log10_p > -3.0);
        // Clean text: no account stands out after the correction.
        let clean = watermarked(&lm, &p, Some("someone-else"), 5, 1, 200)
            .remove(0)
            .1;
        let att = attribute(&p, &clean, &accounts, &Options::for_profile(&p)).unwrap();
        assert!(att.best().unwrap().adjusted_log10_p > -3.0);
    }
}

#[test]
fn spans_locate_watermarked_passages() {
    let tok = tokenizer();
    let lm = base_lm(&tok, 8);
    for scheme in SCHEMES {
        let p = profile(scheme, 7);
        let wm = p.watermark(None);
        let clean = |seed| {
            watermarked(&lm, &p, Some("not-the-master"), seed, 1, 600)
                .remove(0)
                .1
        };
        let marked = |seed| watermarked(&lm, &p, None, seed, 1, 300).remove(0).1;
        let parts = [clean(1), marked(2), clean(3), marked(4), clean(5)];
        assert!(parts[1].len() == 300 && parts[0].len() == 600);
        let mut ids = Vec::new();
        let mut ranges = Vec::new();
        for part in &parts {
            ranges.push(ids.len()..ids.len() + part.len());
            ids.extend_from_slice(part);
        }
        // Byte offsets: each token's bytes in the decoded text.
        let mut offsets = Vec::with_capacity(ids.len());
        let mut at = 0usize;
        for &id in &ids {
            let n = tok.token_bytes(id).unwrap().len();
            offsets.push((at, at + n));
            at += n;
        }
        let ev = score_ids(&wm, &ids, &Options::for_profile(&p).keep_positions(true)).unwrap();
        let found = find_spans(&ev, Some(&offsets), &SpanOptions::default()).unwrap();
        assert!(found.spans.len() >= 2, "{}: {found:?}", scheme.name());
        // A span lies mostly inside a passage.
        let inside = |span: &provmark_detect::Span, r: &std::ops::Range<usize>| {
            let (s, e) = (span.token_start as usize, span.token_end as usize);
            s.max(r.start) < e.min(r.end) && (e.min(r.end) - s.max(r.start)) * 2 >= e - s
        };
        for span in &found.spans {
            assert!(
                inside(span, &ranges[1]) || inside(span, &ranges[3]),
                "{span:?}"
            );
            assert!(span.adjusted_log10_p <= -6.0);
            assert!(span.adjusted_log10_p >= span.log10_p);
            assert_eq!(span.byte_start, Some(offsets[span.token_start as usize].0));
            assert_eq!(span.byte_end, Some(offsets[span.token_end as usize - 1].1));
        }
        // Both passages are found.
        for r in [&ranges[1], &ranges[3]] {
            assert!(
                found.spans.iter().any(|sp| inside(sp, r)),
                "{r:?} not found: {found:?}"
            );
        }
        // Spans do not overlap.
        for a in &found.spans {
            for b in &found.spans {
                if a != b {
                    assert!(a.token_end <= b.token_start || b.token_end <= a.token_start);
                }
            }
        }
        println!(
            "SPANS | {:<6} | {} windows tested | spans {:?}",
            scheme.name(),
            found.windows_tested,
            found
                .spans
                .iter()
                .map(|s| (
                    s.token_start,
                    s.token_end,
                    (s.adjusted_log10_p * 10.0).round() / 10.0
                ))
                .collect::<Vec<_>>()
        );
    }
}

#[test]
fn spans_on_clean_text_respect_alpha() {
    // Validity of the window search: a clean text reports a span at alpha with probability
    // ≤ alpha (Bonferroni over the grid). Independent keys per text, long random clean texts.
    let texts = if full() { 20_000u64 } else { 1_000 };
    let alpha = 1e-2;
    let boiler = common::boilerplate();
    for scheme in SCHEMES {
        let p = profile(scheme, 8);
        let mut rng = ChaCha8Rng::seed_from_u64(99);
        let mut with_span = 0u64;
        for i in 0..texts {
            let ids = random_clean(&mut rng, 400, &boiler);
            let wm = p.watermark(Some(&format!("span-{i}")));
            let ev = score_ids(&wm, &ids, &Options::for_profile(&p).keep_positions(true)).unwrap();
            let found = find_spans(&ev, None, &SpanOptions::default().alpha(alpha)).unwrap();
            with_span += u64::from(!found.spans.is_empty());
        }
        let (_, hi) = common::acceptance(&[(texts, alpha)], common::BOUND_LEVEL);
        println!(
            "SPAN-FPR | {:<6} | {texts} clean texts of 400 tokens | with a span at {alpha}: {with_span} (bound {hi})",
            scheme.name()
        );
        assert!(with_span <= hi, "{with_span} > {hi}");
    }
}
