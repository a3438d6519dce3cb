//! vLLM PRF vectors (testdata/interop/vllm_vectors.json, extracted from
//! shared/notes/interop/VLLM.md): Random123 known answers, vLLM's published PRF compatibility
//! vectors, the derived dual keys, and the note's derived regression values; plus the proof
//! that SBW greenness through `Watermark::is_green` is vLLM's integer threshold rule.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use hmac::{Hmac, Mac};
use provmark_core::prf::{
    derive_vllm_key, philox4x32_10, sbw_gamma_threshold, sbw_green_uniform, sbw_token_hash,
    vllm_dual_keys, vllm_uniform_f32, AnyPrf, Prf, SbwPrf, SbwVariant, VllmPhiloxPrf,
};
use provmark_core::{Scheme, Watermark};
use serde_json::Value;
use sha2::Sha256;

fn vectors() -> Value {
    let p =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/interop/vllm_vectors.json");
    serde_json::from_str(&std::fs::read_to_string(&p).expect("testdata/interop/vllm_vectors.json"))
        .unwrap()
}

fn u32s(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

/// vLLM context entries are int64 with −1 padding; the PRF reads their low 32 bits.
fn ctx(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_i64().unwrap() as u32)
        .collect()
}

fn word_matrix(prf: &VllmPhiloxPrf, contexts: &Value, tokens: &[u32]) -> Vec<Vec<u32>> {
    contexts
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let s = prf.absorb(&ctx(c));
            tokens.iter().map(|&t| prf.word(&s, t) as u32).collect()
        })
        .collect()
}

fn matrix(v: &Value) -> Vec<Vec<u32>> {
    v.as_array().unwrap().iter().map(u32s).collect()
}

#[test]
fn random123_known_answers() {
    let v = vectors();
    let kat = v["random123_philox4x32_10"].as_array().unwrap();
    assert_eq!(kat.len(), 3);
    for k in kat {
        let c: [u32; 4] = u32s(&k["counter"]).try_into().unwrap();
        let key: [u32; 2] = u32s(&k["key"]).try_into().unwrap();
        assert_eq!(philox4x32_10(c, key).to_vec(), u32s(&k["output"]));
    }
}

#[test]
fn vllm_published_prf_vectors_current_mapping() {
    let v = &vectors()["prf_current"];
    let prf = VllmPhiloxPrf::new(v["key"].as_u64().unwrap(), 4);
    let tokens = u32s(&v["tokens"]);
    let words = word_matrix(&prf, &v["contexts"], &tokens);
    assert_eq!(words, matrix(&v["words"]));
    // Mantissas m = word >> 8, and uniform = float32((m+1)/(2^24+1)).
    for (row, mrow) in words.iter().zip(matrix(&v["mantissas"])) {
        for (&w, m) in row.iter().zip(mrow) {
            assert_eq!(w >> 8, m);
            let expect = (f64::from(m + 1) / 16_777_217.0) as f32;
            assert_eq!(prf.uniform(u64::from(w)), f64::from(expect));
        }
    }
    // The same through the runtime enum.
    let any = AnyPrf::Vllm(prf.clone());
    let s = any.absorb(&[1, 2, 3, 4]);
    assert_eq!(any.word(&s, 7), 425429266);
    // words() (group-shared Philox calls) equals word() element by element.
    let s = prf.absorb(&[4, 5, 6, 7]);
    let toks: Vec<u32> = (0..37).chain([100, 3, 2, 101, 1023, 1024]).collect();
    let mut out = vec![0u64; toks.len()];
    prf.words(&s, &toks, &mut out);
    for (&t, &o) in toks.iter().zip(&out) {
        assert_eq!(o, prf.word(&s, t));
    }
}

#[test]
fn vllm_published_prf_properties() {
    // test_prf.py also asserts (without numbers) that outputs change with the key, the
    // context, the token and the stream.
    let base = VllmPhiloxPrf::new(42, 4);
    let w = |p: &VllmPhiloxPrf, c: &[u32], t: u32| p.word(&p.absorb(c), t);
    let w0 = w(&base, &[1, 2, 3, 4], 7);
    assert_ne!(w0, w(&VllmPhiloxPrf::new(43, 4), &[1, 2, 3, 4], 7));
    assert_ne!(w0, w(&base, &[2, 3, 4, 5], 7));
    assert_ne!(w0, w(&base, &[1, 2, 3, 4], 8));
    let s: Vec<u64> = (0..3)
        .map(|st| w(&VllmPhiloxPrf::with_stream(42, 4, st), &[1, 2, 3, 4], 7))
        .collect();
    assert_eq!(s[0], w0);
    assert!(s[0] != s[1] && s[1] != s[2] && s[0] != s[2]);
}

