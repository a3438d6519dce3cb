//! Property: embed → detect round trip for random keys, context widths, vocabularies, schemes
//! and accounts. Text generated with the watermark (strong bias, flat logits) is detected under
//! the key that made it, and the same ids are not detected under an unrelated key.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use proptest::prelude::*;
use provmark_core::{Profile, Scheme, SecretKey, TokenizerSpec};
use provmark_detect::{score_ids, Options};
use provmark_embed::{Dist, Embedder, Scratch};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn watermarked_ids_are_detected_under_their_key_only(
        key in proptest::array::uniform32(any::<u8>()),
        other in proptest::array::uniform32(any::<u8>()),
        width in 1usize..5,
        vocab in 500usize..20_000,
        gumbel in proptest::bool::ANY,
        account in proptest::option::of("[a-z0-9:-]{1,12}"),
        seed in any::<u64>(),
    ) {
        prop_assume!(key != other);
        let scheme = if gumbel {
            Scheme::Gumbel
        } else {
            Scheme::Green { gamma: 0.25, delta: 6.0 }
        };
        let tok = TokenizerSpec::default_openai();
        let profile = Profile::from_secret(SecretKey::from_bytes(key), scheme, width, tok.clone()).unwrap();
        let unrelated = Profile::from_secret(SecretKey::from_bytes(other), scheme, width, tok).unwrap();
        let embedder = Embedder::from_profile(&profile, account.as_deref(), vocab).unwrap();
        let logits = vec![0.0f32; vocab];
        let mut seq = embedder.new_sequence(512);
        let mut scratch = Scratch::with_capacity(vocab);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut ids: Vec<u32> = (0..width as u32).collect();
        for _ in 0..300 {
            let ctx = &ids[ids.len() - width..];
            let c = embedder
                .choose(&mut seq, ctx, Dist::Logits(&logits), &mut scratch, &mut rng)
                .unwrap();
            prop_assert!((c.token as usize) < vocab);
            ids.push(c.token);
        }
        let opts = Options::for_profile(&profile);
        let wm = profile.try_watermark(account.as_deref()).unwrap();
        let ev = score_ids(&wm, &ids, &opts).unwrap();
        prop_assert!(ev.scored_tokens >= 200, "{} scored", ev.scored_tokens);
        prop_assert!(ev.log10_p < -20.0, "own key: log10 p {}", ev.log10_p);
        let wrong = score_ids(&unrelated.try_watermark(account.as_deref()).unwrap(), &ids, &opts).unwrap();
        // A wrong key sees clean text: p below 1e-9 has probability 1e-9 per case.
        prop_assert!(wrong.log10_p > -9.0, "unrelated key: log10 p {}", wrong.log10_p);
    }
}
