//! The batched PRF paths equal the one-at-a-time ones.
#![allow(clippy::unwrap_used)]
use provmark_core::prf::{Aes128Prf, AnyPrf, Prf};
use provmark_core::SecretKey;

fn check<P: Prf>(prf: &P, width: usize)
where
    P::State: std::fmt::Debug,
{
    for rows in [0usize, 1, 7, 8, 9, 17, 33] {
        let ctx: Vec<u32> = (0..rows * width)
            .map(|i| (i as u32).wrapping_mul(2_654_435_761))
            .collect();
        let toks: Vec<u32> = (0..rows as u32).map(|i| i * 31 + 5).collect();
        let mut states = Vec::new();
        prf.absorb_many(&ctx, rows, &mut states);
        assert_eq!(states.len(), rows);
        let mut out = vec![0u64; rows];
        prf.pair_words(&states, &toks, &mut out);
        for r in 0..rows {
            let st = prf.absorb(&ctx[r * width..(r + 1) * width]);
            assert_eq!(
                out[r],
                prf.word(&st, toks[r]),
                "width {width} rows {rows} r {r}"
            );
        }
    }
}

#[test]
fn batched_paths_equal_single() {
    let key = SecretKey::from_bytes([3; 32]);
    for width in 0..=16 {
        check(&Aes128Prf::new(&key, width), width);
        check(&AnyPrf::Native(Aes128Prf::new(&key, width)), width);
    }
}
