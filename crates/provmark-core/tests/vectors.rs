//! Known-answer vectors for spec v1, produced by an independent Python implementation written
#![allow(clippy::unwrap_used)]
//! from SPEC.md (`tools/spec_vectors.py`). Any difference is a spec violation.

use provmark_core::prf::{Aes128Prf, Prf};
use provmark_core::{Scheme, SecretKey, Watermark};
use serde_json::Value;

fn vectors() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/vectors/native_v1.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("vector file")).expect("vector JSON")
}

fn key(hex_str: &str) -> SecretKey {
    SecretKey::from_bytes(hex::decode(hex_str).unwrap().try_into().unwrap())
}

#[test]
fn key_schedule_matches_vectors() {
    let v = vectors();
    assert_eq!(v["spec_version"], provmark_core::SPEC_VERSION);
    let keys = v["keys"].as_array().unwrap();
    assert!(keys.len() >= 3);
    for k in keys {
        let m = key(k["master"].as_str().unwrap());
        assert_eq!(m.key_id().0, k["key_id"].as_str().unwrap());
        assert_eq!(
            hex::encode(m.derive("dedup", b"").expose_bytes()),
            k["dedup_key"].as_str().unwrap()
        );
        assert_eq!(
            hex::encode(m.derive("report-mac", b"").expose_bytes()),
            k["report_mac_key"].as_str().unwrap()
        );
        assert_eq!(
            hex::encode(&m.derive("prf/aes128", b"").expose_bytes()[..16]),
            k["prf_key"].as_str().unwrap()
        );
        for a in k["accounts"].as_array().unwrap() {
            let sub = m.account_key(a["account"].as_str().unwrap());
            assert_eq!(
                hex::encode(sub.expose_bytes()),
                a["stream_key"].as_str().unwrap()
            );
            assert_eq!(sub.key_id().0, a["stream_key_id"].as_str().unwrap());
        }
    }
}

#[test]
fn prf_matches_vectors() {
    let v = vectors();
    let masters: Vec<SecretKey> = v["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| key(k["master"].as_str().unwrap()))
        .collect();
    let cases = v["prf_cases"].as_array().unwrap();
    assert!(cases.len() >= 9);
    let mut checked = 0;
    for c in cases {
        let master = &masters[c["master_index"].as_u64().unwrap() as usize];
        let stream = match c["account"].as_str() {
            Some(a) => master.account_key(a),
            None => master.clone(),
        };
        let h = c["context_width"].as_u64().unwrap() as usize;
        let ctx: Vec<u32> = c["context"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap() as u32)
            .collect();
        let prf = Aes128Prf::new(&stream, h);
        let state = prf.absorb(&ctx);
        assert_eq!(
            hex::encode(state),
            c["state"].as_str().unwrap(),
            "state, h={h}"
        );
        let green = Watermark::new(prf.clone(), Scheme::DEFAULT_GREEN, h).unwrap();
        let gumbel = Watermark::new(prf.clone(), Scheme::Gumbel, h).unwrap();
        let rows = c["tokens"].as_array().unwrap();
        let toks: Vec<u32> = rows
            .iter()
            .map(|r| r["token"].as_u64().unwrap() as u32)
            .collect();
        let mut batch = vec![0u64; toks.len()];
        prf.words(&state, &toks, &mut batch);
        for (r, (&t, &bw)) in rows.iter().zip(toks.iter().zip(&batch)) {
            let w = prf.word(&state, t);
            assert_eq!(
                format!("{w:016x}"),
                r["word"].as_str().unwrap(),
                "word h={h} token={t}"
            );
            assert_eq!(bw, w, "batched word equals single word");
            assert_eq!(green.uniform(&state, t), r["uniform"].as_f64().unwrap());
            assert_eq!(
                green.is_green(&state, t),
                r["green_0.25"].as_bool().unwrap()
            );
            let s = gumbel.score(&state, t);
            let want = r["gumbel_score"].as_f64().unwrap();
            assert!(
                (s - want).abs() <= 1e-15 * want.max(1.0),
                "gumbel score {s} vs {want}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 25);
}

#[test]
fn full_vocabulary_and_candidate_passes_agree() {
    let prf = Aes128Prf::new(&SecretKey::from_bytes([9; 32]), 2);
    let st = prf.absorb(&[3, 4]);
    let vocab: Vec<u32> = (0..5000).collect();
    let mut full = vec![0u64; vocab.len()];
    prf.words(&st, &vocab, &mut full);
    let cands = [4999u32, 0, 17, 2500, 3];
    let mut part = [0u64; 5];
    prf.words(&st, &cands, &mut part);
    for (c, w) in cands.iter().zip(part) {
        assert_eq!(full[*c as usize], w);
    }
}
