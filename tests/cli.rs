//! End-to-end tests through the `provmark` binary: keygen, generate, check, bench.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_provmark"))
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("provmark-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn run(cmd: &mut Command, stdin: Option<&[u8]>) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut sin = child.stdin.take().unwrap();
    if let Some(bytes) = stdin {
        // The binary may stop reading early (input too large); a broken pipe is fine.
        let _ = sin.write_all(bytes);
    }
    drop(sin);
    child.wait_with_output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}
fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Writes a test profile with owner-only permissions (as keygen would).
fn write_private(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
}

fn keygen(dir: &Path, name: &str, extra: &[&str]) -> PathBuf {
    let p = dir.join(name);
    let o = run(bin().args(["keygen", "--out"]).arg(&p).args(extra), None);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    p
}

/// One-line error, exit 2, no panic or backtrace.
fn assert_clean_error(o: &Output, needle: &str) {
    let e = stderr(o);
    assert_eq!(o.status.code(), Some(2), "stderr: {e}");
    assert!(!e.contains("panicked") && !e.contains("backtrace"), "{e}");
    assert_eq!(e.trim_end().lines().count(), 1, "one line expected: {e}");
    assert!(e.contains(needle), "expected `{needle}` in: {e}");
}

#[test]
fn keygen_writes_private_profile_prints_key_id_only_and_never_overwrites() {
    let d = tmp("keygen");
    let p = d.join("k.json");
    let o = run(bin().args(["keygen", "--out"]).arg(&p), None);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let key_id = stdout(&o).trim().to_string();
    assert_eq!(key_id.len(), 16);
    assert!(key_id.chars().all(|c| c.is_ascii_hexdigit()));
    let text = std::fs::read_to_string(&p).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let secret = v["secret"].as_str().unwrap();
    assert_eq!(v["key_id"], key_id.as_str());
    assert!(!stdout(&o).contains(secret) && !stderr(&o).contains(secret));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let again = run(bin().args(["keygen", "--out"]).arg(&p), None);
    assert_clean_error(&again, "exists");
    assert_eq!(
        std::fs::read_to_string(&p).unwrap(),
        text,
        "profile untouched"
    );
    // Scheme options.
    let g = keygen(
        &d,
        "g.json",
        &["--scheme", "gumbel", "--context-width", "3"],
    );
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(g).unwrap()).unwrap();
    assert_eq!(v["scheme"]["kind"], "gumbel");
    assert_eq!(v["context_width"], 3);
    let bad = run(
        bin()
            .args(["keygen", "--gamma", "1.5", "--out"])
            .arg(d.join("bad.json")),
        None,
    );
    assert_clean_error(&bad, "gamma");
    assert!(!d.join("bad.json").exists());
}

#[test]
fn generate_then_check_detects_watermark_and_not_clean_text() {
    let d = tmp("gencheck");
    for scheme in ["green", "gumbel"] {
        let p = keygen(&d, &format!("{scheme}.json"), &["--scheme", scheme]);
        // The simulated chat model is low-entropy (mean 0.33 nats per step), so the green-list
        // watermark needs a few thousand tokens to reach 1e-6; Gumbel far fewer.
        let wm = run(
            bin()
                .args([
                    "generate-sim",
                    "--tokens",
                    "4000",
                    "--seed",
                    "11",
                    "--profile",
                ])
                .arg(&p),
            None,
        );
        assert_eq!(wm.status.code(), Some(0), "{}", stderr(&wm));
        let clean = run(
            bin()
                .args([
                    "generate-sim",
                    "--tokens",
                    "4000",
                    "--seed",
                    "11",
                    "--no-watermark",
                    "--profile",
                ])
                .arg(&p),
            None,
        );
        assert_eq!(clean.status.code(), Some(0));
        assert_ne!(wm.stdout, clean.stdout);

        let c = run(
            bin().args(["check", "--json", "--profile"]).arg(&p),
            Some(&wm.stdout),
        );
        let v: serde_json::Value =
            serde_json::from_str(&stdout(&c)).unwrap_or_else(|e| panic!("{e}: {}", stderr(&c)));
        assert_eq!(c.status.code(), Some(0), "{scheme}: {v}");
        assert_eq!(v["verdict"], "watermarked");
        assert!(v["log10_p"].as_f64().unwrap() <= -6.0);
        assert_eq!(v["scheme"], scheme);
        for field in [
            "p_value",
            "alpha",
            "scored_tokens",
            "total_tokens",
            "key_id",
            "statistic",
        ] {
            assert!(!v[field].is_null(), "missing {field}");
        }
        let kind = if scheme == "green" {
            "binomial"
        } else {
            "gamma"
        };
        assert_eq!(v["statistic"]["kind"], kind);

        let c = run(
            bin().args(["check", "--json", "--profile"]).arg(&p),
            Some(&clean.stdout),
        );
        let v: serde_json::Value = serde_json::from_str(&stdout(&c)).unwrap();
        assert_eq!(c.status.code(), Some(1), "{v}");
        assert_eq!(v["verdict"], "not_watermarked");
    }
}

