//! The checks behind each fuzz target, one function per input surface. Each takes arbitrary
//! bytes, must never panic, and asserts what must hold beyond "no panic":
//!
//! * `profile_json` — a profile that loads re-serialises to JSON that loads to the same profile
//!   and serialises to the same bytes (native and imported keys);
//! * `jsonl` — the same bytes read as plain, as gzip and as zstd (each split into two members
//!   at a point chosen by the input) give the same records; every non-blank line is one record,
//!   scored-to-be or skipped with a reason; records agree with `serde_json`'s reading;
//! * `parquet` — any file decodes to records or a clean error;
//! * `text` — tokenization round-trips to the same bytes, the parallel tokenizer gives the
//!   same ids, and scoring gives `scored ≤ total` and a p-value in (0, 1];
//! * `token_ids` — `check --token-ids` input parses or fails cleanly, ids outside the vocabulary
//!   are caught, scoring holds the same invariants;
//! * `report_json` — a report that verifies re-seals to exactly the same bytes;
//! * `accounts` — accounts files parse to trimmed, unique, non-comment ids that parse again to
//!   the same list;
//! * `gguf` — GGUF metadata parses or fails cleanly, trailing tensor bytes change nothing, the
//!   converted `tokenizer.json` is canonical and its hash is the tokenizer's identity,
//!   `Tokenizer::from_file` agrees, and a complete byte-level vocabulary round-trips text;
//! * `http_body` — a chat-completion request body parses to a request in range (that reads the
//!   same from any serialisation of its JSON, and from its own JSON written back) or to a
//!   one-line 400 error; its ChatML prompt opens one turn per message.
#![forbid(unsafe_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use provmark_core::{Profile, Scheme, SecretKey, TokenizerSpec};
use provmark_scan::input::{read_records, Compression, Fields, InputFile, InputFormat};
use provmark_tokenize::Tokenizer;

/// Every target by name (for `replay`).
pub const TARGETS: &[(&str, fn(&[u8]))] = &[
    ("profile_json", profile_json),
    ("jsonl", jsonl),
    ("parquet", parquet),
    ("text", text),
    ("token_ids", token_ids),
    ("report_json", report_json),
    ("accounts", accounts),
    ("gguf", gguf),
    ("http_body", http_body),
];

/// The fixed profile the targets score and verify with (a public test key).
pub fn profile() -> &'static Profile {
    static P: OnceLock<Profile> = OnceLock::new();
    P.get_or_init(|| {
        Profile::from_secret(
            SecretKey::from_bytes([7; 32]),
            Scheme::DEFAULT_GREEN,
            2,
            TokenizerSpec::default_openai(),
        )
        .expect("test profile")
    })
}

fn tokenizer() -> &'static Tokenizer {
    static T: OnceLock<Tokenizer> = OnceLock::new();
    T.get_or_init(|| Tokenizer::openai("o200k_base").expect("bundled tokenizer"))
}

/// A private scratch folder for files the readers need (one per process).
fn scratch() -> &'static Path {
    static D: OnceLock<tempfile::TempDir> = OnceLock::new();
    D.get_or_init(|| tempfile::tempdir().expect("scratch dir"))
        .path()
}

fn write(name: &str, bytes: &[u8]) -> PathBuf {
    let p = scratch().join(name);
    std::fs::write(&p, bytes).expect("write scratch file");
    p
}

fn input(path: PathBuf, format: InputFormat, compression: Compression) -> InputFile {
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    InputFile {
        path,
        format,
        compression,
        size,
    }
}

/// Profile JSON, native and imported.
pub fn profile_json(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(p) = Profile::from_json(text, Path::new("fuzz.json")) else {
        return;
    };
    let once = p.to_json();
    let back =
        Profile::from_json(&once, Path::new("again.json")).expect("a profile's own JSON must load");
    assert_eq!(back.key_id(), p.key_id());
    assert_eq!(back.to_json().as_str(), once.as_str(), "not idempotent");
    // Building the keyed function of a loaded profile never panics.
    let _ = p.try_watermark(None);
    if p.supports_accounts() {
        let _ = p.try_watermark(Some("acct"));
    }
}

