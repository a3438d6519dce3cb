//! The real model: our forward pass against candle-transformers' reference llama, batch rows
//! against batches of one, and watermarked answers that the detector finds.
//!
//! Needs `models/SmolLM2-135M-Instruct.Q8_0.gguf` (`tools/fetch-model.sh`). Without it each test
//! prints a skip line — unless `PROVMARK_REQUIRE_MODEL=1` (set by `.ci/run`), which turns the
//! skip into a failure so CI cannot pass without having run them.
#![allow(clippy::unwrap_used)] // tests: a panic is a failure report

use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use provmark_core::{Profile, Scheme, SecretKey};
use provmark_embed::Embedder;
use provmark_model::{ChatTemplate, Generator, Llama, Sampling};
use provmark_tokenize::Tokenizer;

fn model_path() -> Option<PathBuf> {
    let p =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/SmolLM2-135M-Instruct.Q8_0.gguf");
    if p.is_file() {
        return Some(p);
    }
    if std::env::var("PROVMARK_REQUIRE_MODEL").is_ok_and(|v| v == "1") {
        panic!(
            "PROVMARK_REQUIRE_MODEL=1 but {} is missing: run tools/fetch-model.sh",
            p.display()
        );
    }
    eprintln!(
        "SKIPPED: {} is missing (run tools/fetch-model.sh)",
        p.display()
    );
    None
}

fn load() -> Option<(Llama, Tokenizer, PathBuf)> {
    let p = model_path()?;
    Some((
        Llama::load(&p).unwrap(),
        Tokenizer::from_file(&p).unwrap(),
        p,
    ))
}

fn argmax(v: &[f32]) -> usize {
    v.iter()
        .enumerate()
        .fold(
            (0, f32::NEG_INFINITY),
            |m, (i, &x)| if x > m.1 { (i, x) } else { m },
        )
        .0
}

#[test]
fn forward_pass_matches_candle_reference_llama() {
    let Some((ours, tok, path)) = load() else {
        return;
    };
    let ids = ChatTemplate::for_tokenizer(&tok)
        .unwrap()
        .user_turn(&tok, "Name three colours.");
    let mut f = std::fs::File::open(&path).unwrap();
    let ct = candle_core::quantized::gguf_file::Content::read(&mut f).unwrap();
    let mut reference = candle_transformers::models::quantized_llama::ModelWeights::from_gguf(
        ct,
        &mut f,
        &Device::Cpu,
    )
    .unwrap();
    let mut cache = ours.new_cache();
    let mut a = ours.prefill(&mut cache, &ids).unwrap();
    let x = Tensor::new(ids.as_slice(), &Device::Cpu)
        .unwrap()
        .unsqueeze(0)
        .unwrap();
    let mut b = reference
        .forward(&x, 0)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    // Prompt, then five greedy steps through both caches.
    for (pos, step) in (ids.len()..).zip(0..6) {
        assert_eq!(a.len(), b.len());
        let diff = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max);
        assert!(diff < 1e-3, "step {step}: max |logit difference| {diff}");
        let next = argmax(&a) as u32;
        assert_eq!(next as usize, argmax(&b), "step {step}");
        a = ours
            .decode(std::slice::from_mut(&mut cache), &[next])
            .unwrap();
        let x = Tensor::new(&[next], &Device::Cpu)
            .unwrap()
            .unsqueeze(0)
            .unwrap();
        b = reference
            .forward(&x, pos)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
    }
}