#[test]
fn generate_jsonl_is_deterministic_and_attribution_names_the_account() {
    let d = tmp("attr");
    let p = keygen(&d, "k.json", &["--scheme", "gumbel"]);
    let args = [
        "generate-sim",
        "--jsonl",
        "--tokens",
        "1500",
        "--count",
        "2",
        "--seed",
        "5",
        "--account",
        "acct-7",
    ];
    let a = run(bin().args(args).arg("--profile").arg(&p), None);
    let b = run(bin().args(args).arg("--profile").arg(&p), None);
    assert_eq!(a.status.code(), Some(0), "{}", stderr(&a));
    assert_eq!(a.stdout, b.stdout, "same seed, same samples");
    let lines: Vec<serde_json::Value> = stdout(&a)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert!(
        lines[0]["id"].is_string() && lines[0]["text"].is_string() && lines[0]["tokens"] == 1500
    );
    let text = lines[0]["text"].as_str().unwrap();
    let accounts = d.join("accounts.txt");
    let list: Vec<String> = (0..50).map(|i| format!("acct-{i}")).collect();
    std::fs::write(&accounts, list.join("\n")).unwrap();
    let c = run(
        bin()
            .args(["check", "--json", "--accounts-file"])
            .arg(&accounts)
            .arg("--profile")
            .arg(&p),
        Some(text.as_bytes()),
    );
    let v: serde_json::Value = serde_json::from_str(&stdout(&c)).unwrap();
    assert_eq!(v["account"], "acct-7", "{v}");
    assert_eq!(v["accounts_tested"], 50);
    assert!(v["account_p_value"].as_f64().unwrap() <= 1e-6, "{v}");
    assert_eq!(c.status.code(), Some(0));
    // The master key alone does not see an account-keyed watermark.
    assert!(v["master_log10_p"].as_f64().unwrap() > -6.0, "{v}");
}

#[test]
fn check_reports_spans_in_mixed_text() {
    let d = tmp("spans");
    let p = keygen(&d, "k.json", &["--scheme", "gumbel"]);
    let clean = run(
        bin()
            .args([
                "generate-sim",
                "--no-watermark",
                "--tokens",
                "600",
                "--seed",
                "1",
                "--profile",
            ])
            .arg(&p),
        None,
    );
    let wm = run(
        bin()
            .args([
                "generate-sim",
                "--tokens",
                "1500",
                "--seed",
                "2",
                "--profile",
            ])
            .arg(&p),
        None,
    );
    let clean2 = run(
        bin()
            .args([
                "generate-sim",
                "--no-watermark",
                "--tokens",
                "600",
                "--seed",
                "3",
                "--profile",
            ])
            .arg(&p),
        None,
    );
    let mut text = stdout(&clean).trim_end().to_string();
    let start = text.len() + 1;
    text.push(' ');
    text.push_str(stdout(&wm).trim());
    let end = text.len();
    text.push(' ');
    text.push_str(stdout(&clean2).trim());
    let c = run(
        bin().args(["check", "--json", "--profile"]).arg(&p),
        Some(text.as_bytes()),
    );
    let v: serde_json::Value = serde_json::from_str(&stdout(&c)).unwrap();
    let spans = v["spans"]
        .as_array()
        .unwrap_or_else(|| panic!("no spans: {v}"));
    assert!(!spans.is_empty());
    let s = &spans[0];
    let (b0, b1) = (
        s["byte_start"].as_u64().unwrap() as usize,
        s["byte_end"].as_u64().unwrap() as usize,
    );
    // The reported span overlaps the watermarked passage mostly.
    let overlap = b1.min(end).saturating_sub(b0.max(start));
    assert!(
        overlap * 2 > b1 - b0,
        "span {b0}..{b1} vs watermarked {start}..{end}"
    );
    assert!(s["p_value"].as_f64().unwrap() <= 1e-6);
}