fn gzip(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for part in parts {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(part).expect("gzip");
        out.extend(e.finish().expect("gzip"));
    }
    out
}

fn zstd_frames(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for part in parts {
        out.extend(zstd::encode_all(*part, 1).expect("zstd"));
    }
    out
}

fn fields() -> Fields {
    Fields {
        text: "text".into(),
        prompt: Some("prompt".into()),
        id: Some("id".into()),
    }
}

/// JSONL records: plain, gzip and zstd (two members each, split anywhere) agree.
pub fn jsonl(data: &[u8]) {
    let split = match data.first() {
        Some(&b) => usize::from(b) * data.len() / 256,
        None => 0,
    };
    let (a, b) = data.split_at(split);
    let f = fields();
    let plain = read_records(
        &input(
            write("in.jsonl", data),
            InputFormat::Jsonl,
            Compression::None,
        ),
        &f,
    )
    .expect("a plain JSONL file always reads");
    let gz = read_records(
        &input(
            write("in.jsonl.gz", &gzip(&[a, b])),
            InputFormat::Jsonl,
            Compression::Gzip,
        ),
        &f,
    )
    .expect("gzip of the same bytes reads");
    assert_eq!(gz, plain, "gzip (split at {split}) differs from plain");
    let zs = read_records(
        &input(
            write("in.jsonl.zst", &zstd_frames(&[a, b])),
            InputFormat::Jsonl,
            Compression::Zstd,
        ),
        &f,
    )
    .expect("zstd of the same bytes reads");
    assert_eq!(zs, plain, "zstd (split at {split}) differs from plain");

    // Every non-blank line is exactly one record (scored or skipped with a reason).
    let lines: Vec<(u64, &[u8])> = data
        .split(|&c| c == b'\n')
        .enumerate()
        .map(|(i, l)| (i as u64 + 1, l.strip_suffix(b"\r").unwrap_or(l)))
        .filter(|(_, l)| !l.iter().all(u8::is_ascii_whitespace))
        .collect();
    assert_eq!(plain.len(), lines.len(), "records ≠ non-blank lines");
    for (r, (n, line)) in plain.iter().zip(&lines) {
        assert_eq!(r.locator, *n);
        // Differential: serde_json's own reading of the line.
        let expect = match std::str::from_utf8(line) {
            Err(_) => Err(provmark_scan::SkipReason::InvalidUtf8),
            Ok(s) => match serde_json::from_str::<serde_json::Value>(s) {
                Ok(serde_json::Value::Object(m)) => match m.get("text") {
                    None | Some(serde_json::Value::Null) => {
                        Err(provmark_scan::SkipReason::MissingField)
                    }
                    Some(serde_json::Value::String(t)) if t.trim().is_empty() => {
                        Err(provmark_scan::SkipReason::EmptyText)
                    }
                    Some(serde_json::Value::String(t)) => Ok(t.clone()),
                    Some(_) => Err(provmark_scan::SkipReason::NotText),
                },
                Ok(_) => Err(provmark_scan::SkipReason::MalformedJson),
                // serde_json's value type is stricter than a scan needs (e.g. 1e400 in a field
                // the scan ignores): no verdict to compare with.
                Err(_) => continue,
            },
        };
        assert_eq!(
            r.text,
            expect,
            "line {n}: {:?}",
            String::from_utf8_lossy(line)
        );
    }

    // The same bytes as one plain-text record.
    let t = read_records(
        &input(write("in.txt", data), InputFormat::Text, Compression::None),
        &f,
    )
    .expect("a text file always reads");
    assert_eq!(t.len(), 1);
    match std::str::from_utf8(data) {
        Ok(s) if !s.trim().is_empty() => assert_eq!(t[0].text.as_deref(), Ok(s)),
        Ok(_) => assert_eq!(t[0].text, Err(provmark_scan::SkipReason::EmptyText)),
        Err(_) => assert_eq!(t[0].text, Err(provmark_scan::SkipReason::InvalidUtf8)),
    }
}

