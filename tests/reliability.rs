//! What a new user trips over, through the binary (issue 15, item 4): outputs that must not
//! destroy inputs, scans that score nothing, broken pipes and full disks, accounts files,
//! `verify-report`'s exit codes, symlinks in corpus folders, argument checks, one verdict.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_provmark"))
}

fn tmp(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("reliability-tests")
        .join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn run(cmd: &mut Command, stdin: &[u8]) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut sin = child.stdin.take().unwrap();
    let _ = sin.write_all(stdin);
    drop(sin);
    child.wait_with_output().unwrap()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Exit 2, no panic, and the message contains `needle`.
fn assert_error(o: &Output, needle: &str) {
    let e = err(o);
    assert_eq!(o.status.code(), Some(2), "stderr: {e}\nstdout: {}", out(o));
    assert!(!e.contains("panicked"), "{e}");
    assert!(e.contains(needle), "expected `{needle}` in: {e}");
}

/// The scan or check ran to a verdict (0 watermarked or 1 not): small simulated corpora at chat
/// entropy may go either way, and these tests are not about the verdict.
fn assert_verdict(o: &Output) {
    assert!(
        matches!(o.status.code(), Some(0 | 1)),
        "exit {:?}: {}",
        o.status.code(),
        err(o)
    );
}

fn keygen(dir: &Path) -> PathBuf {
    let p = dir.join("key.json");
    let o = run(bin().args(["keygen", "--out"]).arg(&p), b"");
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    p
}

/// `n` watermarked samples of the simulated model as JSONL (under `account` when given).
fn corpus(dir: &Path, profile: &Path, name: &str, n: u32, account: Option<&str>) -> PathBuf {
    let mut cmd = bin();
    cmd.args(["generate-sim", "--jsonl", "--tokens", "200", "--count"])
        .arg(n.to_string())
        .arg("--profile")
        .arg(profile);
    if let Some(a) = account {
        cmd.args(["--account", a]);
    }
    let o = run(&mut cmd, b"");
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    let p = dir.join(name);
    std::fs::write(&p, &o.stdout).unwrap();
    p
}

fn scan(args: &[&Path], extra: &[&str]) -> Output {
    let mut cmd = bin();
    cmd.arg("scan").args(args).args(extra).arg("-q");
    run(&mut cmd, b"")
}

fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// 4.1 / 4.4: outputs never replace an input or the profile, existing files need --force,
/// one path cannot take two outputs, and a failed run leaves nothing behind.
#[test]
fn scan_outputs_protect_inputs_and_leave_nothing_on_failure() {
    let d = tmp("outputs");
    let key = keygen(&d);
    let key_bytes = std::fs::read(&key).unwrap();
    let s = corpus(&d, &key, "s.jsonl", 5, None);
    let s_bytes = std::fs::read(&s).unwrap();
    let p = ["--profile", key.to_str().unwrap()];
    for (flag, target) in [("--out", &key), ("--html", &s), ("--records", &key)] {
        for force in [false, true] {
            let mut extra = vec![p[0], p[1], flag, target.to_str().unwrap()];
            if force {
                extra.push("--force");
            }
            let o = scan(&[&s], &extra);
            assert_error(&o, "refusing to overwrite");
        }
    }
    assert_eq!(std::fs::read(&key).unwrap(), key_bytes, "profile changed");
    assert_eq!(std::fs::read(&s).unwrap(), s_bytes, "corpus changed");

    let r = d.join("r.json");
    let o = scan(&[&s], &[p[0], p[1], "--out", r.to_str().unwrap()]);
    assert_verdict(&o);
    let first = std::fs::read(&r).unwrap();
    let o = scan(&[&s], &[p[0], p[1], "--out", r.to_str().unwrap()]);
    assert_error(&o, "--force");
    assert_eq!(std::fs::read(&r).unwrap(), first);
    let o = scan(
        &[&s],
        &[p[0], p[1], "--out", r.to_str().unwrap(), "--force"],
    );
    assert_verdict(&o);

    let same = d.join("same.out");
    let o = scan(
        &[&s],
        &[
            p[0],
            p[1],
            "--out",
            same.to_str().unwrap(),
            "--html",
            d.join(".").join("same.out").to_str().unwrap(),
        ],
    );
    assert_error(&o, "another output");

    // Outputs are checked before the input is read: a bad output and a missing input report
    // the output.
    let o = scan(
        &[&d.join("missing.jsonl")],
        &[p[0], p[1], "--out", r.to_str().unwrap()],
    );
    assert_error(&o, "--force");

    // A scan that fails after reading leaves neither outputs nor temporary files.
    let fail = tmp("outputs-fail");
    let before = entries(&fail);
    let o = scan(
        &[&s],
        &[
            p[0],
            p[1],
            "--field",
            "nope",
            "--out",
            fail.join("r.json").to_str().unwrap(),
            "--html",
            fail.join("r.html").to_str().unwrap(),
            "--records",
            fail.join("records.jsonl").to_str().unwrap(),
        ],
    );
    assert_error(&o, "nothing was scored");
    assert_eq!(entries(&fail), before);
}

/// 4.2: scoring nothing is an error that names the likely cause, in scan and in check.
#[test]
fn scoring_nothing_is_an_error_with_the_cause() {
    let d = tmp("nothing");
    let key = keygen(&d);
    let p = key.to_str().unwrap();
    let s = d.join("s.jsonl");
    std::fs::write(
        &s,
        "{\"text\": \"one two three four\", \"id\": 1}\n{\"text\": \"five six seven\", \"id\": 2}\n{\"id\": 3, \"text\": \"x y z w\"}\n",
    )
    .unwrap();
    let o = scan(&[&s], &["--profile", p, "--field", "txt"]);
    assert_error(&o, "0 of 3 records had field `txt`");
    assert!(err(&o).contains("fields seen: id, text"), "{}", err(&o));

    let empty = d.join("empty.jsonl");
    std::fs::write(&empty, "\n\n").unwrap();
    assert_error(&scan(&[&empty], &["--profile", p]), "no records");
    let bin_file = d.join("garbage.txt");
    std::fs::write(&bin_file, [0xffu8, 0xfe, 0x00, 0x81, 0x9c]).unwrap();
    assert_error(&scan(&[&bin_file], &["--profile", p]), "invalid_utf8");
    // Closed standard input.
    let o = run(bin().args(["scan", "-", "-q", "--profile", p]), b"");
    assert_error(&o, "no records");

    // check: an empty file and a one-token text agree (both errors, not "not watermarked").
    let e = d.join("e.txt");
    std::fs::write(&e, "").unwrap();
    let one = d.join("one.txt");
    std::fs::write(&one, "Hello").unwrap();
    for f in [&e, &one] {
        let o = run(bin().arg("check").arg(f).args(["--profile", p]), b"");
        assert_eq!(o.status.code(), Some(2), "{}: {}", f.display(), err(&o));
    }
    let o = run(bin().arg("check").arg(&one).args(["--profile", p]), b"");
    assert_error(&o, "nothing was scored");
}

/// 4.3: a full disk is a clean error; a closed pipe ends quietly.
#[test]
fn write_errors_are_clean_and_a_closed_pipe_is_quiet() {
    let d = tmp("pipes");
    let key = keygen(&d);
    let text = d.join("t.txt");
    std::fs::write(
        &text,
        "The quick brown fox jumps over the lazy dog again and again.",
    )
    .unwrap();
    if let Ok(full) = std::fs::OpenOptions::new().write(true).open("/dev/full") {
        for args in [
            vec!["check", text.to_str().unwrap()],
            vec!["generate-sim", "--tokens", "50"],
        ] {
            let o = bin()
                .args(&args)
                .arg("--profile")
                .arg(&key)
                .stdout(full.try_clone().unwrap())
                .stderr(Stdio::piped())
                .output()
                .unwrap();
            assert_error(&o, "No space left on device");
        }
    } else {
        eprintln!("skipped the /dev/full half: no /dev/full here");
    }
    // A reader that goes away after the first bytes.
    let mut child = bin()
        .args([
            "generate-sim",
            "--count",
            "2000",
            "--tokens",
            "100",
            "--profile",
        ])
        .arg(&key)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut so = child.stdout.take().unwrap();
    let mut buf = [0u8; 64];
    so.read_exact(&mut buf).unwrap();
    drop(so);
    let o = child.wait_with_output().unwrap();
    assert_eq!(err(&o), "", "a closed pipe must end quietly");
    assert_eq!(o.status.code(), Some(141));
}

/// 4.5: one accounts reader (comments skipped everywhere) and one flag name.
#[test]
fn accounts_files_read_the_same_in_check_and_scan() {
    let d = tmp("accounts");
    let key = keygen(&d);
    let p = key.to_str().unwrap();
    let accts = d.join("accounts.txt");
    std::fs::write(&accts, "# our customers\nalice\n\n  # bob is gone\ncarol\n").unwrap();
    let s = corpus(&d, &key, "s.jsonl", 3, None);
    let text: serde_json::Value =
        serde_json::from_str(std::fs::read_to_string(&s).unwrap().lines().next().unwrap()).unwrap();
    let t = d.join("t.txt");
    std::fs::write(&t, text["text"].as_str().unwrap()).unwrap();
    for flag in ["--accounts-file", "--accounts"] {
        let o = run(
            bin()
                .arg("check")
                .arg(&t)
                .args(["--json", "--profile", p, flag])
                .arg(&accts),
            b"",
        );
        let v: serde_json::Value =
            serde_json::from_str(&out(&o)).unwrap_or_else(|_| panic!("{}", err(&o)));
        assert_eq!(v["accounts_tested"], 2, "{flag}");
        let o = scan(
            &[&s],
            &["--json", "--profile", p, flag, accts.to_str().unwrap()],
        );
        let v: serde_json::Value =
            serde_json::from_str(&out(&o)).unwrap_or_else(|_| panic!("{}", err(&o)));
        assert_eq!(v["attribution"]["accounts_tested"], 2, "{flag}");
    }
}

/// 4.7: wrong profile and HTML are errors (2), stdin works, one-byte edits are "ALTERED" (1).
#[test]
fn verify_report_exit_codes() {
    let d = tmp("verify");
    let key = keygen(&d);
    let other = d.join("other.json");
    let o = run(bin().args(["keygen", "--out"]).arg(&other), b"");
    assert_eq!(o.status.code(), Some(0));
    let s = corpus(&d, &key, "s.jsonl", 5, None);
    let (r, h) = (d.join("r.json"), d.join("r.html"));
    let o = scan(
        &[&s],
        &[
            "--profile",
            key.to_str().unwrap(),
            "--out",
            r.to_str().unwrap(),
            "--html",
            h.to_str().unwrap(),
        ],
    );
    assert_verdict(&o);
    let verify = |report: &str, prof: &Path, stdin: &[u8]| {
        run(
            bin().args(["verify-report", report, "--profile"]).arg(prof),
            stdin,
        )
    };
    assert_eq!(
        verify(r.to_str().unwrap(), &key, b"").status.code(),
        Some(0)
    );
    assert_error(
        &verify(r.to_str().unwrap(), &other, b""),
        "cannot verify with this profile",
    );
    assert_error(&verify(h.to_str().unwrap(), &key, b""), "HTML");
    let bytes = std::fs::read(&r).unwrap();
    let o = verify("-", &key, &bytes);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    assert!(out(&o).contains("<stdin>: intact"));
    let mut edited = bytes.clone();
    let at = String::from_utf8_lossy(&bytes)
        .find("\"records_total\": ")
        .unwrap()
        + 17;
    edited[at] = if edited[at] == b'9' { b'8' } else { b'9' };
    assert_eq!(verify("-", &key, &edited).status.code(), Some(1));
}

/// 4.8: a symlink loop and a dangling link in a corpus folder are skipped with a reason.
#[cfg(unix)]
#[test]
fn symlink_loops_and_dangling_links_do_not_abort_a_scan() {
    let d = tmp("links");
    let key = keygen(&d);
    let folder = d.join("corpus");
    std::fs::create_dir_all(folder.join("sub")).unwrap();
    corpus(&folder, &key, "a.jsonl", 4, None);
    std::os::unix::fs::symlink(&folder, folder.join("sub/loop")).unwrap();
    std::os::unix::fs::symlink(folder.join("gone.jsonl"), folder.join("dangling.jsonl")).unwrap();
    let r = d.join("r.json");
    let o = scan(
        &[&folder],
        &[
            "--profile",
            key.to_str().unwrap(),
            "--out",
            r.to_str().unwrap(),
        ],
    );
    assert_verdict(&o);
    let e = err(&o);
    assert!(e.contains("loop") && e.contains("not followed"), "{e}");
    assert!(
        e.contains("dangling.jsonl") && e.contains("dangling"),
        "{e}"
    );
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&r).unwrap()).unwrap();
    assert_eq!(v["skipped_inputs"].as_array().unwrap().len(), 2);
    assert_eq!(v["inputs"].as_array().unwrap().len(), 1);
}

