//! End-to-end tests of `provmark scan` and `provmark verify-report` through the binary.
//!
//! Corpora are generated here with a toy "flat" language model over whole-word tokens: every
//! step draws a word uniformly from a fixed word list; watermarked records apply the green-list
//! bias exactly (rejection sampling: accept a green draw, accept a red draw with probability
//! e^-δ) using the profile's own keyed scheme. Whole-word tokens (" word") re-tokenize to the
//! same ids, so what the scanner sees is what was generated.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use provmark_core::{Profile, Scheme, SecretKey, TokenizerSpec};
use provmark_tokenize::Tokenizer;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::Value;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_provmark")
}

fn tmpdir(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("scan-tests")
        .join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn profile(dir: &Path, seed: u8) -> (Profile, PathBuf) {
    let p = Profile::from_secret(
        SecretKey::from_bytes([seed; 32]),
        Scheme::DEFAULT_GREEN,
        2,
        TokenizerSpec::default_openai(),
    )
    .unwrap();
    let path = dir.join(format!("profile-{seed}.json"));
    let _ = std::fs::remove_file(&path);
    p.save_new(&path).unwrap();
    (p, path)
}

fn run(args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .output()
        .expect("run provmark")
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

/// Word tokens (" abc…") that tokenize back to themselves, from the low ids of o200k_base.
fn word_vocab(tok: &Tokenizer) -> Vec<(u32, String)> {
    let mut out = Vec::new();
    for id in 0..60_000u32 {
        let Some(b) = tok.token_bytes(id) else {
            continue;
        };
        if b.len() < 4 || b.len() > 10 || b[0] != b' ' || !b[1..].iter().all(u8::is_ascii_lowercase)
        {
            continue;
        }
        let s = String::from_utf8(b).unwrap();
        if tok.encode(&s) == [id] {
            out.push((id, s));
        }
        if out.len() == 3000 {
            break;
        }
    }
    assert!(out.len() > 1000, "word list too small: {}", out.len());
    out
}

struct Gen {
    tok: Tokenizer,
    vocab: Vec<(u32, String)>,
}

impl Gen {
    fn new() -> Self {
        let tok = Tokenizer::openai("o200k_base").unwrap();
        let vocab = word_vocab(&tok);
        Gen { tok, vocab }
    }

    /// `n` words; watermarked under `wm` when given, with bias `delta` (by rejection).
    fn text(
        &self,
        n: usize,
        wm: Option<&provmark_core::Watermark<provmark_core::prf::AnyPrf>>,
        delta: f64,
        rng: &mut ChaCha8Rng,
    ) -> String {
        let mut ids: Vec<u32> = Vec::with_capacity(n);
        let mut s = String::new();
        let accept_red = (-delta).exp();
        for i in 0..n {
            let pick = loop {
                let k = rng.random_range(0..self.vocab.len());
                let Some(wm) = wm else { break k };
                if i < 2 {
                    break k;
                }
                let st = wm.absorb(&ids[i - 2..i]);
                if wm.is_green(&st, self.vocab[k].0) || rng.random::<f64>() < accept_red {
                    break k;
                }
            };
            ids.push(self.vocab[pick].0);
            s.push_str(&self.vocab[pick].1);
        }
        if rng.random::<f64>() < 0.01 {
            // Spot check (tokenizing everything twice would dominate the debug-build test time).
            assert_eq!(
                self.tok.encode(&s),
                ids,
                "generated words must re-tokenize to themselves"
            );
        }
        s
    }
}

fn write_jsonl(path: &Path, texts: &[String]) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for (i, t) in texts.iter().enumerate() {
        serde_json::to_writer(
            &mut f,
            &serde_json::json!({"id": format!("r{i}"), "text": t}),
        )
        .unwrap();
        f.write_all(b"\n").unwrap();
    }
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Content of a report without the fields that describe the run rather than the result.
fn content(mut v: Value) -> Value {
    let o = v.as_object_mut().unwrap();
    o.remove("created");
    o.remove("run");
    o.remove("mac");
    v
}

/// Bias of the watermarked records in the 2% test. The flat toy model has maximal entropy,
/// where δ = 2 makes a single short record significant on its own; δ = 1 on 40-token records
/// gives each marked record z ≈ 3 (p ≈ 1e-3), so the evidence has to be pooled: expected
/// z ≈ 9 over 20,000 records (2% marked), z ≈ 2.8 over the first tenth.
const WEAK_DELTA: f64 = 1.0;

/// 2% watermarked records: detected at 1e-6 once the corpus is large enough, and the curve
/// shows the evidence growing with the corpus (the first tenth alone is not enough).
#[test]
fn two_percent_watermarked_corpus_is_detected() {
    let dir = tmpdir("two-percent");
    let (prof, prof_path) = profile(&dir, 11);
    let g = Gen::new();
    let wm = prof.watermark(None);
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let n = 20_000;
    let texts: Vec<String> = (0..n)
        .map(|i| g.text(40, (i % 50 == 7).then_some(&wm), WEAK_DELTA, &mut rng))
        .collect();
    // The generator works: the marked records are green well above γ = 0.25 (expected 0.475).
    let (mut k, mut m) = (0usize, 0usize);
    for t in texts.iter().skip(7).step_by(50) {
        for w in g.tok.encode(t).windows(3) {
            k += usize::from(wm.is_green(&wm.absorb(&w[..2]), w[2]));
            m += 1;
        }
    }
    let share = k as f64 / m as f64;
    assert!(share > 0.42, "green share of the marked records {share}");
    let corpus = dir.join("suspect.jsonl");
    write_jsonl(&corpus, &texts);
    let out = dir.join("report.json");
    let o = run(&[
        "scan",
        corpus.to_str().unwrap(),
        "--profile",
        prof_path.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "-q",
    ]);
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    let r = read_json(&out);
    let lp = r["corpus"]["log10_p"].as_f64().unwrap();
    assert!(lp <= -6.0, "log10 p {lp}");
    assert_eq!(r["corpus"]["verdict"], "watermarked");
    assert_eq!(r["corpus"]["records_total"], n);
    let curve = r["curve"].as_array().unwrap();
    let tenth = curve[curve.len() / 10 - 1]["log10_p"].as_f64().unwrap();
    assert!(
        tenth > -6.0,
        "the first tenth of the corpus alone is not enough: {tenth}"
    );
    assert_eq!(curve.last().unwrap()["log10_p"].as_f64().unwrap(), lp);
    eprintln!(
        "2% watermarked (delta {WEAK_DELTA}, marked-record green share {share:.4}), {n} records: \
         log10 p = {lp:.2} over {} scored pairs; first tenth: {tenth:.2}",
        r["corpus"]["scored_tokens"]
    );
}

/// Text marked under one account's key: that account ranks first and is significant after
/// the correction; the other accounts and the master key are consistent with chance.
#[test]
fn attribution_finds_the_leaking_account() {
    let dir = tmpdir("attribution");
    let (prof, prof_path) = profile(&dir, 19);
    let g = Gen::new();
    let leaked = "acct-0042";
    let wm = prof.watermark(Some(leaked));
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let n = 1000;
    let texts: Vec<String> = (0..n)
        .map(|i| g.text(40, (i % 10 == 3).then_some(&wm), 2.0, &mut rng))
        .collect();
    let corpus = dir.join("suspect.jsonl");
    write_jsonl(&corpus, &texts);
    let accounts = dir.join("accounts.txt");
    let ids: Vec<String> = (0..9)
        .map(|i| format!("acct-{:04}", (i * 7 + 1) % 100))
        .chain([leaked.to_string()])
        .collect();
    std::fs::write(&accounts, format!("# accounts\n{}\n", ids.join("\n"))).unwrap();
    let out = dir.join("report.json");
    let o = run(&[
        "scan",
        corpus.to_str().unwrap(),
        "--profile",
        prof_path.to_str().unwrap(),
        "--accounts",
        accounts.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    // Evidence overall (exit 0) from the account key; the master key alone does not fire.
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    let r = read_json(&out);
    assert!(r["corpus"]["log10_p"].as_f64().unwrap() > -6.0);
    assert_eq!(r["corpus"]["verdict"], "not_watermarked");
    assert_eq!(r["evidence"]["verdict"], "watermarked");
    assert_eq!(r["evidence"]["strongest_key"], format!("account:{leaked}"));
    assert_eq!(r["evidence"]["keys_tested"], 11);
    let accts = r["accounts"].as_array().unwrap();
    assert_eq!(accts.len(), 10);
    assert_eq!(accts[0]["account"], leaked);
    assert_eq!(accts[0]["rank"], 1);
    assert_eq!(r["attribution"]["best_account"], leaked);
    assert_eq!(r["attribution"]["accounts_tested"], 10);
    let raw = accts[0]["log10_p"].as_f64().unwrap();
    let adj = accts[0]["adjusted_log10_p"].as_f64().unwrap();
    assert!(
        (adj - (raw + 1.0)).abs() < 1e-9,
        "Bonferroni over 10 accounts: {raw} -> {adj}"
    );
    assert!(adj <= -6.0, "adjusted log10 p {adj}");
    for a in &accts[1..] {
        assert!(a["adjusted_log10_p"].as_f64().unwrap() > -6.0, "{a}");
    }
    assert!(r["summary"].as_str().unwrap().contains(leaked));
}

/// A clean corpus where thousands of records share the same boilerplate stays non-significant:
/// the boilerplate's pairs count once. The boilerplate is chosen to be unusually green, so
/// counting its repeats would make the corpus look watermarked.
#[test]
fn duplicated_boilerplate_stays_non_significant() {
    let dir = tmpdir("boilerplate");
    let (prof, prof_path) = profile(&dir, 12);
    let g = Gen::new();
    let wm = prof.watermark(None);
    let tok = &g.tok;
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    // The greenest of 200 clean candidates (chance alone, no bias).
    let boiler = (0..200)
        .map(|_| g.text(80, None, 2.0, &mut rng))
        .max_by_key(|t| {
            let ids = tok.encode(t);
            ids.windows(3)
                .filter(|w| wm.is_green(&wm.absorb(&w[..2]), w[2]))
                .count()
        })
        .unwrap();
    let texts: Vec<String> = (0..3000)
        .map(|_| format!("{boiler}{}", g.text(12, None, 2.0, &mut rng)))
        .collect();
    let corpus = dir.join("boiler.jsonl");
    write_jsonl(&corpus, &texts);
    let out = dir.join("report.json");
    let records = dir.join("records.jsonl");
    let o = run(&[
        "scan",
        corpus.to_str().unwrap(),
        "--profile",
        prof_path.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--records",
        records.to_str().unwrap(),
        "-q",
    ]);
    assert_eq!(code(&o), 1, "{}", String::from_utf8_lossy(&o.stderr));
    let r = read_json(&out);
    let lp = r["corpus"]["log10_p"].as_f64().unwrap();
    assert!(
        lp > -6.0,
        "duplicated boilerplate made the clean corpus significant: {lp}"
    );
    assert_eq!(r["corpus"]["verdict"], "not_watermarked");
    // Far fewer distinct pairs than tokens: the repeats were dropped.
    let scored = r["corpus"]["scored_tokens"].as_u64().unwrap();
    let total = r["corpus"]["total_tokens"].as_u64().unwrap();
    assert!(scored * 3 < total, "scored {scored} of {total}");
    // The boilerplate counted 3000 times would have been overwhelming: check that claim.
    let bids = tok.encode(&boiler);
    let k = bids
        .windows(3)
        .filter(|w| wm.is_green(&wm.absorb(&w[..2]), w[2]))
        .count() as u64;
    let n = (bids.len() - 2) as u64;
    let naive = provmark_detect::tail::binomial_upper(k * 3000, n * 3000, 0.25).log10_p;
    assert!(
        naive < -6.0,
        "the boilerplate is not green enough to make the test meaningful ({k}/{n})"
    );
    eprintln!("boilerplate {k}/{n} green; deduplicated corpus log10 p = {lp:.3}; without dedup it would be {naive:.1}");
    // One records line per input record.
    assert_eq!(
        std::fs::read_to_string(&records).unwrap().lines().count(),
        3000
    );
}

/// Same report content with 1 and 3 threads, and with a tiny memory budget that forces spills.
#[test]
fn same_report_with_one_and_many_threads() {
    let dir = tmpdir("threads");
    let (prof, prof_path) = profile(&dir, 13);
    let g = Gen::new();
    let wm = prof.watermark(None);
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let texts: Vec<String> = (0..2500)
        .map(|i| g.text(60 + i % 40, (i % 10 == 0).then_some(&wm), 2.0, &mut rng))
        .collect();
    let corpus = dir.join("c.jsonl");
    write_jsonl(&corpus, &texts);
    let accounts = dir.join("accounts.txt");
    std::fs::write(&accounts, "a\nb\nc\n").unwrap();
    let mut contents = Vec::new();
    let mut records = Vec::new();
    for (threads, memory) in [("1", "64"), ("3", "64"), ("2", "1")] {
        let out = dir.join(format!("r{threads}.json"));
        let rec = dir.join(format!("r{threads}.jsonl"));
        let o = run(&[
            "scan",
            corpus.to_str().unwrap(),
            "--profile",
            prof_path.to_str().unwrap(),
            "--accounts",
            accounts.to_str().unwrap(),
            "--threads",
            threads,
            "--memory",
            memory,
            "--out",
            out.to_str().unwrap(),
            "--records",
            rec.to_str().unwrap(),
            "-q",
        ]);
        assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
        let r = read_json(&out);
        if memory == "1" {
            assert!(
                r["run"]["spilled_runs"].as_u64().unwrap() > 0,
                "the 1 MiB run must spill"
            );
        } else {
            assert_eq!(r["run"]["spilled_runs"], 0);
        }
        contents.push(content(r));
        records.push(std::fs::read(&rec).unwrap());
    }
    assert_eq!(contents[0], contents[1], "1 vs 3 threads");
    assert_eq!(contents[0], contents[2], "in memory vs spilled");
    assert_eq!(records[0], records[1]);
    assert_eq!(records[0], records[2]);
}

/// Every record is accounted for: bad lines are skipped with their reason and never abort.
#[test]
fn skip_accounting_with_injected_bad_lines() {
    let dir = tmpdir("skips");
    let (_, prof_path) = profile(&dir, 14);
    let g = Gen::new();
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let corpus = dir.join("mixed.jsonl");
    let mut f = std::fs::File::create(&corpus).unwrap();
    let mut expect_scored = 0;
    for i in 0..40 {
        let line: Vec<u8> = match i % 8 {
            1 => b"{\"text\": \"unterminated".to_vec(),
            2 => b"{\"body\": \"no text field\"}".to_vec(),
            3 => b"{\"text\": \"   \"}".to_vec(),
            4 => b"{\"text\": \"bad \xff\xfe bytes\"}".to_vec(),
            5 => b"{\"text\": \"hi\"}".to_vec(),
            6 => b"{\"text\": 12345}".to_vec(),
            _ => {
                expect_scored += 1;
                serde_json::to_vec(&serde_json::json!({"text": g.text(30, None, 2.0, &mut rng)}))
                    .unwrap()
            }
        };
        f.write_all(&line).unwrap();
        f.write_all(b"\n").unwrap();
        if i == 20 {
            f.write_all(b"\n   \n").unwrap(); // blank lines are not records
        }
    }
    drop(f);
    let text_file = dir.join("note.txt");
    std::fs::write(&text_file, g.text(50, None, 2.0, &mut rng)).unwrap();
    let out = dir.join("report.json");
    let records = dir.join("records.jsonl");
    let o = run(&[
        "scan",
        corpus.to_str().unwrap(),
        text_file.to_str().unwrap(),
        "--profile",
        prof_path.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--records",
        records.to_str().unwrap(),
        "--threads",
        "2",
        "-q",
    ]);
    assert_eq!(code(&o), 1, "{}", String::from_utf8_lossy(&o.stderr));
    let r = read_json(&out);
    let sk = &r["skipped_reasons"];
    assert_eq!(sk["malformed_json"], 5);
    assert_eq!(sk["missing_field"], 5);
    assert_eq!(sk["empty_text"], 5);
    assert_eq!(sk["invalid_utf8"], 5);
    assert_eq!(sk["too_few_tokens"], 5);
    assert_eq!(sk["not_text"], 5);
    assert_eq!(r["corpus"]["records_total"], 41);
    assert_eq!(r["corpus"]["records_scored"], expect_scored + 1);
    assert_eq!(r["corpus"]["records_skipped"], 30);
    let inputs = r["inputs"].as_array().unwrap();
    assert_eq!(inputs[0]["records"], 40);
    assert_eq!(inputs[1]["records"], 1);
    use sha2::Digest;
    assert_eq!(
        inputs[0]["sha256"],
        hex::encode(sha2::Sha256::digest(std::fs::read(&corpus).unwrap()))
    );
    let lines: Vec<Value> = std::fs::read_to_string(&records)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 41);
    assert_eq!(lines[1]["status"], "skipped");
    assert_eq!(lines[1]["reason"], "malformed_json");
    assert_eq!(lines[4]["reason"], "invalid_utf8");
    assert_eq!(lines[0]["status"], "scored");
    assert!(lines[0]["p_value"].as_f64().unwrap() > 0.0);
    assert_eq!(lines[40]["id"], text_file.to_str().unwrap());
    // Line numbers count the blank lines too (they are not records).
    assert_eq!(lines[21]["line"], 24);
}

/// `verify-report` accepts the report as written and catches a one-byte edit.
#[test]
fn verify_report_catches_one_byte_edit() {
    let dir = tmpdir("verify");
    let (_, prof_path) = profile(&dir, 15);
    let (_, other_profile) = profile(&dir, 16);
    let g = Gen::new();
    let mut rng = ChaCha8Rng::seed_from_u64(6);
    let corpus = dir.join("c.jsonl");
    write_jsonl(
        &corpus,
        &(0..50)
            .map(|_| g.text(40, None, 2.0, &mut rng))
            .collect::<Vec<_>>(),
    );
    let out = dir.join("report.json");
    let o = run(&[
        "scan",
        corpus.to_str().unwrap(),
        "--profile",
        prof_path.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "-q",
    ]);
    assert_eq!(code(&o), 1, "{}", String::from_utf8_lossy(&o.stderr));
    let verify = |p: &Path, prof: &Path| {
        run(&[
            "verify-report",
            p.to_str().unwrap(),
            "--profile",
            prof.to_str().unwrap(),
        ])
    };
    let ok = verify(&out, &prof_path);
    assert_eq!(
        code(&ok),
        0,
        "{}{}",
        String::from_utf8_lossy(&ok.stdout),
        String::from_utf8_lossy(&ok.stderr)
    );
    // Another key cannot tell whether the report is intact: an error, not "altered".
    let o = verify(&out, &other_profile);
    assert_eq!(code(&o), 2, "another key must not verify");
    assert!(String::from_utf8_lossy(&o.stderr).contains("cannot verify with this profile"));
    let bytes = std::fs::read(&out).unwrap();
    // A digit of the record count, a letter of the verdict, a space of the layout.
    let text = String::from_utf8(bytes.clone()).unwrap();
    let digit = text.find("\"records_total\": ").unwrap() + "\"records_total\": ".len();
    let verdict = text.find("not_watermarked").unwrap();
    let space = text.find("\n  ").unwrap() + 1;
    for (pos, new) in [(digit, b'9'), (verdict, b'N'), (space, b'\t')] {
        let mut edited = bytes.clone();
        assert_ne!(edited[pos], new);
        edited[pos] = new;
        let p = dir.join("edited.json");
        std::fs::write(&p, &edited).unwrap();
        let o = verify(&p, &prof_path);
        assert_eq!(
            code(&o),
            1,
            "edit at byte {pos} not caught: {}",
            String::from_utf8_lossy(&o.stdout)
        );
    }
    // Not a report at all: an error (exit 2, one line).
    let junk = dir.join("junk.json");
    std::fs::write(&junk, "{\"hello\": 1}").unwrap();
    let o = verify(&junk, &prof_path);
    assert_eq!(code(&o), 2);
    assert_eq!(String::from_utf8_lossy(&o.stderr).trim().lines().count(), 1);
}

/// Errors are one line on stderr with exit 2.
#[test]
fn errors_exit_2_with_one_line() {
    let dir = tmpdir("errors");
    let (_, prof_path) = profile(&dir, 17);
    for args in [
        vec![
            "scan",
            "/nonexistent/corpus.jsonl",
            "--profile",
            prof_path.to_str().unwrap(),
        ],
        vec![
            "scan",
            dir.to_str().unwrap(),
            "--profile",
            "/nonexistent/profile.json",
        ],
        vec![
            "scan",
            prof_path.to_str().unwrap(),
            "--profile",
            prof_path.to_str().unwrap(),
            "--alpha",
            "2",
        ],
    ] {
        let o = run(&args);
        assert_eq!(code(&o), 2, "{args:?}");
        let e = String::from_utf8_lossy(&o.stderr);
        assert_eq!(
            e.trim().lines().filter(|l| !l.contains("warning")).count(),
            1,
            "{e}"
        );
        assert!(!e.contains("panicked"), "{e}");
    }
}

fn find_chromium() -> Option<PathBuf> {
    for c in [
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
    ] {
        for dir in std::env::var("PATH").unwrap_or_default().split(':') {
            let p = Path::new(dir).join(c);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

/// The HTML report renders in headless Chromium without script errors; a screenshot is
/// written to the test output directory.
#[test]
fn html_report_renders_in_headless_chromium() {
    let dir = tmpdir("html");
    let (prof, prof_path) = profile(&dir, 18);
    let g = Gen::new();
    let wm = prof.watermark(Some("acct-7"));
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let corpus = dir.join("suspect.jsonl");
    write_jsonl(
        &corpus,
        &(0..400)
            .map(|i| g.text(80, (i % 5 == 0).then_some(&wm), 2.0, &mut rng))
            .collect::<Vec<_>>(),
    );
    let control = dir.join("control.jsonl");
    write_jsonl(
        &control,
        &(0..200)
            .map(|_| g.text(80, None, 2.0, &mut rng))
            .collect::<Vec<_>>(),
    );
    let accounts = dir.join("accounts.txt");
    std::fs::write(
        &accounts,
        "acct-1\nacct-7\nacct-9 <script>alert(1)</script>\n",
    )
    .unwrap();
    let html = dir.join("report.html");
    let out = dir.join("report.json");
    let o = run(&[
        "scan",
        corpus.to_str().unwrap(),
        "--profile",
        prof_path.to_str().unwrap(),
        "--accounts",
        accounts.to_str().unwrap(),
        "--control",
        control.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--html",
        html.to_str().unwrap(),
        "-q",
    ]);
    assert!(code(&o) <= 1, "{}", String::from_utf8_lossy(&o.stderr));
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.matches("<svg").count() >= 3, "three plots expected");
    assert!(
        !page.contains("<script"),
        "the page must not run scripts (account names are escaped)"
    );
    assert!(
        !page.contains("http://")
            || page.matches("http://").count()
                == page.matches("http://www.w3.org/2000/svg").count()
    );
    assert!(!page.contains("https://"));
    let r = read_json(&out);
    assert!(page.contains(r["mac"].as_str().unwrap()));
    assert!(page.contains(r["inputs"][0]["sha256"].as_str().unwrap()));
    let secret_hex = hex::encode(prof.secret().expose_bytes());
    assert!(
        !page.contains(&secret_hex)
            && !std::fs::read_to_string(&out).unwrap().contains(&secret_hex)
    );

    let Some(chromium) = find_chromium() else {
        eprintln!("SKIPPED: chromium not found on PATH; install it (apt-get install -y chromium) to run the render check");
        return;
    };
    // Probe page: an error hook first, a marker written after the whole report has loaded.
    let probe = dir.join("probe.html");
    let hook = "<script>window.__errs=[];window.addEventListener('error',function(e){window.__errs.push(String(e.message||e.type));},true);\
                var ce=console.error;console.error=function(){window.__errs.push(Array.from(arguments).join(' '));ce.apply(console,arguments);};\
                window.addEventListener('load',function(){document.body.setAttribute('data-probe',window.__errs.length?'ERRORS:'+window.__errs.join('|'):'clean');});</script>";
    std::fs::write(&probe, page.replacen("<head>", &format!("<head>{hook}"), 1)).unwrap();
    let common = |profile_dir: &Path| -> Vec<String> {
        vec![
            "--headless".into(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--no-first-run".into(),
            format!("--user-data-dir={}", profile_dir.display()),
        ]
    };
    let dom = Command::new(&chromium)
        .args(common(&dir.join("chrome-profile-1")))
        .args([
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=3000",
            "--dump-dom",
        ])
        .arg(format!("file://{}", probe.display()))
        .output()
        .expect("run chromium");
    let dom_text = String::from_utf8_lossy(&dom.stdout);
    let log = String::from_utf8_lossy(&dom.stderr);
    assert!(
        dom_text.contains("data-probe=\"clean\""),
        "page errors or no load event: {}",
        &dom_text[..dom_text.len().min(2000)]
    );
    assert!(dom_text.contains("id=\"verdict\""));
    let console_errors: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("CONSOLE") && l.contains("ERROR"))
        .collect();
    assert!(
        console_errors.is_empty(),
        "console errors: {console_errors:?}"
    );
    let shot_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("scan-report-screenshots");
    std::fs::create_dir_all(&shot_dir).unwrap();
    let shot = shot_dir.join("report.png");
    let _ = std::fs::remove_file(&shot);
    let s = Command::new(&chromium)
        .args(common(&dir.join("chrome-profile-2")))
        .args(["--hide-scrollbars", "--window-size=1100,2600"])
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", html.display()))
        .output()
        .expect("run chromium");
    assert!(
        shot.is_file(),
        "no screenshot: {}",
        String::from_utf8_lossy(&s.stderr)
    );
    eprintln!("screenshot: {}", shot.display());
}

/// The bundled demo (testdata/scan/demo, the README's first command) finds the leaking account
/// (with a subset of its accounts file; see below).
#[test]
fn bundled_demo_finds_the_leaking_account() {
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/scan/demo");
    let dir = tmpdir("demo");
    let out = dir.join("report.json");
    let html = dir.join("report.html");
    let arg = |p: &str| demo.join(p).to_str().unwrap().to_string();
    let o = run(&[
        "scan",
        &arg("suspect.jsonl.gz"),
        "--profile",
        &arg("profile.json"),
        // Five of the 50 accounts of accounts.txt: each account costs one keyed value per
        // distinct pair, which a debug build pays dearly for.
        "--account",
        "acct-0003",
        "--account",
        "acct-0017",
        "--account",
        "acct-0021",
        "--account",
        "acct-0034",
        "--account",
        "acct-0049",
        "--control",
        &arg("control.jsonl.gz"),
        "--out",
        out.to_str().unwrap(),
        "--html",
        html.to_str().unwrap(),
        "-q",
    ]);
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    let r = read_json(&out);
    assert_eq!(r["evidence"]["strongest_key"], "account:acct-0017");
    assert!(r["evidence"]["log10_p"].as_f64().unwrap() < -6.0);
    assert_eq!(r["control"]["corpus"]["verdict"], "not_watermarked");
    assert_eq!(r["corpus"]["records_total"], 2000);
    let v = run(&[
        "verify-report",
        out.to_str().unwrap(),
        "--profile",
        &arg("profile.json"),
    ]);
    assert_eq!(code(&v), 0);
}
