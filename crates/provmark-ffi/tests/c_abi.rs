//! The C ABI through a real C compiler: the sampler example runs clean under AddressSanitizer
//! and UBSan, and C and Rust give the same tokens and the same biased logits, bit for bit, over
//! many random cases (the C program `examples/c/identity.c` against `provmark_embed` directly).
//!
//! Needs `make` and a C compiler (`cc`); the tests fail without them.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use provmark_core::{Profile, Scheme, SecretKey, TokenizerSpec};
use provmark_embed::{Dist, Embedder, Scratch};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn example_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/c")
}

/// The C programs are relinked by every `make` (the library is a phony prerequisite): tests
/// hold this lock while they build and run them, so no test runs a binary another relinks.
static MAKE: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn make_lock() -> std::sync::MutexGuard<'static, ()> {
    MAKE.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Where this test's build put the static library (target/release), and a private output
/// folder for the C programs.
fn make(target: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/release/deps/c_abi-… → target/release
    let libdir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target dir")
        .to_path_buf();
    let out = libdir.join("c-example-test");
    let lib = libdir.join("libprovmark_ffi.a");
    let mut cmd = Command::new("make");
    cmd.arg("-C").arg(example_dir()).arg(target);
    cmd.arg(format!("OUT={}", out.display()));
    if lib.exists() {
        // This test's own build produced the archive: no nested cargo build.
        cmd.arg("CARGO=true");
        cmd.arg(format!(
            "TARGET={}",
            libdir.parent().expect("target").display()
        ));
    }
    let o = cmd
        .output()
        .expect("make runs (install make and a C compiler)");
    assert!(
        o.status.success(),
        "make {target} failed:\n{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    out
}

#[test]
fn sampler_example_runs_clean_under_asan() {
    let _lock = make_lock();
    let out = make("identity"); // builds the library archive path check and the output folder
    let o = Command::new("make")
        .arg("-C")
        .arg(example_dir())
        .arg("run")
        .arg(format!("OUT={}", out.display()))
        .arg("CARGO=true")
        .arg(format!(
            "TARGET={}",
            out.parent()
                .and_then(Path::parent)
                .expect("target")
                .display()
        ))
        .output()
        .expect("make run");
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "make run failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        stdout.contains("OK: the watermarked run is detected"),
        "{stdout}"
    );
    assert!(stdout.contains("\"account\":\"account-42\""), "{stdout}");
}

struct Case {
    seed: u64,
    account: Option<String>,
    vocab: usize,
    steps: usize,
    context: Vec<u32>,
    logits: Vec<f32>,
}

fn random_cases(rng: &mut ChaCha8Rng, n: usize, width: usize) -> Vec<Case> {
    (0..n)
        .map(|i| {
            let vocab = rng.random_range(2..3000usize);
            let temp: f32 = rng.random_range(0.2..4.0);
            let logits = (0..vocab)
                .map(|_| {
                    // A few masked entries, otherwise spread logits.
                    if rng.random_ratio(1, 20) {
                        f32::NEG_INFINITY
                    } else {
                        rng.random_range(-10.0f32..10.0) / temp
                    }
                })
                .collect::<Vec<f32>>();
            let mut logits = logits;
            logits[rng.random_range(0..vocab)] = 1.0; // never all masked
            Case {
                seed: rng.random(),
                account: (i % 3 == 1).then(|| format!("acct-{}", rng.random::<u16>())),
                vocab,
                steps: rng.random_range(1..6),
                context: (0..width + rng.random_range(0..3))
                    .map(|_| rng.random_range(0..vocab as u32))
                    .collect(),
                logits,
            }
        })
        .collect()
}

/// What the Rust library gives for a case, in identity.c's output format.
fn rust_line(profile: &Profile, c: &Case) -> String {
    let emb = Embedder::from_profile(profile, c.account.as_deref(), c.vocab).expect("embedder");
    let mut seq = emb.new_sequence(1024);
    let mut scratch = Scratch::with_capacity(c.vocab);
    let mut rng = ChaCha8Rng::seed_from_u64(c.seed);
    let mut ctx = c.context.clone();
    let mut line = String::new();
    for _ in 0..c.steps {
        let ch = emb
            .choose(
                &mut seq,
                &ctx,
                Dist::Logits(&c.logits),
                &mut scratch,
                &mut rng,
            )
            .expect("choose");
        ctx.push(ch.token);
        line.push_str(&format!("{} {} ", ch.token, u8::from(ch.watermarked)));
    }
    line.push('|');
    let mut seq = emb.new_sequence(1024);
    let mut biased = c.logits.clone();
    match emb.bias_logits(&mut seq, &c.context, &mut biased) {
        Err(_) => line.push_str(" n/a"),
        Ok(false) => line.push_str(" -"),
        Ok(true) => {
            for b in &biased {
                line.push_str(&format!(" {:x}", b.to_bits()));
            }
        }
    }
    line
}

fn identity_over(profile: &Profile, path: &Path, bin: &Path, seed: u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let cases = random_cases(&mut rng, 200, profile.context_width);
    let mut input = format!("{}\n", path.display());
    for c in &cases {
        input.push_str(&format!(
            "{} {} {} {} {}",
            c.seed,
            c.account.as_deref().unwrap_or("-"),
            c.vocab,
            c.steps,
            c.context.len()
        ));
        for id in &c.context {
            input.push_str(&format!(" {id}"));
        }
        for l in &c.logits {
            input.push_str(&format!(" {:x}", l.to_bits()));
        }
        input.push('\n');
    }
    let mut child = Command::new(bin)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run identity");
    // Feed the cases from another thread: the program answers while it reads, so writing all
    // input before reading any output would fill both pipes.
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let o = child.wait_with_output().expect("identity output");
    writer.join().expect("writer thread").expect("write cases");
    assert!(
        o.status.success(),
        "identity failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let stdout = String::from_utf8(o.stdout).expect("UTF-8");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), cases.len());
    let mut biased_cases = 0;
    for (i, (c, got)) in cases.iter().zip(lines).enumerate() {
        let want = rust_line(profile, c);
        assert_eq!(got.trim_end(), want.trim_end(), "case {i} differs");
        biased_cases += usize::from(!want.ends_with("n/a") && !want.ends_with('-'));
    }
    if matches!(profile.scheme, Scheme::Green { .. }) {
        assert_eq!(
            biased_cases,
            cases.len(),
            "every green case biases its logits"
        );
    }
}

#[test]
fn c_and_rust_choose_the_same_tokens_and_biased_logits() {
    let _lock = make_lock();
    let bin = make("identity").join("identity");
    let dir = std::env::temp_dir().join(format!("provmark-ffi-identity-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    for (name, scheme) in [("green", Scheme::DEFAULT_GREEN), ("gumbel", Scheme::Gumbel)] {
        let profile = Profile::from_secret(
            SecretKey::from_bytes([0x5a; 32]),
            scheme,
            2,
            TokenizerSpec::default_openai(),
        )
        .expect("profile");
        let path = dir.join(format!("{name}.json"));
        let _ = std::fs::remove_file(&path);
        profile.save_new(&path).expect("save profile");
        identity_over(&profile, &path, &bin, 0xC0FFEE);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
