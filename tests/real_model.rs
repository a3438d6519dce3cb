//! The real model through the `provmark` binary: keygen --model, generate (green and Gumbel, an
//! account key, a clean control), check with --model and with the shipped tokenizer.
//!
//! Needs `models/SmolLM2-135M-Instruct.Q8_0.gguf` (`tools/fetch-model.sh`); prints SKIPPED without
//! it, or fails when `PROVMARK_REQUIRE_MODEL=1` (as `.ci/run` sets after fetching).
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;
use common::{model, root};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_provmark"));
    c.current_dir(root());
    c
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("provmark-real-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.code() == Some(0),
        "exit {:?}: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn check_json(
    text_file: &Path,
    profile: &Path,
    extra: &[&str],
) -> (Option<i32>, serde_json::Value) {
    let o = bin()
        .arg("check")
        .arg(text_file)
        .arg("--profile")
        .arg(profile)
        .arg("--json")
        .args(extra)
        .output()
        .unwrap();
    let v = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stderr)));
    (o.status.code(), v)
}

#[test]
fn generated_answers_are_detected_attributed_and_clean_ones_are_not() {
    let Some(model) = model() else { return };
    let d = tmp("e2e");
    for (name, scheme) in [
        ("green", provmark_core::Scheme::DEFAULT_GREEN),
        ("gumbel", provmark_core::Scheme::Gumbel),
    ] {
        // A fixed test key, so the answers (fixed seed) are the same on every run.
        let profile = d.join(format!("{name}.json"));
        let shipped = root().join("assets/smollm2/tokenizer.json");
        let spec = provmark_tokenize::Tokenizer::from_file(&shipped)
            .unwrap()
            .spec();
        provmark_core::Profile::from_secret(
            provmark_core::SecretKey::from_bytes([7; 32]),
            scheme,
            2,
            spec,
        )
        .unwrap()
        .save_new(&profile)
        .unwrap();
        let scheme = name;
        let gen = |extra: &[&str]| {
            let o = bin()
                .args(["generate", "--profile"])
                .arg(&profile)
                .arg("--model")
                .arg(&model)
                .args([
                    "--prompt",
                    "Tell me a story about a fox who finds a lost key.",
                ])
                .args([
                    "--max-tokens",
                    "300",
                    "--temperature",
                    "1.0",
                    "--seed",
                    "3",
                    "--jsonl",
                ])
                .args(extra)
                .output()
                .unwrap();
            let line: serde_json::Value = serde_json::from_str(ok(&o).trim()).unwrap();
            line
        };
        let marked = gen(&["--account", "bob"]);
        assert_eq!(marked["watermarked"], true);
        assert_eq!(marked["account"], "bob");
        let clean = gen(&["--no-watermark"]);
        assert_eq!(clean["watermarked"], false);
        let accounts = d.join("accounts.txt");
        std::fs::write(&accounts, "alice\nbob\ncarol\n").unwrap();
        let t = d.join(format!("{scheme}-marked.txt"));
        std::fs::write(&t, marked["text"].as_str().unwrap()).unwrap();
        // Tokenizer from the model file (--model) and from the profile's shipped path.
        for extra in [vec!["--model", model.to_str().unwrap()], vec![]] {
            let mut args = vec!["--accounts-file", accounts.to_str().unwrap()];
            args.extend(extra.iter().copied());
            let (code, v) = check_json(&t, &profile, &args);
            assert_eq!(code, Some(0), "{scheme}: {v}");
            assert_eq!(v["account"], "bob", "{scheme}: {v}");
        }
        let c = d.join(format!("{scheme}-clean.txt"));
        std::fs::write(&c, clean["text"].as_str().unwrap()).unwrap();
        let (code, v) = check_json(&c, &profile, &[]);
        assert_eq!(code, Some(1), "{scheme} clean: {v}");
    }
}

#[test]
fn the_readme_tea_answer_gets_a_verdict_with_its_p_value() {
    let Some(model) = model() else { return };
    let d = tmp("tea");
    let profile = d.join("key.json");
    ok(&bin()
        .args(["keygen", "--model"])
        .arg(&model)
        .arg("--out")
        .arg(&profile)
        .output()
        .unwrap());
    // The profile names the small shipped tokenizer, not the model.
    let p: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&profile).unwrap()).unwrap();
    assert_eq!(
        p["tokenizer"]["path"], "assets/smollm2/tokenizer.json",
        "{p}"
    );
    let text = ok(&bin()
        .args(["generate", "--profile"])
        .arg(&profile)
        .args(["--prompt", "How do I make tea?", "--max-tokens", "200"])
        .output()
        .unwrap());
    // The key is fresh (random) on every run and the watermark steers which words come out, so
    // no word of the answer is pinned here (one CI run's answer never said "tea"); the answer
    // must only be long enough for its p-value to mean something.
    assert!(text.split_whitespace().count() >= 40, "{text}");
    let t = d.join("tea.txt");
    std::fs::write(&t, &text).unwrap();
    let (code, v) = check_json(&t, &profile, &[]);
    assert!(matches!(code, Some(0) | Some(1)), "{v}");
    let lp = v["log10_p"].as_f64().unwrap();
    assert_eq!(code == Some(0), lp <= -6.0, "{v}");
    assert!(v["scored_tokens"].as_u64().unwrap() >= 50, "{v}");
    // --prompt TEXT: pairs whose context occurs in the prompt are not scored. A prompt made of the
    // answer's own first sentence must remove scored pairs; the same prompt from a file agrees.
    let head: String = text.chars().take(120).collect();
    let (_, with_prompt) = check_json(&t, &profile, &["--prompt", &head]);
    let all = v["scored_tokens"].as_u64().unwrap();
    let fewer = with_prompt["scored_tokens"].as_u64().unwrap();
    assert!(
        fewer < all,
        "{fewer} of {all} scored with the prompt excluded"
    );
    let pf = d.join("prompt.txt");
    std::fs::write(&pf, &head).unwrap();
    let (_, from_file) = check_json(&t, &profile, &["--prompt-file", pf.to_str().unwrap()]);
    assert_eq!(from_file, with_prompt);
}

#[test]
fn a_profile_for_another_tokenizer_is_a_clear_error() {
    let Some(model) = model() else { return };
    let d = tmp("mismatch");
    let profile = d.join("o200k.json");
    ok(&bin()
        .args(["keygen", "--out"])
        .arg(&profile)
        .output()
        .unwrap());
    let o = bin()
        .args(["generate", "--profile"])
        .arg(&profile)
        .arg("--model")
        .arg(&model)
        .args(["--prompt", "hi"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("keygen --model"), "{err}");
}

#[test]
fn a_missing_model_names_the_fetch_step() {
    let d = tmp("missing");
    let profile = d.join("k.json");
    ok(&bin()
        .args(["keygen", "--out"])
        .arg(&profile)
        .output()
        .unwrap());
    let o = bin()
        .args(["generate", "--profile"])
        .arg(&profile)
        .args(["--model", "models/absent.gguf", "--prompt", "hi"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("tools/fetch-model.sh"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}