#[test]
fn dual_key_derivation() {
    let v = vectors();
    let rows = v["derived_keys"].as_array().unwrap();
    assert_eq!(rows.len(), 5);
    for r in rows {
        let k = r["key"].as_u64().unwrap();
        let (a, b) = vllm_dual_keys(k);
        assert_eq!(a, r["key_a"].as_u64().unwrap(), "key_a of {k}");
        assert_eq!(b, r["key_b"].as_u64().unwrap(), "key_b of {k}");
        assert_eq!(a, derive_vllm_key(k, b"key_a"));
    }
}

#[test]
fn derived_words_streams_and_states() {
    let d = &vectors()["derived"];
    let wk = &d["words_key42"];
    let prf = VllmPhiloxPrf::new(42, 3);
    assert_eq!(
        word_matrix(&prf, &wk["contexts"], &u32s(&wk["tokens"])),
        matrix(&wk["rows"])
    );
    for name in ["words_key42_stream1", "words_key42_stream2p32"] {
        let s = &d[name];
        let prf = VllmPhiloxPrf::with_stream(42, 3, s["stream"].as_u64().unwrap());
        assert_eq!(
            word_matrix(&prf, &s["contexts"], &u32s(&s["tokens"])),
            matrix(&s["rows"]),
            "{name}"
        );
    }
    for o in d["words_other"].as_array().unwrap() {
        let c = ctx(&o["context"]);
        let prf = VllmPhiloxPrf::new(o["key"].as_u64().unwrap(), c.len());
        let s = prf.absorb(&c);
        let got: Vec<u32> = u32s(&o["tokens"])
            .iter()
            .map(|&t| prf.word(&s, t) as u32)
            .collect();
        assert_eq!(got, u32s(&o["words"]));
    }
    for st in d["context_states"].as_array().unwrap() {
        let c = ctx(&st["context"]);
        let prf = VllmPhiloxPrf::new(st["key"].as_u64().unwrap(), c.len());
        assert_eq!(prf.absorb(&c).to_vec(), u32s(&st["state"]));
    }
}

/// Parses a C99 hex float such as `0x1.fffffep-25`.
fn hex_float(s: &str) -> f64 {
    let s = s.strip_prefix("0x").unwrap();
    let (mant, exp) = s.split_once('p').unwrap();
    let (int, frac) = mant.split_once('.').unwrap_or((mant, ""));
    let mut m = u64::from_str_radix(int, 16).unwrap() as f64;
    for (i, c) in frac.chars().enumerate() {
        m += f64::from(c.to_digit(16).unwrap()) * 16f64.powi(-(i as i32 + 1));
    }
    m * 2f64.powi(exp.parse().unwrap())
}

#[test]
fn uniform_bit_patterns() {
    let d = &vectors()["derived"];
    for u in d["uniform_bits"].as_array().unwrap() {
        let w = u["word"].as_u64().unwrap() as u32;
        let expect = hex_float(u["float32_hex"].as_str().unwrap());
        assert_eq!(f64::from(vllm_uniform_f32(w)), expect, "word {w}");
    }
    // Range endpoints stated in the spec.
    assert_eq!(vllm_uniform_f32(0).to_bits(), 0x337f_ffff);
    assert_eq!(vllm_uniform_f32(u32::MAX).to_bits(), 0x3f7f_ffff);
}

