//! `provmark serve` end to end on loopback: the official `openai` Python client and curl against a
//! server each test starts on 127.0.0.1 (a free port) and stops. Tests that need the model skip
//! with a message when `models/SmolLM2-135M-Instruct.Q8_0.gguf` is absent (run
//! `tools/fetch-model.sh`); the Python client test skips when no Python with `openai` is found
//! (`PROVMARK_OPENAI_PYTHON`, or `target/serve-venv/bin/python` as `.ci/run` makes it).
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_provmark"))
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn model() -> Option<PathBuf> {
    let p = root().join("models/SmolLM2-135M-Instruct.Q8_0.gguf");
    if p.is_file() {
        Some(p)
    } else {
        eprintln!(
            "SKIPPED: {} is absent (run tools/fetch-model.sh): serve tests need the model",
            p.display()
        );
        None
    }
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("provmark-serve-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn ok(o: &Output) -> String {
    assert_eq!(
        o.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A profile bound to the model and accounts; returns (profile, accounts file, keys by name).
///
/// The master key is fixed (as `keygen --model` would bind it: the model's tokenizer, default
/// green scheme, width 2), so the watermark on every seeded answer, and with it each detection
/// strength asserted below, is the same on every run; `keygen --model` itself is tested in
/// tests/real_model.rs.
fn setup(d: &Path, model: &Path, names: &[&str]) -> (PathBuf, PathBuf, Vec<String>) {
    let profile = d.join("key.json");
    let spec = provmark_model::profile_tokenizer_spec(model).unwrap();
    provmark_core::Profile::from_secret(
        provmark_core::SecretKey::from_bytes([11; 32]),
        provmark_core::Scheme::DEFAULT_GREEN,
        2,
        spec,
    )
    .unwrap()
    .save_new(&profile)
    .unwrap();
    let accounts = d.join("accounts.json");
    let keys = names.iter().map(|n| add_account(&accounts, n)).collect();
    (profile, accounts, keys)
}

fn add_account(accounts: &Path, name: &str) -> String {
    let out = ok(&bin()
        .args(["accounts", "add", "--accounts"])
        .arg(accounts)
        .arg(name)
        .output()
        .unwrap());
    out.lines().last().unwrap().to_string()
}

/// A server started on a free loopback port; killed on drop if still running.
struct Server {
    child: Child,
    addr: String,
    stderr: PathBuf,
}

impl Server {
    fn start(d: &Path, model: &Path, profile: &Path, accounts: &Path, extra: &[&str]) -> Server {
        let stderr = d.join(format!(
            "serve-{}.err",
            extra.join("_").replace(['/', ' '], "")
        ));
        let mut child = bin()
            .args(["serve", "--listen", "127.0.0.1:0", "--model"])
            .arg(model)
            .arg("--profile")
            .arg(profile)
            .arg("--accounts")
            .arg(accounts)
            .arg("--served-log")
            .arg(d.join("served.jsonl"))
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let line = rx
            .recv_timeout(Duration::from_secs(300))
            .unwrap_or_else(|_| {
                panic!(
                    "server did not start: {}",
                    std::fs::read_to_string(&stderr).unwrap_or_default()
                )
            });
        let addr = line
            .strip_prefix("provmark serve: listening on http://")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        assert!(addr.starts_with("127.0.0.1:"), "{addr}");
        Server {
            child,
            addr,
            stderr,
        }
    }

    fn signal(&self, sig: &str) {
        let st = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(st.success());
    }

    /// Waits for the process to exit (bounded) and returns its exit code.
    fn wait(&mut self) -> Option<i32> {
        for _ in 0..600 {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st.code();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("server did not exit");
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// curl on loopback; the key travels in curl's config on stdin, never in argv. Returns
/// (status, body).
fn curl(addr: &str, path: &str, key: Option<&str>, body: Option<&[u8]>) -> (u16, String) {
    let mut cmd = Command::new("curl");
    cmd.args([
        "-sS",
        "-N",
        "--max-time",
        "600",
        "-K",
        "-",
        "-w",
        "\n%{http_code}",
    ])
    .arg(format!("http://{addr}{path}"));
    let mut config = String::new();
    if let Some(k) = key {
        config.push_str(&format!("header = \"Authorization: Bearer {k}\"\n"));
    }
    let mut body_file = None;
    if let Some(b) = body {
        let f = std::env::temp_dir().join(format!(
            "provmark-serve-body-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::write(&f, b).unwrap();
        config.push_str("header = \"Content-Type: application/json\"\n");
        cmd.arg("--data-binary").arg(format!("@{}", f.display()));
        body_file = Some(f);
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("curl");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(config.as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    if let Some(f) = body_file {
        let _ = std::fs::remove_file(f);
    }
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

fn chat_body(model_id: &str, prompt: &str, extra: Value) -> Vec<u8> {
    let mut v = serde_json::json!({
        "model": model_id,
        "messages": [{"role": "user", "content": prompt}],
    });
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    v.to_string().into_bytes()
}

fn served_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("torn line {l:?}: {e}")))
        .collect()
}

const MODEL_ID: &str = "SmolLM2-135M-Instruct.Q8_0";

fn error_of(body: &str) -> Value {
    let v: Value = serde_json::from_str(body).unwrap_or_else(|_| panic!("not JSON: {body}"));
    let e = v["error"].clone();
    assert!(e["message"].is_string() && e["type"].is_string(), "{v}");
    e
}

#[test]
fn accounts_add_prints_the_key_once_and_stores_only_a_keyed_hash() {
    let d = tmp("accounts");
    let f = d.join("accounts.json");
    let o = bin()
        .args(["accounts", "add", "--accounts"])
        .arg(&f)
        .arg("alice")
        .output()
        .unwrap();
    let key = ok(&o).lines().last().unwrap().to_string();
    assert!(key.starts_with("pmk-") && key.len() == 68, "{key}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains(&key[4..]), "the key is on stdout only");
    let bob = add_account(&f, "bob");
    assert_ne!(key, bob);
    let text = std::fs::read_to_string(&f).unwrap();
    assert!(!text.contains(&key[4..]) && !text.contains(&bob[4..]));
    let o = bin()
        .args(["accounts", "add", "--accounts"])
        .arg(&f)
        .arg("alice")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "a second alice is refused");
    let names = ok(&bin()
        .args(["accounts", "list", "--accounts"])
        .arg(&f)
        .output()
        .unwrap());
    assert_eq!(names, "alice\nbob\n");
}

fn python_with_openai() -> Option<PathBuf> {
    let candidates = std::env::var_os("PROVMARK_OPENAI_PYTHON")
        .map(PathBuf::from)
        .into_iter()
        .chain([root().join("target/serve-venv/bin/python")]);
    for p in candidates {
        let ok = Command::new(&p)
            .args(["-c", "import openai"])
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            return Some(p);
        }
    }
    eprintln!(
        "SKIPPED: the openai Python client part: no Python with `openai` (set PROVMARK_OPENAI_PYTHON \
         or run: python3 -m venv target/serve-venv && target/serve-venv/bin/pip install openai)"
    );
    None
}

#[test]
fn serve_answers_curl_and_the_openai_client_with_the_accounts_watermark() {
    let Some(model) = model() else { return };
    let d = tmp("main");
    let (profile, accounts, keys) = setup(&d, &model, &["alice", "bob", "carol"]);
    let server = Server::start(&d, &model, &profile, &accounts, &["--max-body-kib", "8"]);
    let a = &server.addr;
    let (alice, bob) = (&keys[0], &keys[1]);

    let (code, body) = curl(a, "/health", None, None);
    assert_eq!(code, 200, "{body}");
    let (code, body) = curl(a, "/v1/models", Some(alice), None);
    assert_eq!(code, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["data"][0]["id"],
        MODEL_ID
    );
    // Unknown and missing keys: 401 in OpenAI's shape.
    let (code, body) = curl(a, "/v1/models", None, None);
    assert_eq!(code, 401);
    assert_eq!(error_of(&body)["code"], "invalid_api_key");
    let chat = |key: &str, body: &[u8]| curl(a, "/v1/chat/completions", Some(key), Some(body));
    let hello = chat_body(MODEL_ID, "Hello!", serde_json::json!({"max_tokens": 8}));
    let (code, body) = chat(&format!("pmk-{}", "1".repeat(64)), &hello);
    assert_eq!(code, 401);
    assert_eq!(error_of(&body)["type"], "invalid_request_error");
    // Malformed JSON, bad field, oversized body, unknown model.
    let (code, body) = chat(alice, b"{\"model\": ");
    assert_eq!(code, 400, "{body}");
    error_of(&body);
    let (code, body) = chat(
        alice,
        &chat_body(MODEL_ID, "x", serde_json::json!({"temperature": "hot"})),
    );
    assert_eq!(code, 400);
    assert_eq!(error_of(&body)["param"], "temperature");
    let big = chat_body(MODEL_ID, &"tea ".repeat(5000), serde_json::json!({}));
    let (code, body) = chat(alice, &big);
    assert_eq!(code, 413, "{body}");
    assert_eq!(error_of(&body)["code"], "request_too_large");
    let (code, body) = chat(alice, &chat_body("gpt-4o", "x", serde_json::json!({})));
    assert_eq!(code, 404);
    assert_eq!(error_of(&body)["code"], "model_not_found");

    // A non-streaming answer with usage counts.
    let (code, body) = chat(alice, &hello);
    assert_eq!(code, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["object"], "chat.completion");
    let usage = &v["usage"];
    assert!(usage["completion_tokens"].as_u64().unwrap() <= 8);
    assert_eq!(
        usage["total_tokens"].as_u64(),
        Some(
            usage["prompt_tokens"].as_u64().unwrap() + usage["completion_tokens"].as_u64().unwrap()
        )
    );
    // Streaming through curl: data lines, a finish reason, then [DONE].
    let (code, body) = chat(
        bob,
        &chat_body(
            MODEL_ID,
            "Hello!",
            serde_json::json!({"max_tokens": 8, "stream": true}),
        ),
    );
    assert_eq!(code, 200);
    let data: Vec<&str> = body
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .collect();
    assert_eq!(data.last(), Some(&"[DONE]"), "{body}");
    let chunks: Vec<Value> = data[..data.len() - 1]
        .iter()
        .map(|c| serde_json::from_str(c).unwrap())
        .collect();
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    assert!(chunks
        .iter()
        .all(|c| c["object"] == "chat.completion.chunk"));
    assert!(chunks.last().unwrap()["choices"][0]["finish_reason"].is_string());

    // The official client: chat, streaming, errors, disconnect mid-stream.
    let mut python_ran = false;
    if let Some(py) = python_with_openai() {
        let o = Command::new(py)
            .arg(root().join("tests/serve_openai.py"))
            .env("PROVMARK_BASE_URL", format!("http://{a}/v1"))
            .env("PROVMARK_MODEL_ID", MODEL_ID)
            .env("OPENAI_API_KEY", alice)
            .output()
            .unwrap();
        let out = ok(&o);
        let v: Value = serde_json::from_str(out.trim()).unwrap();
        assert_eq!(v["ok"], true);
        python_ran = true;
    }

    // Per-account watermark: carol's answers are attributed to carol among the three.
    let mut text = String::new();
    for seed in 0..2 {
        let (code, body) = chat(
            &keys[2],
            &chat_body(
                MODEL_ID,
                "Tell me about the history of the bicycle.",
                serde_json::json!({"max_tokens": 120, "temperature": 1.0, "seed": seed}),
            ),
        );
        assert_eq!(code, 200, "{body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        text.push_str(v["choices"][0]["message"]["content"].as_str().unwrap());
        text.push('\n');
    }
    let names = d.join("names.txt");
    std::fs::write(&names, "alice\nbob\ncarol\n").unwrap();
    let suspect = d.join("carol.txt");
    std::fs::write(&suspect, &text).unwrap();
    let o = bin()
        .arg("check")
        .arg(&suspect)
        .args(["--json", "--profile"])
        .arg(&profile)
        .arg("--model")
        .arg(&model)
        .arg("--accounts-file")
        .arg(&names)
        .output()
        .unwrap();
    let v: Value = serde_json::from_str(&String::from_utf8_lossy(&o.stdout))
        .unwrap_or_else(|_| panic!("check: {}", String::from_utf8_lossy(&o.stderr)));
    assert_eq!(v["account"], "carol", "{v}");
    assert!(v["account_p_value"].as_f64().unwrap() <= 1e-3, "{v}");

    // The served log: one whole line per answer, fingerprints only, never a key or the text.
    drop(server);
    let log = d.join("served.jsonl");
    let lines = served_lines(&log);
    let raw = std::fs::read_to_string(&log).unwrap();
    for k in &keys {
        assert!(!raw.contains(&k[4..]), "an API key in the served log");
    }
    for line in text.lines().filter(|l| l.len() > 20) {
        assert!(!raw.contains(line), "answer text in the served log: {line}");
    }
    assert!(lines.iter().all(|l| l.get("text").is_none()));
    let carol: Vec<&Value> = lines.iter().filter(|l| l["account"] == "carol").collect();
    assert_eq!(carol.len(), 2);
    for l in &carol {
        let n = l["completion_tokens"].as_u64().unwrap() as usize;
        assert_eq!(
            l["context_fingerprints"].as_array().unwrap().len(),
            n.saturating_sub(1)
        );
        assert_eq!(l["watermarked"], true);
    }
    if python_ran {
        assert!(
            lines.iter().any(|l| l["account"] == "alice"
                && l["finish"] == "cancelled"
                && l["completion_tokens"].as_u64().unwrap() < 400),
            "the answer whose client left mid-stream ends as cancelled"
        );
    }
}

#[test]
fn quota_bounded_queue_and_sigterm_finish_the_answer_in_flight() {
    let Some(model) = model() else { return };
    let d = tmp("limits");
    let (profile, accounts, keys) = setup(&d, &model, &["alice", "bob", "carol"]);
    let mut server = Server::start(
        &d,
        &model,
        &profile,
        &accounts,
        &["--quota-tokens", "24", "--queue", "1"],
    );
    let a = server.addr.clone();
    // Quota: answers are cut to what is left, then 429; other accounts are untouched.
    let mut served = 0;
    let mut refused = false;
    for seed in 0..6 {
        let (code, body) = curl(
            &a,
            "/v1/chat/completions",
            Some(&keys[0]),
            Some(&chat_body(
                MODEL_ID,
                "Write a poem about the sea.",
                serde_json::json!({"max_tokens": 10, "temperature": 1.0, "seed": seed}),
            )),
        );
        if code == 429 {
            assert_eq!(error_of(&body)["code"], "insufficient_quota");
            refused = true;
            break;
        }
        assert_eq!(code, 200, "{body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        served += v["usage"]["completion_tokens"].as_u64().unwrap();
    }
    assert!(
        refused,
        "the quota was never enforced ({served} tokens served)"
    );
    assert!(served <= 24, "{served} tokens served over a quota of 24");
    // Bounded queue: one answer generating, one waiting, the rest refused with 503 (the first
    // may still sit in the queue when the others arrive: up to five refusals).
    let body = chat_body(
        MODEL_ID,
        "Write a poem about the sea.",
        serde_json::json!({"max_tokens": 20, "temperature": 1.0}),
    );
    let handles: Vec<_> = (0..6)
        .map(|_| {
            let (a, k, b) = (a.clone(), keys[1].clone(), body.clone());
            std::thread::spawn(move || curl(&a, "/v1/chat/completions", Some(&k), Some(&b)))
        })
        .collect();
    let results: Vec<(u16, String)> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let busy = results.iter().filter(|(c, _)| *c == 503).count();
    for (c, b) in &results {
        assert!(*c == 200 || *c == 503, "{c} {b}");
        if *c == 503 {
            assert_eq!(error_of(b)["code"], "server_busy");
        }
    }
    assert!((1..=5).contains(&busy), "{results:?}");
    // SIGTERM during a streamed answer: the answer completes, then the server exits 0.
    let log = d.join("served.jsonl");
    let before = served_lines(&log).len();
    let (tx, rx) = mpsc::channel();
    let (a2, k2) = (a.clone(), keys[2].clone());
    let streaming = std::thread::spawn(move || {
        let body = chat_body(
            MODEL_ID,
            "Write a long story about a dragon.",
            serde_json::json!({"max_tokens": 20, "temperature": 1.0, "seed": 5, "stream": true}),
        );
        tx.send(()).unwrap();
        curl(&a2, "/v1/chat/completions", Some(&k2), Some(&body))
    });
    rx.recv().unwrap();
    // Wait (bounded) until the answer is being generated, then ask the server to stop.
    for _ in 0..600 {
        let (_, h) = curl(&a, "/health", None, None);
        if serde_json::from_str::<Value>(&h).is_ok_and(|v| v["generating"] == true) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    server.signal("TERM");
    let (code, body) = streaming.join().unwrap();
    assert_eq!(code, 200);
    assert!(body.trim_end().ends_with("data: [DONE]"), "{body}");
    assert_eq!(server.wait(), Some(0), "{}", server.stderr());
    let lines = served_lines(&log);
    assert_eq!(lines.len(), before + 1, "the finished answer is in the log");
    assert_ne!(lines.last().unwrap()["finish"], "cancelled");
}

#[test]
fn served_log_survives_sigkill_mid_load_and_feeds_scan_filter() {
    let Some(model) = model() else { return };
    let d = tmp("kill");
    let (profile, accounts, keys) = setup(&d, &model, &["alice", "bob", "distiller"]);
    let log = d.join("served.jsonl");
    let mut server = Server::start(&d, &model, &profile, &accounts, &[]);
    let a = server.addr.clone();
    let clients: Vec<_> = (0..4)
        .map(|i| {
            let (a, k) = (a.clone(), keys[i % 3].clone());
            std::thread::spawn(move || {
                for seed in 0..10u64 {
                    let b = chat_body(
                        MODEL_ID,
                        "Give me a tip for learning to cook.",
                        serde_json::json!({"max_tokens": 16, "temperature": 1.0, "seed": seed}),
                    );
                    if curl(&a, "/v1/chat/completions", Some(&k), Some(&b)).0 == 0 {
                        break; // the server is gone
                    }
                }
            })
        })
        .collect();
    // Kill once some answers are in the log (bounded wait).
    for _ in 0..3000 {
        if served_lines(&log).len() >= 3 {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    server.signal("KILL");
    server.wait();
    for c in clients {
        c.join().unwrap();
    }
    let lines = served_lines(&log); // panics on a torn or partial line
    assert!(lines.len() >= 3);
    assert!(std::fs::read(&log).unwrap().ends_with(b"\n"));
    // A restarted server appends to the same log.
    let server = Server::start(&d, &model, &profile, &accounts, &[]);
    let (code, body) = curl(
        &server.addr,
        "/v1/chat/completions",
        Some(&keys[2]),
        Some(&chat_body(
            MODEL_ID,
            "Hi!",
            serde_json::json!({"max_tokens": 6}),
        )),
    );
    assert_eq!(code, 200);
    drop(server);
    assert_eq!(served_lines(&log).len(), lines.len() + 1);
    // scan reads the served log as its supervised filter: a harvest holding the answer just
    // served (so some of its pairs are in the log; a text sharing none is "nothing scored").
    let answer: Value = serde_json::from_str(&body).unwrap();
    let served_text = answer["choices"][0]["message"]["content"].as_str().unwrap();
    let harvest = d.join("harvest.jsonl");
    std::fs::write(
        &harvest,
        format!(
            "{}\n",
            serde_json::json!({"text": format!("{served_text} Cooking is fun when you taste as you go.")})
        ),
    )
    .unwrap();
    let report = d.join("report.json");
    let o = bin()
        .arg("scan")
        .arg(&harvest)
        .arg("--profile")
        .arg(&profile)
        .arg("--model")
        .arg(&model)
        .arg("--filter-from")
        .arg(&log)
        .arg("--out")
        .arg(&report)
        .output()
        .unwrap();
    assert!(
        o.status.code() == Some(0) || o.status.code() == Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let r: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let filter = &r["parameters"]["filter"];
    assert_eq!(
        filter["records"].as_u64(),
        Some(lines.len() as u64 + 1),
        "{filter}"
    );
    assert!(filter["contexts"].as_u64().unwrap() > 0);
    // A log under another key is refused, not silently used.
    let other = d.join("other.json");
    ok(&bin()
        .args(["keygen", "--out"])
        .arg(&other)
        .arg("--model")
        .arg(&model)
        .output()
        .unwrap());
    let o = bin()
        .arg("scan")
        .arg(&harvest)
        .arg("--profile")
        .arg(&other)
        .arg("--model")
        .arg(&model)
        .arg("--filter-from")
        .arg(&log)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("served log of key"));
}

fn scan(args: &[&std::ffi::OsStr], report: &Path) -> Value {
    let o = bin()
        .arg("scan")
        .args(args)
        .arg("--out")
        .arg(report)
        .output()
        .unwrap();
    assert!(
        matches!(o.status.code(), Some(0) | Some(1)),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_str(&std::fs::read_to_string(report).unwrap()).unwrap()
}

/// The seed's scenario: a "distiller" account harvests answers through the API; its harvest,
/// diluted with other text, is scanned: `--accounts` names the distiller with an adjusted p-value,
/// and `--filter-from` the served log strengthens the evidence.
#[test]
fn scan_names_the_distiller_account_and_the_served_log_strengthens_the_evidence() {
    let Some(model) = model() else { return };
    let d = tmp("distill");
    let (profile, accounts, keys) = setup(&d, &model, &["alice", "bob", "distiller"]);
    let server = Server::start(&d, &model, &profile, &accounts, &[]);
    let prompts = [
        "How do I make tea?",
        "Explain how rain forms.",
        "Give me three tips for better sleep.",
        "What is a prime number?",
        "Describe a walk in the forest.",
        "How does a bicycle stay upright?",
    ];
    let mut harvest = String::new();
    for (i, p) in prompts.iter().enumerate() {
        // Prompts 2 and 5 go to alice and bob; the rest are the distiller's harvest.
        let key = if i % 3 == 2 { &keys[i % 2] } else { &keys[2] };
        let (code, body) = curl(
            &server.addr,
            "/v1/chat/completions",
            Some(key),
            Some(&chat_body(
                MODEL_ID,
                p,
                serde_json::json!({"max_tokens": 100, "temperature": 1.0, "seed": i}),
            )),
        );
        assert_eq!(code, 200, "{body}");
        if key == &keys[2] {
            let v: Value = serde_json::from_str(&body).unwrap();
            let text = v["choices"][0]["message"]["content"].as_str().unwrap();
            harvest.push_str(&serde_json::json!({ "text": text }).to_string());
            harvest.push('\n');
        }
    }
    drop(server);
    // The rival's corpus also holds text that never came from us.
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    for para in readme.split("\n\n").filter(|p| p.len() > 200).take(30) {
        harvest.push_str(&serde_json::json!({ "text": para }).to_string());
        harvest.push('\n');
    }
    let corpus = d.join("harvest.jsonl");
    std::fs::write(&corpus, harvest).unwrap();
    let names = d.join("names.txt");
    std::fs::write(&names, "alice\nbob\ndistiller\n").unwrap();
    let base: Vec<&std::ffi::OsStr> = vec![
        corpus.as_os_str(),
        "--profile".as_ref(),
        profile.as_os_str(),
        "--model".as_ref(),
        model.as_os_str(),
        "--accounts".as_ref(),
        names.as_os_str(),
    ];
    let plain = scan(&base, &d.join("plain.json"));
    let log = d.join("served.jsonl");
    let mut filtered_args = base.clone();
    filtered_args.extend(["--filter-from".as_ref(), log.as_os_str()]);
    let filtered = scan(&filtered_args, &d.join("filtered.json"));
    // Unfiltered, the distiller ranks first (its strength varies with the random keys: log10 p
    // from -2.4 to -5.9 seen); with the served log as the filter the evidence must be strong.
    for r in [&plain, &filtered] {
        assert_eq!(
            r["accounts"][0]["account"], "distiller",
            "{}",
            r["accounts"]
        );
    }
    assert!(
        filtered["accounts"][0]["adjusted_p_value"]
            .as_f64()
            .unwrap()
            <= 1e-3,
        "{}",
        filtered["accounts"]
    );
    let lp = |r: &Value| r["accounts"][0]["log10_p"].as_f64().unwrap();
    assert!(
        lp(&filtered) < lp(&plain),
        "filtered {} vs unfiltered {}",
        lp(&filtered),
        lp(&plain)
    );
    eprintln!(
        "distiller: log10 p {:.2} unfiltered, {:.2} with --filter-from the served log",
        lp(&plain),
        lp(&filtered)
    );
}

/// A small run of the load tool: both modes served, nothing lost from either served log.
#[test]
fn bounded_load_test_loses_nothing_from_the_served_log() {
    let Some(model) = model() else { return };
    let o = Command::new("python3")
        .arg(root().join("tools/serve_load.py"))
        .arg("--bin")
        .arg(env!("CARGO_BIN_EXE_provmark"))
        .arg("--model")
        .arg(&model)
        .args([
            "--requests",
            "12",
            "--clients",
            "4",
            "--per-round",
            "6",
            "--max-tokens",
            "8",
            "--json",
        ])
        .output();
    let Ok(o) = o else {
        eprintln!("SKIPPED: the load test needs python3");
        return;
    };
    let out = ok(&o);
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    for m in ["watermark", "plain"] {
        assert_eq!(v[m]["ok"], 12, "{v}");
        assert_eq!(v[m]["log_complete"], true, "{v}");
        assert_eq!(v[m]["log_watermarked"], true, "{v}");
    }
    assert!(v["watermark_over_plain"].as_f64().unwrap() > 0.0);
}