#[test]
fn a_batch_row_is_bit_identical_to_a_batch_of_one() {
    let Some((m, tok, _)) = load() else { return };
    let t = ChatTemplate::for_tokenizer(&tok).unwrap();
    let prompts = ["Hi!", "Explain rain in one sentence please.", "2+2?"];
    let mut caches = Vec::new();
    let mut first = Vec::new();
    for p in prompts {
        let mut c = m.new_cache();
        let l = m.prefill(&mut c, &t.user_turn(&tok, p)).unwrap();
        first.push(argmax(&l) as u32);
        caches.push(c);
    }
    let mut alone = caches.clone();
    let batched = m.decode(&mut caches, &first).unwrap();
    let v = m.config().vocab_size;
    for (r, c) in alone.iter_mut().enumerate() {
        let one = m.decode(std::slice::from_mut(c), &first[r..r + 1]).unwrap();
        let row = &batched[r * v..(r + 1) * v];
        assert!(
            one.iter().zip(row).all(|(a, b)| a.to_bits() == b.to_bits()),
            "row {r} differs"
        );
    }
}

fn profile(scheme: Scheme, tok: &Tokenizer) -> Profile {
    Profile::from_secret(SecretKey::from_bytes([42; 32]), scheme, 2, tok.spec()).unwrap()
}

#[test]
fn answers_are_the_same_at_batch_1_and_batch_3() {
    let Some((m, tok, _)) = load() else { return };
    let p = profile(Scheme::DEFAULT_GREEN, &tok);
    let e = Embedder::from_profile(&p, Some("acct-7"), m.config().vocab_size).unwrap();
    let sampling = Sampling {
        max_tokens: 24,
        temperature: 1.0,
        seed: 5,
        ..Sampling::default()
    };
    let g = Generator::new(&m, &tok, Some(&e), sampling).unwrap();
    let prompts: Vec<String> = [
        "How do I boil an egg?",
        "Why do cats purr?",
        "Say hello.",
        "Name a planet.",
    ]
    .map(String::from)
    .to_vec();
    let collect = |batch| {
        let mut out = vec![Vec::new(); prompts.len()];
        g.run(&prompts, batch, |a| {
            out[a.index] = a.ids;
            Ok(())
        })
        .unwrap();
        out
    };
    let one = collect(1);
    assert!(one.iter().all(|ids| !ids.is_empty()));
    assert_eq!(one, collect(3));
}

#[test]
fn watermarked_answers_are_detected_and_clean_ones_are_not() {
    let Some((m, tok, _)) = load() else { return };
    for scheme in [Scheme::DEFAULT_GREEN, Scheme::Gumbel] {
        let p = profile(scheme, &tok);
        let e = Embedder::from_profile(&p, None, m.config().vocab_size).unwrap();
        let sampling = Sampling {
            max_tokens: 120,
            temperature: 1.0,
            seed: 11,
            ..Sampling::default()
        };
        let prompts = vec!["Tell me a short story about a lighthouse keeper.".to_string()];
        for (embedder, watermarked) in [(Some(&e), true), (None, false)] {
            let g = Generator::new(&m, &tok, embedder, sampling.clone()).unwrap();
            let mut text = String::new();
            g.run(&prompts, 1, |a| {
                text = a.text;
                Ok(())
            })
            .unwrap();
            let ids = tok.encode(&text);
            let special = |id: u32| tok.is_special(id);
            let mut opts = provmark_detect::Options::for_profile(&p);
            opts.special = Some(&special);
            let ev = provmark_detect::score_ids(&p.watermark(None), &ids, &opts).unwrap();
            eprintln!(
                "{} watermarked={watermarked}: {} tokens, log10 p = {:.2}",
                scheme.name(),
                ids.len(),
                ev.log10_p
            );
            if watermarked {
                assert!(ev.log10_p < -6.0, "{}: {}", scheme.name(), ev.log10_p);
            } else {
                assert!(ev.log10_p > -6.0, "{}: {}", scheme.name(), ev.log10_p);
            }
        }
    }
}

#[test]
fn a_missing_model_names_the_fetch_step() {
    let err = match provmark_model::load(Path::new("models/no-such-model.gguf")) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("loaded a missing file"),
    };
    assert!(err.contains("tools/fetch-model.sh"), "{err}");
}

