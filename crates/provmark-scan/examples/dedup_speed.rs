//! Micro-benchmark of the dedup table alone: inserts `N` pseudo-random fingerprints (a fraction
//! repeated), finishes the table and merges it, printing the CPU seconds of each phase.
//!
//! ```text
//! cargo run --release -p provmark-scan --example dedup_speed -- [N] [TABLES]
//! ```
//!
//! With `TABLES` > 1 the records (140 pairs each) are dealt round-robin to that many tables,
//! as the scan's workers get batches, and the merge is the k-way merge.
#![allow(clippy::unwrap_used)]

use std::time::Instant;

use provmark_scan::dedup::{PairSources, PairTable, PARTITIONS};

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .map(|s| s.parse().unwrap())
        .unwrap_or(8_000_000);
    let k: u64 = std::env::args()
        .nth(2)
        .map(|s| s.parse().unwrap())
        .unwrap_or(1);
    let dir = tempfile::tempdir().unwrap();
    let mut best = [f64::MAX; 2];
    for _ in 0..3 {
        let mut tables: Vec<PairTable> = (0..k)
            .map(|i| PairTable::new((768 << 20) / k as usize, 0, dir.path(), &format!("b{i}")))
            .collect();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let t0 = Instant::now();
        for ord in 0..n {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // About 2/3 distinct values.
            let v = x % (n * 2 / 3);
            let fp = v.wrapping_mul(0x2545_f491_4f6c_dd1d) ^ (v >> 17);
            let rec = ord / 140;
            tables[((rec / 2048) % k) as usize]
                .insert(fp, rec, (fp & 1) as f64, &[])
                .unwrap();
        }
        let insert = t0.elapsed().as_secs_f64();
        let t1 = Instant::now();
        let mut src = PairSources {
            stride: 0,
            ..Default::default()
        };
        for t in tables {
            let (run, files) = t.finish();
            src.memory.push(run);
            src.files.extend(files);
        }
        let mut sum = 0.0;
        let mut count = 0u64;
        for p in 0..PARTITIONS {
            src.merge_partition(p, &mut |e, _| {
                sum += e.score;
                count += 1;
            })
            .unwrap();
        }
        let finish = t1.elapsed().as_secs_f64();
        best[0] = best[0].min(insert);
        best[1] = best[1].min(finish);
        eprintln!("distinct {count} green {sum}");
    }
    println!(
        "insert {:.3} s ({:.1} ns/pair), finish+merge {:.3} s",
        best[0],
        best[0] * 1e9 / n as f64,
        best[1]
    );
}
