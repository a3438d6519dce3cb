//! Profile round trip, file mode, key ids and bad input.
#![allow(clippy::unwrap_used)]

use provmark_core::{CoreError, Profile, Scheme, SecretKey, TokenizerSpec};
use std::path::Path;

fn tmpdir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("provmark-core-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn sample() -> Profile {
    Profile::from_secret(
        SecretKey::from_bytes([0x11; 32]),
        Scheme::Green {
            gamma: 0.25,
            delta: 2.0,
        },
        2,
        TokenizerSpec::default_openai(),
    )
    .unwrap()
}

#[test]
fn round_trip_and_mode() {
    let d = tmpdir("rt");
    let p = d.join("k.json");
    let prof = Profile::generate(Scheme::Gumbel, 3, TokenizerSpec::default_openai()).unwrap();
    prof.save_new(&p).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let (back, warnings) = Profile::load(&p).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(back.key_id(), prof.key_id());
    assert_eq!(back.secret(), prof.secret());
    assert_eq!(back.scheme, Scheme::Gumbel);
    assert_eq!(back.context_width, 3);
    // Same keyed values after the round trip.
    let (a, b) = (prof.watermark(Some("x")), back.watermark(Some("x")));
    let (sa, sb) = (a.absorb(&[1, 2, 3]), b.absorb(&[1, 2, 3]));
    assert_eq!(a.uniform(&sa, 77), b.uniform(&sb, 77));
    // Refuses to overwrite.
    assert!(matches!(prof.save_new(&p), Err(CoreError::Exists(_))));
}

#[test]
fn readable_profile_warns() {
    let d = tmpdir("warn");
    let p = d.join("k.json");
    sample().save_new(&p).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        let (_, w) = Profile::load(&p).unwrap();
        assert_eq!(w.len(), 1);
        assert!(w[0].to_string().contains("chmod 600"));
    }
}

#[test]
fn key_id_reveals_nothing_obvious_and_is_stable() {
    let k = SecretKey::from_bytes([0x11; 32]);
    assert_eq!(k.key_id(), SecretKey::from_bytes([0x11; 32]).key_id());
    assert_eq!(k.key_id().0.len(), 16);
    assert!(!hex::encode(k.expose_bytes()).contains(&k.key_id().0));
    assert_eq!(format!("{k:?}"), "SecretKey(<redacted>)");
}

#[test]
fn account_keys_differ_and_are_stable() {
    let m = SecretKey::from_bytes([0x22; 32]);
    let ids: Vec<_> = (0..200)
        .map(|i| m.account_key(&format!("acct-{i}")).key_id())
        .collect();
    let uniq: std::collections::HashSet<_> = ids.iter().collect();
    assert_eq!(uniq.len(), ids.len());
    assert_eq!(m.account_key("acct-5"), m.account_key("acct-5"));
    assert_ne!(m.account_key("acct-5"), m);
}

fn err_of(text: &str) -> String {
    match Profile::from_json(text, Path::new("p.json")) {
        Ok(_) => panic!("accepted bad profile: {text}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn bad_profiles_are_clear_errors_without_secrets() {
    let good = sample().to_json();
    let secret_hex = hex::encode([0x11u8; 32]);
    // Truncated.
    let e = err_of(&good[..good.len() / 2]);
    assert!(e.contains("p.json") && e.contains("malformed"), "{e}");
    assert!(!e.contains(&secret_hex[..16]));
    // Not JSON.
    assert!(err_of("\u{0}\u{1}binary").contains("malformed"));
    assert!(err_of("").contains("malformed"));
    // Future version.
    let future = good.replace("\"version\": 1", "\"version\": 7");
    let e = err_of(&future);
    assert!(e.contains("version 7") && e.contains("upgrade"), "{e}");
    // Unknown scheme.
    let unk = good.replace("\"green\"", "\"tournament9\"");
    assert!(err_of(&unk).contains("malformed"));
    // Invalid gamma.
    let g = good.replace("\"gamma\": 0.25", "\"gamma\": 1.5");
    let e = err_of(&g);
    assert!(e.contains("gamma") && e.contains("p.json"), "{e}");
    // Altered secret → key id mismatch.
    let alt = good.replace(&secret_hex, &hex::encode([0x12u8; 32]));
    assert!(err_of(&alt).contains("key_id"));
    // Wrong secret length.
    let short = good.replace(&secret_hex, &secret_hex[..40]);
    assert!(err_of(&short).contains("32 bytes"));
    // Unknown field.
    let extra = good.replacen('{', "{\"surprise\": 1,", 1);
    assert!(err_of(&extra).contains("malformed"));
    // Context width too large.
    let wide = good.replace("\"context_width\": 2", "\"context_width\": 99");
    let e = err_of(&wide);
    assert!(e.contains("context_width") && e.contains("p.json"), "{e}");
    // Missing file.
    let e = Profile::load(Path::new("/nonexistent/provmark.json"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("/nonexistent/provmark.json"));
}

#[test]
fn report_mac_round_trip() {
    let k = SecretKey::from_bytes([0x33; 32]);
    let tag = k.mac("report-mac", b"hello");
    assert!(k.verify_mac("report-mac", b"hello", &tag));
    assert!(!k.verify_mac("report-mac", b"hellp", &tag));
    assert!(!SecretKey::from_bytes([0x34; 32]).verify_mac("report-mac", b"hello", &tag));
}
