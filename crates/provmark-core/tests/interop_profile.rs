//! Profiles of imported (vLLM, SynthID-Text) watermarks: round trip, PRF/scheme binding,
//! rejection of inconsistent files, and secrecy of the imported key.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use provmark_core::prf::{
    Prf, SbwPrf, SbwVariant, VllmPhiloxPrf, SYNTHID_DEFAULT_KEYS, SYNTHID_PRF_ID,
    VLLM_DUAL_KEY_PRF_ID, VLLM_PHILOX_PRF_ID, VLLM_SBW_SELFHASH_PRF_ID,
};
use provmark_core::{ForeignKey, Profile, Scheme, SecretKey, TokenizerSpec};

const KEY: u64 = 0x1234_5678_9abc_def1; // 1311768467463790321

fn vllm_profile(prf: &str, scheme: Scheme, width: usize) -> Profile {
    Profile::from_foreign(
        SecretKey::from_bytes([5; 32]),
        ForeignKey::Vllm(KEY),
        prf,
        scheme,
        width,
        TokenizerSpec::default_openai(),
    )
    .unwrap()
}

fn round_trip(p: &Profile) -> Profile {
    Profile::from_json(&p.to_json(), Path::new("<memory>")).unwrap()
}

#[test]
fn vllm_gumbel_profile_round_trip_and_prf() {
    let p = vllm_profile(VLLM_PHILOX_PRF_ID, Scheme::Gumbel, 4);
    let json = p.to_json();
    assert!(json.contains("\"foreign\"") && json.contains("\"kind\": \"vllm\""));
    assert!(
        json.contains(&format!("\"key\": \"{KEY}\"")),
        "vLLM key stored as a decimal string"
    );
    let q = round_trip(&p);
    assert_eq!(q.prf, VLLM_PHILOX_PRF_ID);
    assert_eq!(q.foreign(), Some(&ForeignKey::Vllm(KEY)));
    assert!(!q.supports_accounts());
    let wm = q.watermark(None);
    let direct = VllmPhiloxPrf::new(KEY, 4);
    for ctx in [[1u32, 2, 3, 4], [u32::MAX, u32::MAX, 7, 9]] {
        let (s, d) = (wm.absorb(&ctx), direct.absorb(&ctx));
        for t in [0u32, 5, 1023, 200_000] {
            assert_eq!(wm.prf().word(&s, t), direct.word(&d, t));
            assert_eq!(
                wm.score(&s, t),
                -(-direct.uniform(direct.word(&d, t))).ln_1p()
            );
        }
    }
    // The key id comes from the provmark secret, not from the vLLM key.
    let other = Profile::from_foreign(
        SecretKey::from_bytes([6; 32]),
        ForeignKey::Vllm(KEY),
        VLLM_PHILOX_PRF_ID,
        Scheme::Gumbel,
        4,
        TokenizerSpec::default_openai(),
    )
    .unwrap();
    assert_ne!(other.key_id(), p.key_id());
    // No per-account keys.
    assert!(q.try_watermark(Some("acct-1")).is_err());
    assert!(q.try_watermark(None).is_ok());
}

#[test]
fn sbw_dual_and_synthid_profiles() {
    let sbw = vllm_profile(
        VLLM_SBW_SELFHASH_PRF_ID,
        Scheme::Green {
            gamma: 0.5,
            delta: 2.0,
        },
        4,
    );
    let wm = round_trip(&sbw).watermark(None);
    let direct = SbwPrf::new(KEY, SbwVariant::SelfHash, 4);
    let (s, d) = (
        wm.absorb(&[10, 11, 12, 13]),
        direct.absorb(&[10, 11, 12, 13]),
    );
    for t in 0..64 {
        assert_eq!(wm.is_green(&s, t), direct.uniform(direct.word(&d, t)) < 0.5);
    }
    let dual = vllm_profile(
        VLLM_DUAL_KEY_PRF_ID,
        Scheme::DualKeyGumbel { alpha: 0.1 },
        4,
    );
    let q = round_trip(&dual);
    assert_eq!(q.scheme, Scheme::DualKeyGumbel { alpha: 0.1 });
    let syn = Profile::from_foreign(
        SecretKey::from_bytes([7; 32]),
        ForeignKey::SynthId(SYNTHID_DEFAULT_KEYS.to_vec()),
        SYNTHID_PRF_ID,
        Scheme::Tournament { layers: 30 },
        4,
        TokenizerSpec::default_openai(),
    )
    .unwrap();
    let q = round_trip(&syn);
    assert_eq!(
        q.foreign(),
        Some(&ForeignKey::SynthId(SYNTHID_DEFAULT_KEYS.to_vec()))
    );
    let wm = q.watermark(None);
    // SYNTHID.md T2 "plain": 127 ones over its 8 windows × 30 layers.
    let toks = [
        464u32, 3835, 338, 649, 22321, 2450, 6653, 326, 262, 649, 3835, 468,
    ];
    let sum: f64 = toks
        .windows(5)
        .map(|w| wm.score(&wm.absorb(&w[..4]), w[4]))
        .sum();
    assert_eq!(sum, 127.0);
}