/// 4.9: argument checks and one p-value format.
#[test]
fn arguments_are_checked_and_p_values_print_one_way() {
    let d = tmp("args");
    let key = keygen(&d);
    let p = key.to_str().unwrap();
    let gen = |extra: &[&str]| {
        run(
            bin().args(["generate-sim", "--profile", p]).args(extra),
            b"",
        )
    };
    assert_error(
        &gen(&["--no-watermark", "--account", "x"]),
        "--no-watermark",
    );
    assert_error(&gen(&["--count", "0"]), "--count");
    assert_error(&gen(&["--temperature", "-1"]), "temperature");
    let o = run(bin().args(["keygen", "--out"]).arg(&d), b"");
    assert_error(&o, "is a folder");
    assert!(err(&o).contains(d.to_str().unwrap()), "{}", err(&o));
    let ids = d.join("ids.json");
    std::fs::write(&ids, "[1, 2, 3, 4000000]").unwrap();
    let o = run(
        bin()
            .args(["check", "--profile", p, "--token-ids"])
            .arg(&ids),
        b"",
    );
    assert_error(&o, "outside the vocabulary");
    assert!(err(&o).contains("ids.json"), "{}", err(&o));
    let missing = d.join("no-prompt.txt");
    let o = run(
        bin()
            .args(["check", "--profile", p, "--prompt-file"])
            .arg(&missing),
        b"some text to check here",
    );
    assert_error(&o, "no-prompt.txt");
    let o = run(
        bin().args(["check", "--profile", p]),
        b"a short text that is not watermarked at all",
    );
    let text = out(&o);
    assert_eq!(o.status.code(), Some(1), "{}", err(&o));
    // Every p-value as `format_p` writes it: `0.43` or `2.6e-24`, never `4.300e-1` or `1.000e0`.
    let mut seen = 0;
    for part in text.split("p = ").skip(1) {
        let v: String = part
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '-')
            .collect();
        seen += 1;
        assert!(v.parse::<f64>().is_ok(), "{v} in {text}");
        if let Some((mantissa, _)) = v.split_once('e') {
            assert_eq!(mantissa.len(), 3, "{v} in {text}");
        } else {
            assert!(v.len() <= 5, "{v} in {text}");
        }
    }
    assert!(seen >= 2, "{text}");
}

