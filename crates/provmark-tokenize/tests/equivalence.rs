//! Our OpenAI backend (`bpe-openai` + our special-token handling) must give exactly the ids of the
//! reference implementation (`tiktoken-rs`, a port of OpenAI's tiktoken core, with
//! `encode_with_special_tokens`, i.e. tiktoken's `allowed_special="all"`).
//!
//! Default run: adversarial strings, a seeded random mix, and a sample of the real texts in
//! `../shared/corpora/*.jsonl` (skipped when absent). `cargo test --release -- --ignored` runs every
//! corpus text.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use provmark_tokenize::Tokenizer;
use tiktoken_rs::CoreBPE;

/// Each bundled encoding twice: cold (the BPE encoder for every piece) and warmed up (whole-piece
/// table first), since both paths must give tiktoken's ids.
fn encodings() -> Vec<(Tokenizer, &'static CoreBPE, &'static str)> {
    let mut v = Vec::new();
    for (name, reference) in [
        ("o200k_base", tiktoken_rs::o200k_base_singleton()),
        ("cl100k_base", tiktoken_rs::cl100k_base_singleton()),
    ] {
        v.push((Tokenizer::openai(name).unwrap(), reference, name));
        let warm = Tokenizer::openai(name).unwrap();
        warm.warm_up();
        v.push((warm, reference, name));
    }
    v
}

#[track_caller]
fn check_same(tok: &Tokenizer, reference: &CoreBPE, name: &str, text: &str) {
    let ours = tok.encode(text);
    let theirs = reference.encode_with_special_tokens(text);
    if ours != theirs {
        let at = ours.iter().zip(&theirs).take_while(|(a, b)| a == b).count();
        panic!(
            "{name}: ids differ at token {at} for text {:?} (first 200 bytes)\nours   {:?}\ntheirs {:?}",
            text.chars().take(200).collect::<String>(),
            &ours[at..ours.len().min(at + 8)],
            &theirs[at..theirs.len().min(at + 8)]
        );
    }
    assert_eq!(tok.decode(&ours).unwrap(), text, "{name}: roundtrip");
}

fn adversarial() -> Vec<String> {
    let mut v: Vec<String> = [
        "",
        " ",
        "  ",
        "\n",
        "\r\n",
        "a",
        "Hello, world!",
        "   leading spaces",
        "trailing spaces   ",
        "trailing newline\n",
        "tabs\t\t\tand\t \t mixed \n\t\n",
        "\n\n\n\n  \n \n\t\n   x",
        "word   \n   word",
        "a \u{a0}\u{a0} b\u{3000}\u{3000}c\u{2003}d",
        "\u{200b}\u{200d}\u{feff}zero width",
        "CamelCaseWordsAndALLCAPSAndmixedCASE",
        "I'm you'll they'RE we'VE it's HE'LL she'D 'S 's",
        "don't  'tis ''quoted'' \"double\"",
        "12345678901234567890123456789",
        "1 12 123 1234 12345 3.14159 -42 1e10 0x1F 1,000,000",
        "٣٤٥٦٧٨٩ ١٢٣",
        "日本語のテキストと漢字、ひらがな。",
        "中文文本测试，包括标点符号！",
        "한국어 텍스트",
        "Ελληνικά κείμενα και Кириллица текст",
        "עברית ومرحبا بالعالم",
        "e\u{301}e\u{301}\u{301} combining a\u{308}",
        "🦀🦀🦀 👩\u{200d}👩\u{200d}👧\u{200d}👦 🇩🇪🇯🇵 ✨",
        "\u{10FFFF}\u{E000}\u{FFFD}",
        "<|endoftext|>",
        "<|endoftext|><|endoftext|>",
        "x<|endoftext|>y",
        "<|endoftext",
        "<|endoftext|",
        "<<|endoftext|>>",
        "<|<|endoftext|>|>",
        "<|endofprompt|> and <|fim_prefix|><|fim_middle|><|fim_suffix|>",
        "<|im_start|>user<|im_end|>",
        "<| |> <|> <||> |<",
        "    <|endoftext|>    ",
        "\n<|endoftext|>\n",
        "fn main() {\n    println!(\"hi\");\n}\n",
        "def f(x):\n\treturn x  # comment\n\n\n",
        "https://example.com/path/to/file.html?q=1&r=2#frag",
        "a/b/c//d///e \\ back\\slash",
        "!!!???...,,,;;;:::---___***",
        "$$$ €€€ £££ ¥¥¥ ₿",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.push(" ".repeat(1000));
    v.push("\n".repeat(500));
    v.push(" \n".repeat(300));
    v.push("9".repeat(1001));
    v.push("a".repeat(5000));
    v.push("ab".repeat(2000));
    v.push("🦀".repeat(300));
    v.push("<|endoftext|>".repeat(50));
    v.push("x ".repeat(2000));
    v
}

/// Deterministic random strings drawn from a character soup that exercises the pre-tokenizer's
/// classes (letters of both cases, marks, digits, punctuation, every kind of whitespace, specials).
fn random_mix(seed: u64, count: usize) -> Vec<String> {
    const SOUP: &[&str] = &[
        "a",
        "Z",
        "é",
        "ß",
        "Ä",
        "ǅ",
        "ʰ",
        "中",
        "ア",
        "\u{301}",
        "0",
        "7",
        "٣",
        "Ⅻ",
        " ",
        "  ",
        "\t",
        "\n",
        "\r",
        "\r\n",
        "\u{a0}",
        "\u{3000}",
        "'",
        "'s",
        "'LL",
        "\"",
        ".",
        ",",
        "!",
        "?",
        "/",
        "-",
        "_",
        "(",
        ")",
        "{",
        "}",
        "<",
        "|",
        ">",
        "<|endoftext|>",
        "<|endofprompt|>",
        "🦀",
        "\u{200d}",
        "€",
        "the",
        " the",
        "The",
        "ing",
        "123456",
    ];
    let mut state = seed;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..count)
        .map(|_| {
            let len = (next() % 60) as usize;
            (0..len)
                .map(|_| SOUP[(next() % SOUP.len() as u64) as usize])
                .collect()
        })
        .collect()
}