#[test]
fn sbw_hash_seed_and_green_bits() {
    let d = &vectors()["derived"];
    for h in d["sbw_hash"].as_array().unwrap() {
        let x = h["x"].as_i64().unwrap();
        assert_eq!(sbw_token_hash(x), h["h"].as_i64().unwrap(), "h({x})");
    }
    let s = &d["sbw_selfhash_seed"][0];
    let c = ctx(&s["context"]);
    let prf = SbwPrf::new(s["key"].as_u64().unwrap(), SbwVariant::SelfHash, c.len());
    assert_eq!(
        prf.seed(&prf.absorb(&c), s["token"].as_u64().unwrap() as u32),
        s["seed"].as_i64().unwrap()
    );
    for g in d["sbw_green_bits"].as_array().unwrap() {
        let c = ctx(&g["context"]);
        let gamma = g["gamma"].as_f64().unwrap();
        let prf = SbwPrf::new(g["key"].as_u64().unwrap(), SbwVariant::SelfHash, c.len());
        let wm = Watermark::new(
            AnyPrf::Sbw(prf),
            Scheme::Green { gamma, delta: 2.0 },
            c.len(),
        )
        .unwrap();
        let st = wm.absorb(&c);
        let bits: String = (0..16)
            .map(|v| if wm.is_green(&st, v) { '1' } else { '0' })
            .collect();
        assert_eq!(bits, g["bits"].as_str().unwrap());
    }
}

#[test]
fn sbw_lefthash_seeds() {
    // Detector seed K·Σh(ctx) versus generator seed K·Σctx (raw, −1 included), §11.3.
    let k = 42u64;
    let c = [u32::MAX, 5, 9];
    let det = SbwPrf::new(k, SbwVariant::LeftHash, 3);
    let raw = SbwPrf::new(k, SbwVariant::LeftHashRawSum, 3);
    let hsum: i64 = c.iter().map(|&x| sbw_token_hash(i64::from(x as i32))).sum();
    assert_eq!(det.seed(&det.absorb(&c), 0), 42 * hsum);
    assert_eq!(raw.seed(&raw.absorb(&c), 0), 42 * (-1 + 5 + 9));
}

/// vLLM's greenness: `(word & 0x7FFFFFFF) < trunc(γ·2147483647)`.
fn vllm_green(word: u64, gamma: f64) -> bool {
    (word & 0x7FFF_FFFF) < u64::from(sbw_gamma_threshold(gamma))
}

/// Proof obligation of `sbw_green_uniform`: for each x, with g = next_up(uniform(x)), the
/// least γ accepted, fl(g·M) ≥ x+1 and fl(uniform(x)·M) < x+1. Because γ ↦ fl(γ·M) is
/// monotone, this makes `uniform < γ` ⇔ `x < trunc(fl(γ·M))` for every f64 γ ∈ (0, 1).
fn check_boundary(x: u32) {
    const M: f64 = 2_147_483_647.0;
    let u = sbw_green_uniform(u64::from(x));
    assert!(u > 0.0 && u < 1.0, "x = {x}: uniform {u} outside (0, 1)");
    let g = f64::from_bits(u.to_bits() + 1);
    let target = f64::from(x) + 1.0;
    if x == 0x7FFF_FFFF {
        assert_eq!(g, 1.0);
    } else if g < 1.0 {
        assert!(
            g * M >= target,
            "x = {x}: least accepted γ {g} is not green"
        );
    }
    assert!(u * M < target, "x = {x}: γ = uniform {u} is green");
    // And directly against vLLM's rule around the boundary and at common γ.
    let high = u64::from(x) | 0x8000_0000; // the sign bit is ignored
    for gamma in [
        u,
        g,
        f64::from_bits(g.to_bits() + 1),
        0.5,
        0.25,
        0.1,
        0.9,
        1e-9,
        1.0 - 1e-16,
    ] {
        if gamma > 0.0 && gamma < 1.0 {
            assert_eq!(
                u < gamma,
                vllm_green(u64::from(x), gamma),
                "x = {x}, γ = {gamma:e}"
            );
            assert_eq!(
                sbw_green_uniform(high) < gamma,
                vllm_green(high, gamma),
                "x = {x}|sign, γ = {gamma:e}"
            );
        }
    }
}

