//! SynthID-Text hash vectors: testdata/interop/synthid_reference_vectors.json (produced by
//! running the reference @ addb4a1 under torch) and synthid_note_vectors.json (extracted from
//! shared/notes/interop/SYNTHID.md: third-party and derived values).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use provmark_core::prf::{
    synthid_accumulate, synthid_g_value, synthid_hash_iv, AnyPrf, Prf, SynthIdPrf,
    SYNTHID_DEFAULT_KEYS,
};
use serde_json::Value;
use sha2::{Digest, Sha256};

fn load(name: &str) -> Value {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/interop")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(&p).expect("testdata/interop vectors")).unwrap()
}

fn i64s(v: &Value) -> Vec<i64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_i64().unwrap())
        .collect()
}

fn u32s(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

fn bits(word: u64, depth: usize) -> String {
    (0..depth)
        .map(|d| if (word >> d) & 1 == 1 { '1' } else { '0' })
        .collect()
}

/// g-values of one n-gram through the Prf trait.
fn gword(prf: &SynthIdPrf, ngram: &[u32]) -> u64 {
    let (ctx, v) = ngram.split_at(ngram.len() - 1);
    prf.word(&prf.absorb(ctx), v[0])
}

#[test]
fn reference_run_g_values_of_40_ngrams() {
    let v = load("synthid_reference_vectors.json");
    let g = &v["deepmind_gvalues"];
    let keys = i64s(&g["keys"]);
    assert_eq!(keys, SYNTHID_DEFAULT_KEYS.to_vec());
    let n = g["ngram_len"].as_u64().unwrap() as usize;
    let prf = SynthIdPrf::new(&keys, n - 1).unwrap();
    assert_eq!(prf.hash_iv(), g["hash_iv"].as_i64().unwrap());
    let ngrams = g["ngrams"].as_array().unwrap();
    assert_eq!(ngrams.len(), 40);
    for (i, ng) in ngrams.iter().enumerate() {
        let ng = u32s(ng);
        // Layer-0 key: acc(acc(IV, n-gram), keys[0]).
        let hv = synthid_accumulate(
            prf.hash_iv(),
            &ng.iter().map(|&t| i64::from(t)).collect::<Vec<_>>(),
        );
        assert_eq!(
            synthid_accumulate(hv, &[keys[0]]),
            g["ngram_keys_first_depth"][i].as_i64().unwrap(),
            "n-gram {i}"
        );
        let expect: String = g["g_values"][i]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| if b.as_u64().unwrap() == 1 { '1' } else { '0' })
            .collect();
        assert_eq!(bits(gword(&prf, &ng), 30), expect, "n-gram {i}");
    }
    // Through the runtime enum too.
    let any = AnyPrf::SynthId(prf.clone());
    let ng = u32s(&ngrams[0]);
    assert_eq!(any.word(&any.absorb(&ng[..4]), ng[4]), gword(&prf, &ng));
}

#[test]
fn note_ivs_and_accumulate_hash() {
    let v = load("synthid_note_vectors.json");
    let sets = &v["key_sets"];
    for iv in v["hash_iv"].as_array().unwrap() {
        let keys = i64s(&sets[iv["key_set"].as_str().unwrap()]);
        assert_eq!(synthid_hash_iv(&keys), iv["iv"].as_i64().unwrap());
    }
    let d = &v["derived"];
    for iv in d["hash_iv"].as_array().unwrap() {
        assert_eq!(
            synthid_hash_iv(&i64s(&iv["keys"])),
            iv["iv"].as_i64().unwrap()
        );
    }
    let bytes: Vec<u8> = SYNTHID_DEFAULT_KEYS
        .iter()
        .flat_map(|k| k.to_le_bytes())
        .collect();
    assert_eq!(bytes.len(), 240);
    assert_eq!(
        hex::encode(Sha256::digest(&bytes)),
        d["sha256_default_keys"].as_str().unwrap()
    );
    for a in v["accumulate_hash"]
        .as_array()
        .unwrap()
        .iter()
        .chain(d["accumulate_hash"].as_array().unwrap())
    {
        assert_eq!(
            synthid_accumulate(a["seed"].as_i64().unwrap(), &i64s(&a["data"])),
            a["hash"].as_i64().unwrap()
        );
    }
}

#[test]
fn note_hashes_layer_keys_and_g_values() {
    let v = load("synthid_note_vectors.json");
    let d = &v["derived"];
    let prf = SynthIdPrf::new(&SYNTHID_DEFAULT_KEYS, 4).unwrap();
    for c in d["context_hash"].as_array().unwrap() {
        assert_eq!(
            prf.absorb(&u32s(&c["context"])),
            c["hash"].as_i64().unwrap()
        );
    }
    let ch = &d["candidate_hash"][0];
    let hc = prf.absorb(&u32s(&ch["context"]));
    assert_eq!(
        synthid_accumulate(hc, &[ch["token"].as_i64().unwrap()]),
        ch["hash"].as_i64().unwrap()
    );
    for lk in d["layer_keys"].as_array().unwrap() {
        let ng: Vec<i64> = i64s(&lk["ngram"]);
        let hv = synthid_accumulate(prf.hash_iv(), &ng);
        for (dd, k) in i64s(&lk["keys"]).into_iter().enumerate() {
            assert_eq!(synthid_accumulate(hv, &[SYNTHID_DEFAULT_KEYS[dd]]), k);
        }
    }
    // The 12 intermediate rounds of get_gvals for layer 0 of [1,2,3,4,5].
    let mut x = synthid_accumulate(
        synthid_accumulate(prf.hash_iv(), &[1, 2, 3, 4, 5]),
        &[SYNTHID_DEFAULT_KEYS[0]],
    );
    let rounds = i64s(&d["g_rounds_layer0_ngram_1_5"]);
    for r in &rounds {
        x = synthid_accumulate(x, &[1]) >> 5;
        assert_eq!(x, *r);
    }
    assert_eq!(
        synthid_g_value(synthid_accumulate(
            synthid_accumulate(prf.hash_iv(), &[1, 2, 3, 4, 5]),
            &[654]
        )),
        ((rounds[11] >> 30) & 1) as u64
    );
    for g in d["g_values"].as_array().unwrap() {
        assert_eq!(
            bits(gword(&prf, &u32s(&g["ngram"])), 30),
            g["bits"].as_str().unwrap()
        );
    }
    for g in d["g_of_raw_key"].as_array().unwrap() {
        assert_eq!(
            synthid_g_value(g["x"].as_i64().unwrap()),
            g["g"].as_u64().unwrap()
        );
    }
    // Sequence "plain": one g-value row per window.
    for row in v["plain"]["g_values"].as_array().unwrap() {
        assert_eq!(
            bits(gword(&prf, &u32s(&row["ngram"])), 30),
            row["bits"].as_str().unwrap()
        );
    }
}

#[test]
fn key_list_bounds() {
    assert!(SynthIdPrf::new(&[], 4).is_err());
    assert!(SynthIdPrf::new(&[1; 65], 4).is_err());
    let keys: Vec<i64> = (0..64).map(|i| 1_000_003 + i).collect();
    let p = SynthIdPrf::new(&keys, 4).unwrap();
    // All 64 bits carry g-values: over a few tokens every bit position takes both values.
    let s = p.absorb(&[1, 2, 3, 4]);
    let (mut or, mut and) = (0u64, u64::MAX);
    for v in 0..64 {
        let w = p.word(&s, v);
        or |= w;
        and &= w;
    }
    assert_eq!((or, and), (u64::MAX, 0));
    // Debug never shows the keys.
    assert!(!format!("{p:?}").contains("1000003"));
}
