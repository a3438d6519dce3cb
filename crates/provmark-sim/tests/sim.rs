//! Behavioural tests of the simulated language model (fixed seeds; seconds in debug builds).
#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::sync::OnceLock;

use provmark_core::{Profile, Scheme, SecretKey, TokenizerSpec};
use provmark_embed::Embedder;
use provmark_sim::stats::{retokenization, EntropySummary, Retokenization};
use provmark_sim::{generate, sample_rng, Generator, SimConfig, SimError, SimLm};
use provmark_tokenize::Tokenizer;

fn tok() -> &'static Tokenizer {
    static TOK: OnceLock<Tokenizer> = OnceLock::new();
    TOK.get_or_init(|| Tokenizer::openai("o200k_base").expect("bundled o200k_base"))
}

fn lm(config: SimConfig) -> SimLm {
    SimLm::new(config, tok()).expect("valid config")
}

/// Per-step entropies of `samples` clean samples of `tokens` tokens.
fn entropies(lm: &SimLm, samples: u64, tokens: usize) -> Vec<f64> {
    let mut g = Generator::new(lm, None).unwrap();
    let mut ent = Vec::new();
    let mut ids = Vec::new();
    for k in 0..samples {
        g.generate_observed(&[], tokens, &mut sample_rng(11, k), &mut ids, |c, _| {
            ent.push(c.entropy())
        })
        .unwrap();
    }
    ent
}

#[test]
fn candidates_are_deterministic_distinct_and_emittable() {
    let a = lm(SimConfig::new(3));
    let b = lm(SimConfig::new(3));
    let (mut ca, mut cb) = (a.candidate_buffer(), b.candidate_buffer());
    let context = generate(&a, None, &[], 60, &mut sample_rng(1, 1)).unwrap();
    for end in 0..context.len() {
        a.candidates(&context[..end], &mut ca);
        b.candidates(&context[..end], &mut cb);
        assert_eq!(ca.ids(), cb.ids());
        assert_eq!(ca.logits(), cb.logits());
        assert_eq!(ca.len(), 50);
        let distinct: HashSet<u32> = ca.ids().iter().copied().collect();
        assert_eq!(distinct.len(), ca.len(), "duplicate candidate");
        assert!(ca.ids().iter().all(|&id| a.can_emit(id)));
        assert!(
            ca.logits().windows(2).all(|w| w[0] >= w[1]),
            "logits not ranked"
        );
    }
}

#[test]
fn samples_are_reproducible_and_seeds_differ() {
    let m = lm(SimConfig::new(5));
    let mut g = Generator::new(&m, None).unwrap();
    let s1 = g.sample(7, 3, 80).unwrap();
    let s2 = g.sample(7, 3, 80).unwrap();
    assert_eq!(s1, s2);
    assert_ne!(
        g.sample(7, 4, 80).unwrap().ids,
        s1.ids,
        "sample index must matter"
    );
    assert_ne!(
        g.sample(8, 3, 80).unwrap().ids,
        s1.ids,
        "run seed must matter"
    );
    let other = lm(SimConfig::new(6));
    let s3 = Generator::new(&other, None)
        .unwrap()
        .sample(7, 3, 80)
        .unwrap();
    assert_ne!(s3.ids, s1.ids, "model seed must matter");
    assert_eq!(s1.text, tok().decode(&s1.ids).unwrap());
}

