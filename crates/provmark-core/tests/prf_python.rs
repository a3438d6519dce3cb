//! Differential test: the AES-128 PRF and key schedule against the spec's independent Python
//! implementation (`tools/spec_vectors.py`) on random masters, accounts, context widths,
//! contexts and tokens (the vector file covers fixed cases only). Skipped, with a message, where
//! `python3` with the `cryptography` package is not installed.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use std::io::Write;
use std::process::{Command, Stdio};

use provmark_core::prf::{Aes128Prf, Prf};
use provmark_core::SecretKey;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const PY: &str = r#"
import json, sys
sys.path.insert(0, sys.argv[1])
import spec_vectors as s
out = []
for c in json.load(sys.stdin):
    stream = bytes.fromhex(c["master"])
    if c["account"] is not None:
        stream = s.derive(stream, "account", c["account"].encode())
    k = s.derive(stream, "prf/aes128", b"")[:16]
    st = s.absorb(k, c["h"], c["context"])
    out.append({"key_id": s.key_id(stream), "state": st.hex(),
                "words": ["%016x" % s.word(k, st, t) for t in c["tokens"]]})
json.dump(out, sys.stdout)
"#;

fn random_account(rng: &mut ChaCha8Rng) -> Option<String> {
    const PARTS: &[&str] = &["acct", "-", "42", "ü", "账户", ":", " ", "x", "\u{1F600}"];
    rng.random_bool(0.6).then(|| {
        (0..rng.random_range(0..6))
            .map(|_| PARTS[rng.random_range(0..PARTS.len())])
            .collect()
    })
}

#[test]
fn prf_matches_the_python_spec_on_random_inputs() {
    let tools = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tools");
    let probe = Command::new("python3")
        .args(["-c", "import cryptography"])
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        eprintln!("skipped: python3 with the `cryptography` package is not available");
        return;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(0x5eed_5eed);
    let mut cases = Vec::new();
    for _ in 0..400 {
        let master: [u8; 32] = rng.random();
        let h = rng.random_range(0..=16usize);
        let context: Vec<u32> = (0..h)
            .map(|_| match rng.random_range(0..4) {
                0 => u32::MAX,
                1 => rng.random_range(0..300),
                _ => rng.random(),
            })
            .collect();
        let tokens: Vec<u32> = (0..rng.random_range(1..6)).map(|_| rng.random()).collect();
        cases.push(serde_json::json!({
            "master": hex::encode(master),
            "account": random_account(&mut rng),
            "h": h,
            "context": context,
            "tokens": tokens,
        }));
    }
    let mut child = Command::new("python3")
        .args(["-c", PY, tools])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(serde_json::to_string(&cases).unwrap().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "python failed");
    let want: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(want.as_array().unwrap().len(), cases.len());
    for (c, w) in cases.iter().zip(want.as_array().unwrap()) {
        let master: [u8; 32] = hex::decode(c["master"].as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap();
        let master = SecretKey::from_bytes(master);
        let stream = match c["account"].as_str() {
            Some(a) => master.account_key(a),
            None => master,
        };
        assert_eq!(stream.key_id().0, w["key_id"].as_str().unwrap(), "{c}");
        let h = c["h"].as_u64().unwrap() as usize;
        let ctx: Vec<u32> = c["context"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap() as u32)
            .collect();
        let prf = Aes128Prf::new(&stream, h);
        let state = prf.absorb(&ctx);
        assert_eq!(hex::encode(state), w["state"].as_str().unwrap(), "{c}");
        for (t, wt) in c["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .zip(w["words"].as_array().unwrap())
        {
            let t = t.as_u64().unwrap() as u32;
            assert_eq!(
                format!("{:016x}", prf.word(&state, t)),
                wt.as_str().unwrap(),
                "{c} token {t}"
            );
        }
    }
}
