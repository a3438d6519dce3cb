//! Small configurations of the evaluation (`provmark eval`), in seconds.
//!
//! The full tables are `provmark eval tables` (docs/EVALUATION.md); these tests run the same
//! code paths on small inputs and check what must hold at any size: the suspect student of a
//! heavily watermarked mix is detected, clean controls are not, the evaluation's pooled scorer
//! and power search agree with `provmark-detect`, text round-trips, and the CLI prints the
//! documented JSON.
#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::process::Command;

use provmark_core::Scheme;
use provmark_detect::{score_ids, Options};
use provmark_eval::distill::{eval_profile, scan, teacher_responses};
use provmark_eval::pooled::{rank_accounts, select_pairs};
use provmark_eval::tables::{binomial_interval, tokens_to_alpha, Attack};
use provmark_eval::{run_distill, DistillConfig, StudentTokenizer, World};
use rand::SeedableRng;

fn world() -> World {
    World::standard().unwrap()
}

fn small(fraction: f64) -> DistillConfig {
    let mut c = DistillConfig::new(fraction, 20_000);
    c.train_tokens = 60_000;
    c.seed = 11;
    c
}

#[test]
fn heavily_distilled_student_is_caught_and_control_is_not() {
    let w = world();
    let out = run_distill(&w, &small(0.25)).unwrap();
    assert!(
        out.suspect.scored_tokens > 5_000,
        "{}",
        out.suspect.scored_tokens
    );
    assert!(
        out.suspect.log10_p < -6.0,
        "suspect log10 p {}",
        out.suspect.log10_p
    );
    // The control student never saw a watermarked token: its p-value is a uniform draw.
    assert!(
        out.control.log10_p > -3.0,
        "control log10 p {}",
        out.control.log10_p
    );
    assert!(
        out.teacher_mean_score > 0.4,
        "teacher green share {}",
        out.teacher_mean_score
    );
    let j = out.summary_json();
    for k in [
        "p_value",
        "log10_p",
        "scored_tokens",
        "control_p_value",
        "fraction",
        "student_tokens",
        "scheme",
        "context_width",
        "filter",
        "seed",
    ] {
        assert!(j.get(k).is_some(), "missing {k}");
    }
}

#[test]
fn zero_fraction_student_is_null_and_filter_keeps_validity() {
    let w = world();
    let mut c = small(0.0);
    c.filter = true;
    // With F = 0 there are no served responses, so the supervised filter keeps nothing.
    let out = run_distill(&w, &c).unwrap();
    assert_eq!(out.suspect.scored_tokens, 0);
    assert_eq!(out.suspect.log10_p, 0.0);
    c.filter = false;
    let out = run_distill(&w, &c).unwrap();
    assert!(out.suspect.log10_p > -3.0, "{}", out.suspect.log10_p);
}

#[test]
fn cross_tokenizer_student_is_caught() {
    let w = world();
    let mut c = small(0.25);
    c.student_tokenizer = StudentTokenizer::Cl100k;
    c.student_context = 5;
    let out = run_distill(&w, &c).unwrap();
    assert!(out.suspect.log10_p < -6.0, "{}", out.suspect.log10_p);
    assert!(out.control.log10_p > -3.0, "{}", out.control.log10_p);
}

#[test]
fn bad_parameters_are_errors() {
    let w = world();
    for c in [
        DistillConfig {
            fraction: 1.5,
            ..small(0.1)
        },
        DistillConfig {
            context_width: 0,
            ..small(0.1)
        },
        DistillConfig {
            context_width: 9,
            ..small(0.1)
        },
        DistillConfig {
            temperature: 0.0,
            ..small(0.1)
        },
        DistillConfig {
            student_tokens: 0,
            ..small(0.1)
        },
        DistillConfig {
            student_context: 0,
            ..small(0.1)
        },
    ] {
        assert!(run_distill(&w, &c).is_err(), "{c:?}");
    }
}

#[test]
fn generated_text_round_trips_through_the_tokenizer() {
    let w = world();
    let p = eval_profile(3, Scheme::DEFAULT_GREEN, 2).unwrap();
    let resp = teacher_responses(&w, &[p.watermark(None)], true, 1.0, 3, 200, 5);
    for ids in resp {
        let text = w.tokenizer.decode(&ids).unwrap();
        assert_eq!(w.tokenizer.encode(&text), ids);
    }
}