#[test]
fn styles_share_a_language_at_the_expected_rate() {
    // Same seed, styles 0 and 1, divergence d = 0.5: identical distributions at (1 − d)² = 1/4
    // of contexts. 2,000 contexts: binomial sd ≈ 0.0097; tolerance 5 sd.
    let a = lm(SimConfig::new(9));
    let b = lm(SimConfig {
        style: 1,
        ..SimConfig::new(9)
    });
    let other_seed = lm(SimConfig::new(10));
    let (mut ca, mut cb, mut cc) = (
        a.candidate_buffer(),
        b.candidate_buffer(),
        other_seed.candidate_buffer(),
    );
    let text = generate(&a, None, &[], 2003, &mut sample_rng(2, 0)).unwrap();
    let (mut same, mut same_other, mut n) = (0, 0, 0);
    for end in 3..text.len() {
        a.candidates(&text[..end], &mut ca);
        b.candidates(&text[..end], &mut cb);
        other_seed.candidates(&text[..end], &mut cc);
        n += 1;
        same += usize::from(ca.ids() == cb.ids());
        same_other += usize::from(ca.ids() == cc.ids());
    }
    let rate = same as f64 / n as f64;
    assert!(
        (rate - 0.25).abs() < 5.0 * (0.25f64 * 0.75 / n as f64).sqrt(),
        "agreement {rate}"
    );
    assert_eq!(
        same_other, 0,
        "different seeds must not share distributions"
    );
}

/// The stated band for temperature 1 (target: median 0.01, p80 0.672, mean 0.34 nats; see
/// `EntropyProfile::chat`). Measured on 10,000 steps; the band allows for sampling noise and the
/// path dependence of which contexts a generation visits.
#[test]
fn entropy_profile_at_t1_is_within_band() {
    let mut ent = entropies(&lm(SimConfig::new(1)), 50, 200);
    let s = EntropySummary::from_values(&mut ent).unwrap();
    assert!((0.22..=0.45).contains(&s.mean), "mean {}", s.mean);
    assert!((0.003..=0.03).contains(&s.median), "median {}", s.median);
    let p80 = s.quantile(0.8).unwrap();
    assert!((0.4..=0.9).contains(&p80), "p80 {p80}");
    assert!(
        (0.6..=0.76).contains(&s.share_below_0_1),
        "<0.1: {}",
        s.share_below_0_1
    );
    assert!(s.quantile(0.99).unwrap() > 2.0, "needs a high-entropy tail");
}

#[test]
fn lower_temperature_lowers_entropy() {
    let mut e1 = entropies(&lm(SimConfig::new(1)), 30, 200);
    let mut e07 = entropies(
        &lm(SimConfig {
            temperature: 0.7,
            ..SimConfig::new(1)
        }),
        30,
        200,
    );
    let s1 = EntropySummary::from_values(&mut e1).unwrap();
    let s07 = EntropySummary::from_values(&mut e07).unwrap();
    assert!(
        s07.mean < 0.6 * s1.mean,
        "T=0.7 mean {} vs T=1 {}",
        s07.mean,
        s1.mean
    );
    assert!(s07.share_below_0_1 > s1.share_below_0_1);
}

/// Floor: 99% of positions survive decode → encode (measured: 100%; see the README figures).
#[test]
fn text_retokenizes_to_the_same_ids() {
    let m = lm(SimConfig::new(4));
    let mut g = Generator::new(&m, None).unwrap();
    let mut total = Retokenization::default();
    for k in 0..40 {
        let s = g.sample(1, k, 200).unwrap();
        total.add(retokenization(tok(), &s.ids));
    }
    assert_eq!(total.positions, 8000);
    assert!(total.rate() >= 0.99, "rate {}", total.rate());
}

#[test]
fn retokenization_counts_a_merge_as_lost_positions() {
    // " the" then "," then "." re-encodes ",." as one piece: those two positions are lost.
    let ids: Vec<u32> = [" the", ",", ".", " cat"]
        .iter()
        .flat_map(|s| tok().encode(s))
        .collect();
    let r = retokenization(tok(), &ids);
    assert_eq!(r.positions, 4);
    assert!(r.preserved <= 3 && r.preserved >= 2, "{r:?}");
}

fn profile(scheme: Scheme) -> Profile {
    Profile::from_secret(
        SecretKey::from_bytes([21; 32]),
        scheme,
        2,
        TokenizerSpec::default_openai(),
    )
    .unwrap()
}