#[test]
fn teacher_forced_predictions_are_the_argmax_after_each_prefix() {
    let Some((m, tok, _)) = load() else { return };
    let ids = tok.encode("Tea is made by pouring hot water over dried leaves, then waiting.");
    let whole = m.predict_top1(&ids, 512).unwrap();
    let chunked = m.predict_top1(&ids, 5).unwrap();
    assert_eq!(whole.len(), ids.len());
    for t in [0, 3, ids.len() - 1] {
        let mut cache = m.new_cache();
        let logits = m.prefill(&mut cache, &ids[..=t]).unwrap();
        assert_eq!(whole[t] as usize, argmax(&logits), "position {t}");
    }
    // Chunked prefill reads the same cache: the same predictions up to rounding ties.
    let same = whole.iter().zip(&chunked).filter(|(a, b)| a == b).count();
    assert!(same * 10 >= ids.len() * 9, "{same} of {} agree", ids.len());
}

#[test]
fn the_open_model_test_is_uniform_for_a_model_that_never_saw_the_key() {
    // The unwatermarked model is a clean suspect for every key. Its predictions on clean answers
    // are computed once; each of 300 independent keys then gives one p-value, and given the text
    // the keys' green indicators are independent, so those p-values must look uniform (green's
    // discrete tail makes them conservative: P(p ≤ a) ≤ a).
    let Some((m, tok, _)) = load() else { return };
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let answers =
        std::fs::read_to_string(root.join("experiments/real-model/answers/clean-T1.0.jsonl"))
            .unwrap();
    let texts: Vec<Vec<u32>> = answers
        .lines()
        .take(10)
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            tok.encode(v["text"].as_str().unwrap())
        })
        .collect();
    let preds: Vec<Vec<u32>> = texts
        .iter()
        .map(|ids| {
            let top = m.predict_top1(ids, 512).unwrap();
            let mut p = vec![0u32; ids.len()];
            p[1..].copy_from_slice(&top[..ids.len() - 1]);
            p
        })
        .collect();
    for scheme in [Scheme::DEFAULT_GREEN, Scheme::Gumbel] {
        let mut ps = Vec::new();
        let mut pairs = 0;
        for k in 0..300u32 {
            let mut key = [0u8; 32];
            key[..4].copy_from_slice(&k.to_le_bytes());
            key[31] = 0xA5;
            let profile =
                Profile::from_secret(SecretKey::from_bytes(key), scheme, 2, tok.spec()).unwrap();
            let wm = profile.watermark(None);
            let mut t = provmark_detect::OpenModelTest::new(
                &wm,
                provmark_detect::PairFingerprinter::for_profile(&profile),
            )
            .unwrap();
            for (ids, p) in texts.iter().zip(&preds) {
                t.add(ids, p, 1);
            }
            let e = t.evidence();
            pairs = e.scored_pairs;
            ps.push(10f64.powf(e.log10_p));
        }
        assert!(pairs > 300, "{pairs} pairs");
        // Rejection rates at 0.1 and 0.2 (expected ≤ 30 and ≤ 60 of 300; 4 sd of slack above),
        // and not degenerate below.
        let r10 = ps.iter().filter(|&&p| p <= 0.1).count();
        let r20 = ps.iter().filter(|&&p| p <= 0.2).count();
        assert!((10..=52).contains(&r10), "{scheme:?}: {r10} of 300 at 0.1");
        assert!((30..=88).contains(&r20), "{scheme:?}: {r20} of 300 at 0.2");
        // Kolmogorov–Smirnov distance above the diagonal (conservative side allowed).
        ps.sort_by(f64::total_cmp);
        let d = ps
            .iter()
            .enumerate()
            .map(|(i, &p)| (i + 1) as f64 / ps.len() as f64 - p)
            .fold(0.0f64, f64::max);
        assert!(
            d < 0.11,
            "{scheme:?}: KS distance {d} (critical 0.094 at 1%)"
        );
    }
}