#[test]
fn check_bad_input_is_one_clear_line_and_exit_2() {
    let d = tmp("bad");
    let p = keygen(&d, "k.json", &[]);
    let chk = |stdin: &[u8], extra: &[&str]| {
        run(
            bin().arg("check").args(extra).arg("--profile").arg(&p),
            Some(stdin),
        )
    };
    assert_clean_error(&chk(b"", &[]), "empty");
    assert_clean_error(&chk(b"\x00\x01\x02binary\x00", &[]), "binary");
    assert_clean_error(
        &chk(b"caf\xc3 au lait with invalid utf-8", &[]),
        "invalid UTF-8 at byte 3",
    );
    let lossy = chk(b"caf\xc3 au lait with invalid utf-8", &["--lossy"]);
    assert_eq!(lossy.status.code(), Some(1), "{}", stderr(&lossy));
    assert!(stderr(&lossy).contains("replaced 1 invalid"));
    // Over the input bound: bounded read, clear error.
    let big = vec![b'a'; 3000];
    assert_clean_error(&chk(&big, &["--max-input", "1000"]), "exceeds 1000 bytes");
    // 100 MB on stdin with the default bound: refused after reading at most 64 MiB + 1 byte.
    let huge = vec![b'x'; 100 << 20];
    assert_clean_error(&chk(&huge, &[]), "provmark scan");
    // Missing, malformed, truncated, future profiles.
    let o = run(
        bin().args(["check", "--profile", "/nonexistent/k.json"]),
        Some(b"hello there"),
    );
    assert_clean_error(&o, "/nonexistent/k.json");
    let bad = d.join("bad.json");
    write_private(&bad, "{\"format\": \"provmark-profile\", \"version\": 1");
    assert_clean_error(
        &run(bin().args(["check", "--profile"]).arg(&bad), Some(b"hi")),
        "malformed",
    );
    let good = std::fs::read_to_string(&p).unwrap();
    let fut = d.join("future.json");
    write_private(&fut, &good.replace("\"version\": 1", "\"version\": 2"));
    assert_clean_error(
        &run(bin().args(["check", "--profile"]).arg(&fut), Some(b"hi")),
        "newer",
    );
    // A profile naming a Hugging Face tokenizer file that is not there.
    let hf = d.join("hf.json");
    let v: serde_json::Value = serde_json::from_str(&good).unwrap();
    let mut v2 = v.clone();
    v2["tokenizer"] = serde_json::json!({"kind": "hugging_face", "sha256": "00".repeat(32), "vocab_size": 50257, "path": "/nonexistent/tokenizer.json"});
    write_private(&hf, &serde_json::to_string(&v2).unwrap());
    let o = run(
        bin().args(["check", "--profile"]).arg(&hf),
        Some(b"hello there"),
    );
    assert_clean_error(&o, "tokenizer");
    // Bad alpha.
    assert_clean_error(&chk(b"hello", &["--alpha", "2"]), "alpha");
}

#[test]
fn check_token_ids_input() {
    let d = tmp("ids");
    let p = keygen(&d, "k.json", &["--scheme", "gumbel"]);
    let ids = d.join("ids.json");
    std::fs::write(&ids, "[1, 2, 3, 4, 5, 6, 7, 8]").unwrap();
    let o = run(
        bin()
            .args(["check", "--json", "--token-ids"])
            .arg(&ids)
            .arg("--profile")
            .arg(&p),
        None,
    );
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["total_tokens"], 8);
    assert_eq!(v["scored_tokens"], 6);
    assert_eq!(v["statistic"]["kind"], "gamma");
    std::fs::write(&ids, "[1, -2]").unwrap();
    let o = run(
        bin()
            .args(["check", "--token-ids"])
            .arg(&ids)
            .arg("--profile")
            .arg(&p),
        None,
    );
    assert_clean_error(&o, "JSON array of token ids");
}

#[test]
fn dedup_repeated_sentence_is_no_more_significant_than_once() {
    let d = tmp("dedup");
    let p = keygen(&d, "k.json", &[]);
    let wm = run(
        bin()
            .args(["generate-sim", "--tokens", "40", "--seed", "4", "--profile"])
            .arg(&p),
        None,
    );
    let once = stdout(&wm).trim().to_string();
    let many = vec![once.clone(); 50].join(" ");
    let score = |t: &str| {
        let o = run(
            bin().args(["check", "--json", "--profile"]).arg(&p),
            Some(t.as_bytes()),
        );
        let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
        v["log10_p"].as_f64().unwrap()
    };
    let (l1, l50) = (score(&once), score(&many));
    // Repeats add only the few pairs at the seams between copies.
    assert!(l50 >= l1 - 1.5, "once {l1}, 50 times {l50}");
}