#[test]
fn inconsistent_combinations_are_rejected() {
    let t = TokenizerSpec::default_openai;
    let s = || SecretKey::from_bytes([1; 32]);
    let v = || ForeignKey::Vllm(1);
    assert!(
        Profile::from_foreign(s(), v(), VLLM_SBW_SELFHASH_PRF_ID, Scheme::Gumbel, 4, t()).is_err()
    );
    assert!(
        Profile::from_foreign(s(), v(), VLLM_PHILOX_PRF_ID, Scheme::DEFAULT_GREEN, 4, t()).is_err()
    );
    assert!(Profile::from_foreign(s(), v(), VLLM_PHILOX_PRF_ID, Scheme::Gumbel, 0, t()).is_err());
    assert!(Profile::from_foreign(s(), v(), VLLM_PHILOX_PRF_ID, Scheme::Gumbel, 17, t()).is_err());
    assert!(Profile::from_foreign(
        s(),
        v(),
        SYNTHID_PRF_ID,
        Scheme::Tournament { layers: 30 },
        4,
        t()
    )
    .is_err());
    assert!(Profile::from_foreign(s(), v(), "provmark-aes128-v1", Scheme::Gumbel, 4, t()).is_err());
    let keys = ForeignKey::SynthId(vec![1, 2, 3]);
    assert!(Profile::from_foreign(
        s(),
        keys.clone(),
        SYNTHID_PRF_ID,
        Scheme::Tournament { layers: 30 },
        4,
        t()
    )
    .is_err());
    assert!(Profile::from_foreign(
        s(),
        keys,
        SYNTHID_PRF_ID,
        Scheme::Tournament { layers: 3 },
        4,
        t()
    )
    .is_ok());

    // Files: a foreign PRF without its key, and a native PRF with one.
    let p = vllm_profile(VLLM_PHILOX_PRF_ID, Scheme::Gumbel, 4);
    let json = p.to_json().to_string();
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let mut no_key = v.clone();
    no_key.as_object_mut().unwrap().remove("foreign");
    let e = Profile::from_json(&no_key.to_string(), Path::new("p.json"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("needs an imported key"), "{e}");
    let mut native = v.clone();
    native["prf"] = "provmark-aes128-v1".into();
    assert!(Profile::from_json(&native.to_string(), Path::new("p.json")).is_err());
    // A malformed key is reported without quoting it.
    let mut bad = v;
    bad["foreign"]["key"] = "98765432109876543210123".into();
    let e = Profile::from_json(&bad.to_string(), Path::new("p.json"))
        .unwrap_err()
        .to_string();
    assert!(
        !e.contains("98765432109876543210123") && e.contains("foreign.key"),
        "{e}"
    );
}

#[test]
fn imported_keys_never_in_debug_output() {
    let p = vllm_profile(VLLM_PHILOX_PRF_ID, Scheme::Gumbel, 4);
    let dbg = format!("{p:?} {:?}", p.watermark(None));
    assert!(
        !dbg.contains(&KEY.to_string()) && !dbg.contains("123456789abcdef1"),
        "{dbg}"
    );
    let syn = ForeignKey::SynthId(vec![9_876_543_210, 1_234_567_890]);
    let dbg = format!("{syn:?}");
    assert!(
        !dbg.contains("9876543210") && !dbg.contains("1234567890"),
        "{dbg}"
    );
}