/// Green share over the unique (context, token) pairs of `samples` × 200 tokens.
fn green_share(m: &SimLm, p: &Profile, embedder: Option<&Embedder>, samples: u64) -> (u64, u64) {
    let wm = p.watermark(Some("acct"));
    let mut g = Generator::new(m, embedder).unwrap();
    let mut seen = HashSet::new();
    let (mut green, mut n) = (0u64, 0u64);
    for k in 0..samples {
        let s = g.sample(77, k, 200).unwrap();
        for w in s.ids.windows(3) {
            if seen.insert((w[0], w[1], w[2])) {
                n += 1;
                green += u64::from(wm.is_green(&wm.absorb(&w[..2]), w[2]));
            }
        }
    }
    (green, n)
}

#[test]
fn clean_text_has_green_share_gamma_and_marked_text_more() {
    let p = profile(Scheme::DEFAULT_GREEN);
    let m = lm(SimConfig::new(2));
    let (green, n) = green_share(&m, &p, None, 60);
    let (gamma, sd) = (0.25, (0.25f64 * 0.75 / n as f64).sqrt());
    let share = green as f64 / n as f64;
    // 4.5 sd: a fixed-seed test that fails only if the text depends on the key.
    assert!(n > 3000, "too few unique pairs: {n}");
    assert!(
        (share - gamma).abs() < 4.5 * sd,
        "clean green share {share} over {n}"
    );

    let e = Embedder::from_profile(&p, Some("acct"), tok().vocab_size()).unwrap();
    let (mg, mn) = green_share(&m, &p, Some(&e), 60);
    let marked = mg as f64 / mn as f64;
    assert!(
        marked > gamma + 10.0 * sd,
        "watermarked green share {marked}"
    );
}

#[test]
fn watermarked_generation_goes_through_the_embedder() {
    let p = profile(Scheme::Gumbel);
    let m = lm(SimConfig::new(2));
    let e = Embedder::from_profile(&p, None, tok().vocab_size()).unwrap();
    let mut g = Generator::new(&m, Some(&e)).unwrap();
    let s = g.sample(1, 0, 100).unwrap();
    // The synthetic prompt supplies the context; only repeated contexts are skipped.
    assert!(g.watermarked_steps() > 50 && g.watermarked_steps() <= 100);
    assert_eq!(s.prompt.len(), provmark_sim::SAMPLE_PROMPT_TOKENS);
    assert_eq!(s, g.sample(1, 0, 100).unwrap(), "reproducible");
    let mut clean = Generator::new(&m, None).unwrap();
    assert_ne!(clean.sample(1, 0, 100).unwrap().ids, s.ids);
    assert_eq!(clean.watermarked_steps(), 0);
    // Gumbel is deterministic given the context: distinct prompts keep samples distinct.
    let distinct: HashSet<Vec<u32>> = (0..20).map(|k| g.sample(1, k, 50).unwrap().ids).collect();
    assert!(
        distinct.len() >= 19,
        "samples collapsed: {} distinct of 20",
        distinct.len()
    );
}

#[test]
fn bad_configs_are_errors() {
    for cfg in [
        SimConfig {
            temperature: 0.0,
            ..SimConfig::new(0)
        },
        SimConfig {
            temperature: f64::NAN,
            ..SimConfig::new(0)
        },
        SimConfig {
            top_k: 0,
            ..SimConfig::new(0)
        },
        SimConfig {
            top_k: 1001,
            ..SimConfig::new(0)
        },
        SimConfig {
            order: 0,
            ..SimConfig::new(0)
        },
        SimConfig {
            style_divergence: 1.5,
            ..SimConfig::new(0)
        },
        // Top-10 cannot reach the chat target's 3.3 nats (ln 10 = 2.30).
        SimConfig {
            top_k: 10,
            ..SimConfig::new(0)
        },
    ] {
        assert!(matches!(
            SimLm::new(cfg, tok()),
            Err(SimError::InvalidConfig { .. })
        ));
    }
    let m = lm(SimConfig::new(0));
    assert!(matches!(
        m.decode(&[tok().encode("123")[0]]),
        Err(SimError::NotEmitted(_))
    ));
}