/// 4.6: when only an account key carries the evidence, the page, its colour and the terminal
/// all give that one verdict.
#[test]
fn one_verdict_when_an_account_key_carries_the_evidence() {
    let d = tmp("verdict");
    let key = keygen(&d);
    let s = corpus(&d, &key, "s.jsonl", 150, Some("bob"));
    let h = d.join("r.html");
    let o = scan(
        &[&s],
        &[
            "--profile",
            key.to_str().unwrap(),
            "--account",
            "alice",
            "--account",
            "bob",
            "--html",
            h.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}{}", out(&o), err(&o));
    let text = out(&o);
    let first_verdict = text.lines().find(|l| l.starts_with("verdict:")).unwrap();
    assert!(
        first_verdict.starts_with("verdict: watermarked") && first_verdict.contains("account:bob"),
        "{text}"
    );
    let html = std::fs::read_to_string(&h).unwrap();
    assert!(html.contains("class=\"verdict pos\""), "headline colour");
    assert!(html.contains("<tr><th>verdict</th><td>watermarked</td></tr>"));
    assert!(html.contains("account bob&#39;s key"));
    // The evidence curve shown is bob's key's (the key behind the verdict), not the master key's:
    // the page embeds the plotted curve, which must end at bob's own p-value.
    assert!(
        !html.contains("<script"),
        "the page carries no script element"
    );
    let data = provmark_scan::html::embedded_curve(&html).expect("the page embeds its curve");
    assert_eq!(data["key"], "account:bob");
    let last = data["curve"].as_array().unwrap().last().unwrap();
    // (The master key's curve stays near 0 on text bob's subkey marked: below 1e-6 by chance
    // with probability 1e-6.)
    assert!(last["log10_p"].as_f64().unwrap() < -6.0, "{last}");
    let params =
        &html[html.find("<h2>Parameters</h2>").unwrap()..html.find("<h2>Integrity</h2>").unwrap()];
    assert!(
        !params.contains("null") && !params.contains("_bytes"),
        "raw JSON values in the Parameters table: {params}"
    );
}