#[test]
fn sbw_uniform_reproduces_vllm_threshold_exactly() {
    // Edge cases: both ends of the range, the thresholds of common γ and their neighbours.
    let mut xs: Vec<u32> = vec![
        0,
        1,
        2,
        3,
        4,
        0x7FFF_FFFC,
        0x7FFF_FFFD,
        0x7FFF_FFFE,
        0x7FFF_FFFF,
    ];
    for gamma in [0.5, 0.25, 0.1, 0.2, 0.3, 0.75, 0.9, 0.99, 1e-3, 1.0 / 3.0] {
        let t = sbw_gamma_threshold(gamma);
        xs.extend(t.saturating_sub(3)..=t.saturating_add(3).min(0x7FFF_FFFF));
    }
    // Powers of two and their neighbours (where fl(γ·M) changes binade).
    for e in 0..31 {
        let p = 1u32 << e;
        xs.extend([p.saturating_sub(1), p, p + 1]);
    }
    // A deterministic spread over the whole range (LCG).
    let mut s = 0x2545_F491_4F6C_DD1Du64;
    for _ in 0..200_000 {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        xs.push(((s >> 33) as u32) & 0x7FFF_FFFF);
    }
    for x in xs {
        check_boundary(x);
    }
    // γ at every threshold boundary: γ = t/M exactly and its neighbours, for a range of t.
    const M: f64 = 2_147_483_647.0;
    for t in (1u32..2_000).chain((0x7FFF_F000u32..0x7FFF_FFFF).step_by(7)) {
        let g = f64::from(t) / M;
        for gamma in [
            f64::from_bits(g.to_bits() - 1),
            g,
            f64::from_bits(g.to_bits() + 1),
        ] {
            if gamma >= 1.0 {
                continue;
            }
            for x in [
                t.saturating_sub(2),
                t.saturating_sub(1),
                t,
                t.saturating_add(1),
            ] {
                let x = x.min(0x7FFF_FFFF);
                assert_eq!(
                    sbw_green_uniform(u64::from(x)) < gamma,
                    vllm_green(u64::from(x), gamma),
                    "x={x} γ={gamma:e}"
                );
            }
        }
    }
}

/// Every x (2^31 values); minutes in debug, ~10 s in release:
/// `cargo test -p provmark-core --release --test interop_vllm -- --ignored`.
#[test]
#[ignore]
fn sbw_uniform_exhaustive() {
    for x in 0..=0x7FFF_FFFFu32 {
        let u = sbw_green_uniform(u64::from(x));
        let target = f64::from(x) + 1.0;
        assert!(u * 2_147_483_647.0 < target);
        let g = f64::from_bits(u.to_bits() + 1);
        assert!(g >= 1.0 || g * 2_147_483_647.0 >= target, "x = {x}");
    }
}

/// The earlier input mapping (same version string, §4.4): counter (t, S0, S1, S2), key
/// (key_lo ^ S3, key_hi ^ "WMTK"), output word 0. Not shipped; kept here to pin T2b.
fn earlier_mapping_word(key: u64, context: &[u32], token: u32) -> u32 {
    let s = VllmPhiloxPrf::new(key, context.len()).absorb(context);
    philox4x32_10(
        [token, s[0], s[1], s[2]],
        [key as u32 ^ s[3], (key >> 32) as u32 ^ 0x574D_544B],
    )[0]
}

/// The HMAC-SHA256 PRF of versions ≤ 3da8712 (§5). Not shipped; kept here to pin T2b.
fn hmac_word(key: u64, context: &[u32], token: u32) -> u32 {
    let mut k = [0u8; 32];
    k[..8].copy_from_slice(&key.to_le_bytes());
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&k).unwrap();
    mac.update(b"vllm-watermark-hmac-sha256-v1\0");
    mac.update(&(context.len() as u32).to_le_bytes());
    for &c in context {
        mac.update(&i64::from(c as i32).to_le_bytes());
    }
    mac.update(&i64::from(token).to_le_bytes());
    let d = mac.finalize().into_bytes();
    u32::from_le_bytes([d[0], d[1], d[2], d[3]])
}

#[test]
fn earlier_mapping_and_hmac_vectors() {
    let v = vectors();
    let e = &v["prf_earlier"];
    let h = &v["prf_hmac"];
    let tokens = u32s(&e["tokens"]);
    let key = e["key"].as_u64().unwrap();
    for (i, c) in e["contexts"].as_array().unwrap().iter().enumerate() {
        let c = ctx(c);
        for (j, &t) in tokens.iter().enumerate() {
            let w = earlier_mapping_word(key, &c, t);
            assert_eq!(u64::from(w), e["words_derived"][i][j].as_u64().unwrap());
            assert_eq!(u64::from(w >> 8), e["mantissas"][i][j].as_u64().unwrap());
            let hw = hmac_word(key, &c, t);
            assert_eq!(u64::from(hw >> 8), h["mantissas"][i][j].as_u64().unwrap());
        }
    }
    let wk = &h["worked"];
    assert_eq!(
        u64::from(hmac_word(42, &ctx(&wk["context"]), 7)),
        wk["word"].as_u64().unwrap()
    );
}