#[test]
fn adversarial_strings_match_tiktoken() {
    for (tok, reference, name) in encodings() {
        for text in adversarial() {
            check_same(&tok, reference, name, &text);
        }
    }
}

#[test]
fn random_mix_matches_tiktoken() {
    for (tok, reference, name) in encodings() {
        for text in random_mix(0x9E37_79B9_7F4A_7C15, 3000) {
            check_same(&tok, reference, name, &text);
        }
    }
}

/// Every `step`-th corpus text (the whole corpus with `step` = 1).
fn corpus_equivalence(step: usize) {
    let texts = common::corpus_texts();
    if texts.is_empty() {
        eprintln!("skipping: no shared corpora");
        return;
    }
    let mut checked = 0;
    for (tok, reference, name) in encodings() {
        for text in texts.iter().step_by(step) {
            check_same(&tok, reference, name, text);
            checked += 1;
        }
    }
    eprintln!("{checked} (encoding, text) pairs identical");
}

#[test]
fn corpus_sample_matches_tiktoken() {
    corpus_equivalence(25);
}

#[test]
#[ignore = "every shared corpus text; run with --release -- --ignored"]
fn full_corpus_matches_tiktoken() {
    corpus_equivalence(1);
}

/// Parallel encoding (cut at safe boundaries) gives the ids and ranges of the whole, on a long
/// text made of the adversarial strings, the random mix and (when present) the shared corpora,
/// joined by newlines so that many cuts are possible and each lands next to unusual text.
#[test]
fn parallel_encoding_matches_whole() {
    let mut parts = adversarial();
    parts.extend(random_mix(0x5DEE_CE66_D1CE_4E5B, 3000));
    parts.extend(common::corpus_texts().into_iter().step_by(3));
    let mut text = String::new();
    while text.len() < (3 << 20) {
        for p in &parts {
            text.push_str(p);
            text.push('\n');
        }
    }
    for (tok, reference, name) in encodings() {
        let whole = tok.encode_with_offsets(&text);
        assert_eq!(
            whole.0,
            reference.encode_with_special_tokens(&text),
            "{name}: the whole text differs from tiktoken"
        );
        for threads in [2, 3, 8, 64] {
            let par = tok.encode_with_offsets_parallel(&text, threads);
            assert!(par == whole, "{name}: {threads} threads differ from one");
            assert!(
                tok.encode_parallel(&text, threads) == whole.0,
                "{name}: {threads} threads"
            );
        }
        // The ranges tile the text: each starts where the token lengths before it add up to.
        assert!(tok.ranges_tile_text());
        let mut at = 0;
        for (&id, r) in whole.0.iter().zip(&whole.1) {
            assert_eq!(r.start, at, "{name}");
            at += tok.token_len(id).unwrap();
        }
        assert_eq!(at, text.len(), "{name}");
    }
}