/// Parquet files: records or a clean error.
///
/// The scan isolates the `parquet` crate's decoder (it panics on some corrupt pages), so a
/// panic it catches is not a crash here: libFuzzer's abort-on-panic hook is replaced by one that
/// stays quiet. A panic that escapes still aborts (libfuzzer-sys catches it and aborts).
pub fn parquet(data: &[u8]) {
    static QUIET: OnceLock<()> = OnceLock::new();
    QUIET.get_or_init(|| std::panic::set_hook(Box::new(|_| {})));
    let f = Fields {
        text: "text".into(),
        prompt: None,
        id: Some("id".into()),
    };
    let file = input(
        write("in.parquet", data),
        InputFormat::Parquet,
        Compression::None,
    );
    if let Ok(records) = read_records(&file, &f) {
        for (i, r) in records.iter().enumerate() {
            assert_eq!(r.locator, i as u64, "rows out of order");
            if let Ok(t) = &r.text {
                assert!(!t.trim().is_empty());
            }
        }
    }
}

fn check_scoring(ids: &[u32]) {
    use provmark_detect::{score_selection, select_positions, Options, Scratch};
    let p = profile();
    let tok = tokenizer();
    let special = |id: u32| tok.is_special(id);
    let opts = Options::for_profile(p).special_tokens(&special);
    let sel = select_positions(p.context_width, ids, &opts, &mut Scratch::new())
        .expect("selection of any ids");
    let ev = score_selection(&p.watermark(None), ids, &sel, false).expect("scoring any ids");
    assert!(ev.scored_tokens <= ev.total_tokens);
    assert_eq!(ev.total_tokens, ids.len() as u64);
    assert!(ev.log10_p <= 0.0 && !ev.log10_p.is_nan(), "{}", ev.log10_p);
    assert_eq!(
        provmark_detect::ensure_scored(&ev, p.context_width).is_ok(),
        ev.scored_tokens > 0
    );
}

/// Plain text as `check` reads it.
pub fn text(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let tok = tokenizer();
    let ids = tok.encode(s);
    let mut bytes = Vec::with_capacity(s.len());
    for &id in &ids {
        bytes.extend(
            tok.token_bytes(id)
                .expect("an id the tokenizer produced has bytes"),
        );
    }
    assert_eq!(bytes, data, "tokenization does not round-trip");
    assert_eq!(tok.encode_parallel(s, 3), ids, "parallel tokenizer differs");
    check_scoring(&ids);
}

/// `check --token-ids` input, and raw ids.
pub fn token_ids(data: &[u8]) {
    let tok = tokenizer();
    if let Ok(ids) = serde_json::from_slice::<Vec<u32>>(data) {
        match tok.check_ids(&ids) {
            Ok(()) => check_scoring(&ids),
            Err(_) => assert!(ids.iter().any(|&i| i as usize >= tok.vocab_size())),
        }
    }
    // The bytes as little-endian ids (any u32, including beyond the vocabulary).
    let raw: Vec<u32> = data
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    check_scoring(&raw);
}

/// `verify-report` input: a report that verifies re-seals to the same bytes.
pub fn report_json(data: &[u8]) {
    use provmark_scan::{report::verify_report_bytes, Report, Verification};
    let p = profile();
    if let Ok(Verification::Intact) = verify_report_bytes(data, Path::new("r.json"), p) {
        let mut r: Report = serde_json::from_slice(data).expect("an intact report deserialises");
        let again = r.seal(p).expect("re-seal");
        assert_eq!(
            again, data,
            "an intact report does not re-seal to its bytes"
        );
    }
}

/// Accounts files.
pub fn accounts(data: &[u8]) {
    use provmark_detect::{parse_accounts, read_accounts_file};
    let from_file = read_accounts_file(&write("accounts.txt", data));
    let Ok(s) = std::str::from_utf8(data) else {
        assert!(from_file.is_err(), "invalid UTF-8 accepted");
        return;
    };
    let parsed = parse_accounts(s, Path::new("a.txt"));
    assert_eq!(parsed.as_ref().ok(), from_file.as_ref().ok());
    if let Ok(ids) = parsed {
        let mut seen = std::collections::HashSet::new();
        for id in &ids {
            assert!(!id.is_empty() && id.trim() == id && !id.starts_with('#'));
            assert!(!id.chars().any(char::is_control));
            assert!(seen.insert(id), "duplicate {id}");
        }
        let again = parse_accounts(&ids.join("\n"), Path::new("b.txt")).expect("re-parse");
        assert_eq!(again, ids);
    }
}

