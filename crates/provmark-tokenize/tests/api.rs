//! Behaviour of the public API: special tokens, offsets, decode errors, identities.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use provmark_tokenize::{TokenizeError, Tokenizer, TokenizerSpec};

#[test]
fn o200k_roundtrip_and_known_ids() {
    let tok = Tokenizer::openai("o200k_base").unwrap();
    assert_eq!(tok.vocab_size(), 200_019);
    // Reference ids from tiktoken-rs (the equivalence test checks this at scale).
    let reference = tiktoken_rs::o200k_base_singleton();
    let text = "Hello, world! Grüße aus Köln 12345 ";
    assert_eq!(tok.encode(text), reference.encode_with_special_tokens(text));
    assert_eq!(tok.decode(&tok.encode(text)).unwrap(), text);
    assert_eq!(
        tok.spec(),
        TokenizerSpec::Tiktoken {
            encoding: "o200k_base".into()
        }
    );
}

#[test]
fn special_token_text_is_the_special_id() {
    for (enc, eot) in [("o200k_base", 199_999u32), ("cl100k_base", 100_257)] {
        let tok = Tokenizer::openai(enc).unwrap();
        let ids = tok.encode("a<|endoftext|>b<|endofprompt|><|not special|>");
        assert_eq!(ids[1], eot, "{enc}");
        assert!(tok.is_special(eot));
        assert!(!tok.is_special(ids[0]));
        let specials: Vec<u32> = ids.iter().copied().filter(|&i| tok.is_special(i)).collect();
        assert_eq!(specials.len(), 2, "{enc}: {ids:?}");
        assert_eq!(tok.token_bytes(eot).unwrap(), b"<|endoftext|>");
        assert_eq!(
            tok.decode(&ids).unwrap(),
            "a<|endoftext|>b<|endofprompt|><|not special|>"
        );
    }
}

#[test]
fn offsets_tile_the_text() {
    let tok = Tokenizer::openai("o200k_base").unwrap();
    let text = "Zürich 🦀🦀 x<|endoftext|>  \n\n  1234567 end";
    let (ids, ranges) = tok.encode_with_offsets(text);
    assert_eq!(ids, tok.encode(text));
    assert_eq!(ids.len(), ranges.len());
    let mut at = 0;
    for (id, r) in ids.iter().zip(&ranges) {
        assert_eq!(r.start, at);
        assert_eq!(
            &text.as_bytes()[r.clone()],
            tok.token_bytes(*id).unwrap().as_slice()
        );
        at = r.end;
    }
    assert_eq!(at, text.len());
}

#[test]
fn encode_into_appends() {
    let tok = Tokenizer::openai("cl100k_base").unwrap();
    let mut out = vec![7];
    tok.encode_into("hello there", &mut out);
    assert_eq!(out[0], 7);
    assert_eq!(&out[1..], tok.encode("hello there").as_slice());
    assert!(tok.encode("").is_empty());
}

#[test]
fn decode_errors_do_not_panic() {
    let tok = Tokenizer::openai("o200k_base").unwrap();
    assert!(matches!(
        tok.decode(&[u32::MAX]),
        Err(TokenizeError::UnknownTokenId(u32::MAX))
    ));
    assert!(matches!(
        tok.decode(&[199_998]),
        Err(TokenizeError::UnknownTokenId(_))
    ));
    assert!(tok.token_bytes(199_998).is_none());
    // A token that is a lone byte of a multi-byte character.
    let ids = tok.encode("🦀");
    let partial: Vec<u32> = ids
        .iter()
        .copied()
        .filter(|&i| std::str::from_utf8(&tok.token_bytes(i).unwrap()).is_err())
        .take(1)
        .collect();
    assert!(
        !partial.is_empty(),
        "expected 🦀 to need byte tokens: {ids:?}"
    );
    assert!(matches!(
        tok.decode(&partial),
        Err(TokenizeError::InvalidUtf8 { .. })
    ));
    assert!(tok.decode_lossy(&partial).contains('\u{FFFD}'));
    assert_eq!(tok.decode_lossy(&[u32::MAX]), "\u{FFFD}");
}

#[test]
fn from_arg_and_unknown_names() {
    assert_eq!(
        Tokenizer::from_arg("cl100k_base").unwrap().vocab_size(),
        100_277
    );
    let err = Tokenizer::from_arg("no_such_encoding").unwrap_err();
    assert!(matches!(err, TokenizeError::UnknownTokenizerArg(_)));
    assert!(matches!(
        Tokenizer::openai("gpt2"),
        Err(TokenizeError::UnknownEncoding(_))
    ));
    let spec = TokenizerSpec::Tiktoken {
        encoding: "p50k_base".into(),
    };
    assert!(Tokenizer::for_profile(&spec, None).is_err());
}

