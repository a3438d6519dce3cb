//! The SmolLM2 tokenizer read from GGUF metadata (`assets/smollm2/tokenizer.json` is its canonical
//! extract): ids identical to an independent implementation (`tools/smollm2_tokenizer_ref.py`:
//! the `gguf` package's reader plus a from-scratch byte-level BPE) on every text of
//! `../shared/corpora` and a set of adversarial strings, round trips, and single special tokens.
#![allow(clippy::unwrap_used)] // tests: a panic is a failure report

use std::path::{Path, PathBuf};

use provmark_tokenize::Tokenizer;
use sha2::{Digest, Sha256};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn shipped() -> Tokenizer {
    Tokenizer::from_file(&root().join("assets/smollm2/tokenizer.json"))
        .expect("the shipped SmolLM2 tokenizer loads")
}

#[derive(serde::Deserialize)]
struct Reference {
    source: String,
    line: usize,
    field: String,
    n: usize,
    sha256: String,
    text: Option<String>,
    ids: Option<Vec<u32>>,
}

fn ids_digest(ids: &[u32]) -> String {
    let mut h = Sha256::new();
    for id in ids {
        h.update(id.to_le_bytes());
    }
    hex::encode(h.finalize())
}

fn corpus_field(source: &str, line: usize, field: &str) -> Option<String> {
    let path = root().join("../shared/corpora").join(source);
    let text = std::fs::read_to_string(path).ok()?;
    let rec: serde_json::Value = serde_json::from_str(text.lines().nth(line)?).ok()?;
    rec.get(field)?.as_str().map(str::to_string)
}

#[test]
fn ids_match_the_independent_python_bpe() {
    let tok = shipped();
    let refs = std::fs::read_to_string(root().join("testdata/smollm2/reference_ids.jsonl"))
        .expect("reference ids are committed");
    let (mut compared, mut corpus_missing) = (0, 0);
    let mut cache: std::collections::HashMap<String, Vec<serde_json::Value>> = Default::default();
    for line in refs.lines() {
        let r: Reference = serde_json::from_str(line).unwrap();
        let text = match &r.text {
            Some(t) => t.clone(),
            None => {
                let recs = cache.entry(r.source.clone()).or_insert_with(|| {
                    std::fs::read_to_string(root().join("../shared/corpora").join(&r.source))
                        .map(|t| {
                            t.lines()
                                .map(|l| serde_json::from_str(l).unwrap())
                                .collect()
                        })
                        .unwrap_or_default()
                });
                match recs
                    .get(r.line)
                    .and_then(|v| v.get(&r.field))
                    .and_then(|v| v.as_str())
                {
                    Some(t) => t.to_string(),
                    None => {
                        corpus_missing += 1;
                        continue;
                    }
                }
            }
        };
        let ids = tok.encode(&text);
        if let Some(expected) = &r.ids {
            assert_eq!(&ids, expected, "{}:{} {:?}", r.source, r.line, text);
        }
        assert_eq!(
            (ids.len(), ids_digest(&ids)),
            (r.n, r.sha256.clone()),
            "{} line {} field {}",
            r.source,
            r.line,
            r.field
        );
        compared += 1;
    }
    if corpus_missing > 0 {
        eprintln!("skipping {corpus_missing} corpus texts: ../shared/corpora is absent");
    } else {
        assert!(compared >= 1000, "only {compared} texts compared");
    }
    eprintln!("{compared} texts: ids identical to the independent implementation");
}

#[test]
fn corpus_texts_round_trip() {
    let tok = shipped();
    let mut n = 0;
    for (source, fields) in [
        ("cnn_dailymail_200.jsonl", &["article", "highlights"][..]),
        ("wmt16_de_en_validation.jsonl", &["de", "en"][..]),
        (
            "human_eval_164.jsonl",
            &["prompt", "canonical_solution"][..],
        ),
        (
            "llama2_chat_unwatermarked_1000.jsonl",
            &["prompt", "result"][..],
        ),
    ] {
        if corpus_field(source, 0, fields[0]).is_none() {
            eprintln!("skipping {source}: ../shared/corpora is absent");
            continue;
        }
        let text = std::fs::read_to_string(root().join("../shared/corpora").join(source)).unwrap();
        for line in text.lines() {
            let rec: serde_json::Value = serde_json::from_str(line).unwrap();
            for f in fields {
                if let Some(t) = rec.get(*f).and_then(|v| v.as_str()) {
                    let ids = tok.encode(t);
                    assert_eq!(tok.decode(&ids).unwrap(), t, "{source}");
                    n += 1;
                }
            }
        }
    }
    eprintln!("{n} corpus texts round-trip");
}

#[test]
fn special_tokens_are_single_and_special() {
    let tok = shipped();
    for s in ["<|endoftext|>", "<|im_start|>", "<|im_end|>"] {
        let ids = tok.encode(s);
        assert_eq!(ids.len(), 1, "{s}");
        assert!(tok.is_special(ids[0]), "{s}");
        assert_eq!(tok.decode(&ids).unwrap(), s);
    }
    let ids = tok.encode("<|im_start|>user\nHi<|im_end|>");
    assert_eq!(ids.first(), Some(&1));
    assert_eq!(ids.last(), Some(&2));
    // Digits are split one by one (the `smollm` pre-tokenizer).
    assert_eq!(tok.encode("2024").len(), 4);
    assert!(!tok.is_special(tok.encode("hello")[0]));
}

#[test]
fn the_model_file_gives_the_shipped_identity() {
    let model = root().join("models/SmolLM2-135M-Instruct.Q8_0.gguf");
    let shipped_q41 = root().join("models/SmolLM2-135M-Instruct.Q4_1.gguf");
    let mut seen = false;
    for m in [model, shipped_q41] {
        if !m.is_file() {
            continue;
        }
        let t = Tokenizer::from_file(&m).unwrap();
        match (t.spec(), shipped().spec()) {
            (
                provmark_tokenize::TokenizerSpec::HuggingFace { sha256: a, .. },
                provmark_tokenize::TokenizerSpec::HuggingFace { sha256: b, .. },
            ) => assert_eq!(a, b, "{}", m.display()),
            other => panic!("{other:?}"),
        }
        seen = true;
    }
    if !seen {
        eprintln!("skipping: no model under models/ (run tools/fetch-model.sh)");
    }
}