#[test]
fn bench_serving_json() {
    let o = run(
        bin().args([
            "bench",
            "serving",
            "--vocab",
            "2000",
            "--candidates",
            "50",
            "--rounds",
            "2",
            "--round-ms",
            "2",
            "--json",
        ]),
        None,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(stdout(&o).lines().next().unwrap()).unwrap();
    assert_eq!(v["vocab"], 2000);
    assert_eq!(v["candidates"], 50);
    for f in ["plain_ns", "green_ns", "gumbel_ns"] {
        assert!(v[f].as_f64().unwrap() > 0.0);
    }
}

/// Scans `testdata/DIR/suspect.jsonl` beside its `control.jsonl` with `PROFILE` as the README's
/// main job does (`extra` flags added), writing both reports under `out`; returns the process
/// output and the JSON report.
fn scan_with_control(
    dir: &str,
    profile: &str,
    extra: &[&str],
    out: &Path,
) -> (Output, serde_json::Value) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata")
        .join(dir);
    let o = run(
        bin()
            .arg("scan")
            .arg(root.join("suspect.jsonl"))
            .arg("--control")
            .arg(root.join("control.jsonl"))
            .args(extra)
            .arg("--profile")
            .arg(root.join(profile))
            .arg("--out")
            .arg(out.join("report.json"))
            .arg("--html")
            .arg(out.join("report.html")),
        None,
    );
    let v = serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap())
        .unwrap_or_else(|e| panic!("{e}: {}", stderr(&o)));
    assert!(out.join("report.html").exists());
    (o, v)
}

/// The README's main job: the real student of issue 13 (fine-tuned on 400 green-watermarked
/// SmolLM2 answers) and its control, scanned with the experiment's public key. The figures are
/// the ones docs/real-distillation.md reports (the scan is deterministic); the same key finds
/// the teacher's served answers overwhelmingly, so the null is the student's, not the key's.
#[test]
fn readme_main_job_scans_the_real_student_and_states_its_verdict() {
    let profile = "PUBLIC-EXPERIMENT-KEY.green.profile.json";
    let out = tmp("readme-real").join("out");
    let (o, v) = scan_with_control("real-distill", profile, &["--prompt-field", "prompt"], &out);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("verdict: not_watermarked"),
        "{}",
        stdout(&o)
    );
    let c = &v["corpus"];
    assert_eq!(c["verdict"], "not_watermarked");
    assert_eq!(c["records_scored"], 240, "{c}");
    assert_eq!(c["scored_tokens"], 44962, "{c}");
    assert!(
        (c["log10_p"].as_f64().unwrap() + 0.0543).abs() < 5e-4,
        "{c}"
    );
    let control = &v["control"]["corpus"];
    assert_eq!(control["verdict"], "not_watermarked");
    assert_eq!(control["scored_tokens"], 44623, "{control}");

    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/real-distill");
    let o = run(
        bin()
            .arg("scan")
            .arg(root.join("served.jsonl"))
            .args(["--prompt-field", "prompt", "--json", "--quiet", "--profile"])
            .arg(root.join(profile)),
        None,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["corpus"]["verdict"], "watermarked");
    assert!(
        v["corpus"]["log10_p"].as_f64().unwrap() < -1000.0,
        "{}",
        v["corpus"]
    );
}

/// The simulated demo (the README's "what a caught student looks like"): a student that did
/// learn the mark; its reports go to a folder that does not exist yet.
#[test]
fn simulated_demo_scans_into_a_new_output_folder() {
    let out = tmp("readme").join("out/nested");
    let (o, v) = scan_with_control("demo", "PUBLIC-DEMO-KEY.profile.json", &["--quiet"], &out);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(v["corpus"]["verdict"], "watermarked");
    assert!(v["corpus"]["log10_p"].as_f64().unwrap() < -12.0);
    let control = &v["control"]["corpus"];
    assert_eq!(control["verdict"], "not_watermarked");
    assert!(control["p_value"].as_f64().unwrap() > 1e-3, "{control}");
}