#[test]
fn pooled_scan_agrees_with_the_detector_on_one_record() {
    // One record: global dedup equals per-text dedup, so the statistic must match exactly.
    let w = world();
    for scheme in [Scheme::DEFAULT_GREEN, Scheme::Gumbel] {
        let p = eval_profile(9, scheme, 2).unwrap();
        let wm = p.watermark(None);
        let resp = teacher_responses(&w, std::slice::from_ref(&wm), true, 1.0, 1, 300, 1);
        let ours = scan(&wm, &resp, None, &[]);
        let theirs = score_ids(&wm, &resp[0], &Options::for_profile(&p)).unwrap();
        assert_eq!(ours.scored_tokens, theirs.scored_tokens);
        assert!(
            (ours.log10_p - theirs.log10_p).abs() < 1e-9 * (1.0 + theirs.log10_p.abs()),
            "{} vs {}",
            ours.log10_p,
            theirs.log10_p
        );
        assert!(ours.log10_p < -6.0);
    }
}

#[test]
fn power_search_agrees_with_the_detector() {
    let w = world();
    let p = eval_profile(4, Scheme::Gumbel, 2).unwrap();
    let wm = p.watermark(None);
    let ids = teacher_responses(&w, std::slice::from_ref(&wm), true, 1.0, 1, 400, 2).remove(0);
    let n = tokens_to_alpha(&wm, &ids, -6.0, &mut HashSet::new()).unwrap();
    let opts = Options::for_profile(&p);
    assert!(score_ids(&wm, &ids[..n], &opts).unwrap().log10_p <= -6.0);
    assert!(score_ids(&wm, &ids[..n - 1], &opts).unwrap().log10_p > -6.0);
}

#[test]
fn attacks_have_the_documented_sizes() {
    let wm: Vec<u32> = (0..200).collect();
    let clean: Vec<u32> = (1000..4000).collect();
    let mut rng = rand_chacha::ChaCha12Rng::seed_from_u64(1);
    let sub = Attack::Substitute(0.2).apply(&wm, &clean, &mut rng);
    assert_eq!(sub.len(), 200);
    assert_eq!(sub.iter().filter(|&&t| t >= 1000).count(), 40);
    assert_eq!(Attack::Insert(0.1).apply(&wm, &clean, &mut rng).len(), 220);
    assert_eq!(Attack::Delete(0.3).apply(&wm, &clean, &mut rng).len(), 140);
    let mix = Attack::MixClean(0.25).apply(&wm, &clean, &mut rng);
    assert_eq!(
        (mix.len(), mix.iter().filter(|&&t| t >= 1000).count()),
        (200, 50)
    );
    let emb = Attack::Embed(0.1).apply(&wm, &clean, &mut rng);
    assert_eq!(
        (emb.len(), emb.iter().filter(|&&t| t < 200).count()),
        (2000, 200)
    );
}

#[test]
fn binomial_interval_brackets_the_mean() {
    let (lo, hi) = binomial_interval(1_000_000, 1e-3, 0.0005);
    // Mean 1000, sd ≈ 31.6: the 99.9% interval is about ±3.3 sd.
    assert!((880..=905).contains(&lo), "{lo}");
    assert!((1095..=1120).contains(&hi), "{hi}");
}

#[test]
fn attribution_names_the_source_account() {
    let w = world();
    let mut c = small(0.25);
    c.seed = 21;
    let p = eval_profile(c.seed, c.scheme, 2).unwrap();
    let names: Vec<String> = (0..20).map(|i| format!("acct-{i}")).collect();
    let src = 13;
    let wms = [p.watermark(Some(&names[src]))];
    let corpora = provmark_eval::distill::Corpora::build(&w, &c, &wms);
    let out = provmark_eval::distill::student_outputs(
        &w,
        None,
        &corpora.suspect_mix(),
        2,
        20_000,
        200,
        3,
    )
    .unwrap();
    let pairs = select_pairs(&out, 2, None, &[]);
    let ranked = rank_accounts(names.len(), |i| p.watermark(Some(&names[i])), &pairs);
    assert_eq!(ranked[0].index, src);
    assert!(
        ranked[0].adjusted.log10_p < -6.0,
        "{}",
        ranked[0].adjusted.log10_p
    );
    // The master key did not watermark this data: its test is null.
    assert!(scan(&p.watermark(None), &out, None, &[]).log10_p > -3.0);
}

#[test]
fn cli_distill_prints_one_json_object() {
    let out = Command::new(env!("CARGO_BIN_EXE_provmark"))
        .args([
            "eval",
            "distill",
            "--fraction",
            "0.25",
            "--student-tokens",
            "10000",
            "--train-tokens",
            "40000",
            "--seed",
            "5",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for k in ["p_value", "log10_p", "scored_tokens", "control_p_value"] {
        assert!(v.get(k).is_some(), "missing {k}");
    }
    assert_eq!(v["fraction"], 0.25);
    let bad = Command::new(env!("CARGO_BIN_EXE_provmark"))
        .args(["eval", "distill", "--fraction", "2", "--json"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
}