#[test]
fn bad_tokenizer_files_are_errors() {
    let dir = std::env::temp_dir().join(format!("provmark-tokenize-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("tokenizer.json");
    std::fs::write(&bad, b"{\"not\": \"a tokenizer\"}").unwrap();
    let err = Tokenizer::from_file(&bad).unwrap_err();
    assert!(matches!(err, TokenizeError::InvalidFile { .. }), "{err}");
    assert!(err.to_string().contains("tokenizer.json"));
    let missing = dir.join("missing.json");
    assert!(matches!(
        Tokenizer::from_file(&missing),
        Err(TokenizeError::Io { .. })
    ));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn profile_binding_tiktoken() {
    let spec = TokenizerSpec::default_openai();
    let tok = Tokenizer::for_profile(&spec, None).unwrap();
    assert_eq!(tok.spec(), spec);
    if let Some(gpt2) = common::gpt2_tokenizer_json() {
        // A tokenizer.json given for a profile of a bundled encoding is a mismatch, not ignored.
        let err = Tokenizer::for_profile(&spec, Some(&gpt2)).unwrap_err();
        assert!(matches!(err, TokenizeError::Mismatch { .. }), "{err}");
        assert!(err.to_string().contains("o200k_base"));
    }
}

#[test]
fn gpt2_tokenizer_json() {
    let Some(path) = common::gpt2_tokenizer_json() else {
        return;
    };
    let tok = Tokenizer::from_file(&path).unwrap();
    assert_eq!(tok.vocab_size(), 50_257);
    // GPT-2 ids of "Hello world" are well known: 15496, 995.
    assert_eq!(tok.encode("Hello world"), vec![15496, 995]);
    // This file's <|endoftext|> has lstrip/rstrip set: whitespace around it is absorbed into the
    // special token, so only text without such whitespace round-trips.
    assert_eq!(tok.encode(" <|endoftext|>  "), vec![50_256]);
    // It is also `single_word`: not recognised when glued to a word character.
    assert!(!tok.encode("a<|endoftext|>b").contains(&50_256));
    let text = "Grüße 🦀.<|endoftext|>.spaces\n\nand   1234567";
    let ids = tok.encode(text);
    assert!(ids.contains(&50_256));
    assert!(tok.is_special(50_256));
    assert!(!tok.is_special(15496));
    assert_eq!(tok.decode(&ids).unwrap(), text);
    let concat: Vec<u8> = ids
        .iter()
        .flat_map(|&i| tok.token_bytes(i).unwrap())
        .collect();
    assert_eq!(concat, text.as_bytes());
    assert_eq!(tok.token_bytes(995).unwrap(), b" world");
    assert!(matches!(
        tok.decode(&[50_257]),
        Err(TokenizeError::UnknownTokenId(50_257))
    ));
    // Byte offsets: on ASCII text each range spells its token exactly.
    let ascii = "Offsets, please: 12345 and  two  spaces.";
    let (ids_a, ranges_a) = tok.encode_with_offsets(ascii);
    for (id, r) in ids_a.iter().zip(&ranges_a) {
        assert_eq!(
            ascii.as_bytes()[r.clone()],
            tok.token_bytes(*id).unwrap()[..]
        );
    }
    // A model folder works for from_arg.
    let dir = path.parent().unwrap().to_str().unwrap();
    assert_eq!(Tokenizer::from_arg(dir).unwrap().spec(), tok.spec());
    let (ids2, ranges) = tok.encode_with_offsets(text);
    assert_eq!(ids2, ids);
    assert_eq!(ranges.len(), ids.len());
    assert!(ranges.iter().all(|r| r.end <= text.len()));
    match tok.spec() {
        TokenizerSpec::HuggingFace {
            sha256,
            vocab_size,
            path,
        } => {
            assert_eq!(
                sha256,
                "a45f79c837fa3465df3072957b4799227146a5551205a97f3b4cc957b4127e33"
            );
            assert_eq!(vocab_size, 50_257);
            assert!(path.is_some());
        }
        other => panic!("unexpected spec {other:?}"),
    }
}

#[test]
fn profile_binding_huggingface() {
    let Some(path) = common::gpt2_tokenizer_json() else {
        return;
    };
    let good = Tokenizer::from_file(&path).unwrap().spec();
    // Via the path hint, and via an override.
    assert!(Tokenizer::for_profile(&good, None).is_ok());
    assert!(Tokenizer::for_profile(&good, Some(&path)).is_ok());
    let TokenizerSpec::HuggingFace {
        sha256, vocab_size, ..
    } = good.clone()
    else {
        unreachable!()
    };

    let wrong_hash = TokenizerSpec::HuggingFace {
        sha256: "00".repeat(32),
        vocab_size,
        path: Some(path.display().to_string()),
    };
    let err = Tokenizer::for_profile(&wrong_hash, None).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, TokenizeError::Mismatch { .. }));
    assert!(
        msg.contains(&"00".repeat(32)) && msg.contains(&sha256),
        "{msg}"
    );

    let wrong_vocab = TokenizerSpec::HuggingFace {
        sha256: sha256.clone(),
        vocab_size: 50_000,
        path: None,
    };
    let err = Tokenizer::for_profile(&wrong_vocab, Some(&path)).unwrap_err();
    assert!(matches!(err, TokenizeError::Mismatch { .. }), "{err}");

    let no_path = TokenizerSpec::HuggingFace {
        sha256,
        vocab_size,
        path: None,
    };
    assert!(matches!(
        Tokenizer::for_profile(&no_path, None),
        Err(TokenizeError::MissingFile { .. })
    ));
}
