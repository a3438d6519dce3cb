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
//!   the same list.
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