/// The 256 characters GPT-2's byte-level scheme writes the bytes as.
fn byte_level_chars() -> Vec<char> {
    let printable = |b: u32| {
        (0x21..=0x7e).contains(&b) || (0xa1..=0xac).contains(&b) || (0xae..=0xff).contains(&b)
    };
    let mut next = 256;
    (0..256u32)
        .map(|b| {
            if printable(b) {
                char::from_u32(b).unwrap_or('?')
            } else {
                next += 1;
                char::from_u32(next - 1).unwrap_or('?')
            }
        })
        .collect()
}

/// Texts every complete byte-level vocabulary must round-trip.
const SAMPLES: &[&str] = &[
    "How do I brew green tea? Steep it 2-3 minutes at 80 °C.",
    "  spaces,\ttabs\nand newlines\r\n 12345 ",
    "naïve café — 東京 🙂 \u{0}\u{7f}",
];

/// GGUF model metadata, read as `check --model m.gguf` and `keygen --model` read it: the bytes
/// parse to a vocabulary or a clean error; bytes appended after the metadata (the tensors) never
/// change it; a vocabulary converts to canonical `tokenizer.json` bytes (the same every time)
/// whose SHA-256 is the loaded tokenizer's identity; `Tokenizer::from_file` on the same bytes
/// agrees with parse + convert; and a tokenizer whose vocabulary has all 256 byte symbols (as
/// ordinary tokens) round-trips every sample text, while any tokenizer's ids stay inside its
/// vocabulary.
pub fn gguf(data: &[u8]) {
    use provmark_tokenize::gguf::{is_gguf, GgufVocab};
    let parsed = GgufVocab::parse(data);
    if let Ok(v) = &parsed {
        assert!(!v.tokens.is_empty());
        assert!(v.token_types.is_empty() || v.token_types.len() == v.tokens.len());
        let mut longer = data.to_vec();
        longer.extend_from_slice(b"\0tensor data\xff");
        assert_eq!(
            GgufVocab::parse(&longer).as_ref().ok(),
            Some(v),
            "trailing bytes changed the vocabulary"
        );
    }
    if !is_gguf(data) {
        // Not a GGUF file: `from_file` reads it as tokenizer.json instead (another surface).
        assert!(parsed.is_err());
        return;
    }
    let from_file = Tokenizer::from_file(&write("model.gguf", data));
    let json = parsed.as_ref().ok().map(GgufVocab::to_tokenizer_json);
    let (v, json) = match (&parsed, json) {
        (Ok(v), Some(Ok(json))) => (v, json),
        _ => {
            assert!(
                from_file.is_err(),
                "from_file loaded a GGUF that parse or convert refused"
            );
            return;
        }
    };
    assert_eq!(
        v.to_tokenizer_json().ok().as_ref(),
        Some(&json),
        "conversion is not canonical"
    );
    // The tokenizers crate may still refuse the JSON (e.g. a merge of unknown tokens): fine.
    let Ok(tok) = from_file else {
        return;
    };
    match tok.spec() {
        TokenizerSpec::HuggingFace {
            sha256, vocab_size, ..
        } => {
            use sha2::Digest;
            assert_eq!(
                sha256,
                hex::encode(sha2::Sha256::digest(&json)),
                "identity is not the JSON's hash"
            );
            assert_eq!(vocab_size as usize, tok.vocab_size());
            assert!(tok.vocab_size() >= v.tokens.len());
        }
        other => panic!("a GGUF loaded as {other:?}"),
    }
    let ordinary = |i: usize| !matches!(v.token_types.get(i), Some(3) | Some(4));
    let complete = byte_level_chars().iter().all(|c| {
        let s = c.to_string();
        v.tokens
            .iter()
            .enumerate()
            .any(|(i, t)| *t == s && ordinary(i))
    });
    for s in SAMPLES {
        let ids = tok.encode(s);
        let mut bytes = Vec::new();
        for &id in &ids {
            assert!(
                (id as usize) < tok.vocab_size(),
                "id {id} beyond the vocabulary"
            );
            bytes.extend(tok.token_bytes(id).expect("a produced id has bytes"));
        }
        if complete {
            assert_eq!(String::from_utf8_lossy(&bytes), *s, "round trip of {s:?}");
        }
    }
}

fn smollm2() -> &'static Tokenizer {
    static T: OnceLock<Tokenizer> = OnceLock::new();
    T.get_or_init(|| {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/smollm2/tokenizer.json");
        Tokenizer::from_file(&p).expect("the shipped SmolLM2 tokenizer")
    })
}

/// A chat-completion request written back as JSON (every field the parser reads).
fn request_json(r: &provmark_serve::api::ChatRequest) -> Vec<u8> {
    let msgs: Vec<serde_json::Value> = r
        .messages
        .iter()
        .map(|(role, content)| serde_json::json!({"role": role, "content": content}))
        .collect();
    serde_json::to_vec(&serde_json::json!({
        "model": r.model,
        "messages": msgs,
        "max_tokens": r.max_tokens,
        "temperature": r.temperature,
        "top_p": r.top_p,
        "seed": r.seed,
        "stop": r.stop,
        "stream": r.stream,
        "stream_options": {"include_usage": r.include_usage},
    }))
    .expect("JSON of a request")
}

/// The body of `POST /v1/chat/completions`, as the server reads it (no network): it parses to a
/// request or a 400 error whose message is one line and whose JSON body carries that message; a
/// request is inside the documented ranges, reads the same from any serialisation of the same
/// JSON value, and written back as JSON parses to the same request; its conversation prompt
/// (ChatML over the SmolLM2 tokenizer) never panics and opens exactly one turn per message (+ the
/// default system turn and the assistant's).
pub fn http_body(data: &[u8]) {
    use provmark_serve::api::ChatRequest;
    let parsed = ChatRequest::parse(data);
    // The same JSON value, serialised by serde_json, reads the same (or fails the same way).
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) {
        let again = ChatRequest::parse(&serde_json::to_vec(&value).expect("re-serialise"));
        assert_eq!(
            again, parsed,
            "a re-serialisation of the same JSON reads differently"
        );
    }
    let r = match parsed {
        Err(e) => {
            assert_eq!(e.status.as_u16(), 400);
            assert!(
                !e.message.is_empty() && !e.message.contains('\n'),
                "{:?}",
                e.message
            );
            let body = e.body();
            assert_eq!(body["error"]["message"].as_str(), Some(e.message.as_str()));
            assert_eq!(
                body["error"]["type"].as_str(),
                Some("invalid_request_error")
            );
            return;
        }
        Ok(r) => r,
    };
    assert!(!r.messages.is_empty());
    for (role, _) in &r.messages {
        assert!(
            matches!(role.as_str(), "system" | "user" | "assistant"),
            "{role}"
        );
    }
    assert!(r.stop.len() <= 4 && r.stop.iter().all(|s| !s.is_empty()));
    assert!(r.temperature.is_none_or(|t| (0.0..=2.0).contains(&t)));
    assert!(r.top_p.is_none_or(|p| (0.0..=1.0).contains(&p)));
    assert!(r.max_tokens.is_none_or(|m| m >= 1));
    let back = ChatRequest::parse(&request_json(&r)).expect("a request's own JSON parses");
    assert_eq!(back, r, "a request written back reads differently");

    let tok = smollm2();
    let template = provmark_model::ChatTemplate::for_tokenizer(tok).expect("ChatML tokenizer");
    let messages: Vec<(&str, &str)> = r
        .messages
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let ids = template.conversation(tok, &messages);
    assert!(ids.iter().all(|&i| (i as usize) < tok.vocab_size()));
    let im_start = tok.encode("<|im_start|>")[0];
    let turns = ids.iter().filter(|&&i| i == im_start).count();
    let default_system = usize::from(messages[0].0 != "system");
    // Message text that spells a control token is refused by `parse` (a role injection
    // otherwise), so every accepted request opens exactly one turn per message.
    assert_eq!(
        turns,
        messages.len() + default_system + 1,
        "message text opened a turn of its own"
    );
}
