//! The global dedup set: bounded memory, spilled in sorted hash partitions, merged exactly.
//!
//! Every distinct (context, token) pair's score is a deterministic function of the pair, so the
//! pooled statistic is a function of the *set* of distinct pairs. A worker appends every pair
//! it scores (already deduplicated within its record) to a [`PairTable`] — 256 append buckets
//! picked by the top fingerprint bits, no hash index: appending is sequential and cheap, while a
//! hash set over hundreds of millions of pairs pays a cache and TLB miss per insert. When the
//! table reaches its share of the memory budget it is *compacted*: each bucket is sorted by
//! fingerprint (in-place radix sort, in cache) and deduplicated (keeping the smallest record
//! ordinal). If compaction freed at least half of it, appending continues; otherwise the
//! sorted pairs are written to a *run* file and the table is emptied.
//!
//! | per pair held | bytes |
//! |---|---|
//! | fingerprint (8) + master score (8) + first record ordinal (4) + ids index (4) | 24 |
//! | ids for account tests (`4·(h+1)`, only with `--accounts`) | 12 at h = 2 |
//!
//! On disk a pair takes 24 bytes (+ `4·(h+1)` with accounts). Runs are laid out as
//! [`PARTITIONS`] contiguous segments by the top fingerprint bits. At the end each partition
//! is merged on its own (a k-way merge of that partition's segments of every run and every
//! in-memory array): equal fingerprints collapse to one pair with the smallest record ordinal.
//! Partitions are independent, so they merge in parallel and can be split across processes or
//! machines (see [`crate::distributed`]).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::error::{Result, ScanError};

/// Number of hash partitions (top [`PARTITION_BITS`] bits of the fingerprint).
pub const PARTITIONS: usize = 1 << PARTITION_BITS;
/// Bits of the fingerprint that select its partition.
pub const PARTITION_BITS: u32 = 6;

/// The partition of a fingerprint.
#[inline]
pub fn partition_of(fp: u64) -> usize {
    (fp >> (64 - PARTITION_BITS)) as usize
}

/// One distinct pair as kept by the dedup set.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PairEntry {
    /// Keyed fingerprint of (context, token).
    pub fp: u64,
    /// Input-order index of the first record that contains the pair.
    pub ord: u64,
    /// The pair's score under the master key (0/1 green, −ln(1 − u) Gumbel).
    pub score: f64,
}

/// Entries of the recent-fingerprint cache (32 KiB, eight pages: its one random access per pair
/// stays in L1/L2 and the TLB; at 512 KiB that access was the hottest instruction of the record
/// loop under `perf annotate`, and the 32 KiB cache scanned no slower).
const RECENT: usize = 1 << 12;
/// Bytes of one pair in a run file (without ids).
const ENTRY_BYTES: usize = 24;
/// Bytes of one pair in memory (without ids).
const MEM_ENTRY_BYTES: usize = std::mem::size_of::<Slot>();
const RUN_MAGIC: &[u8; 8] = b"PMRUN\x01\0\0";

/// A pair in memory (24 bytes: the ordinal as u32), with the index of its ids in the
/// append-order ids array.
#[derive(Clone, Copy, Debug)]
struct Slot {
    fp: u64,
    score: f64,
    ord: u32,
    ids_at: u32,
}

impl Slot {
    #[inline]
    fn entry(&self) -> PairEntry {
        PairEntry {
            fp: self.fp,
            ord: u64::from(self.ord),
            score: self.score,
        }
    }
}

/// Bits of the fingerprint that pick a pair's append bucket (the top bits).
const BUCKET_BITS: u32 = 8;
/// Append buckets of a [`PairTable`].
const BUCKETS: usize = 1 << BUCKET_BITS;

/// A worker's distinct pairs: append buckets bounded by a memory budget, compacted by sorting,
/// spilling sorted runs to disk.
///
/// A pair is appended to the bucket of its top [`BUCKET_BITS`] fingerprint bits, so appending
/// already does the first level of the sort; compaction then sorts each bucket on its own,
/// which fits in the CPU caches (an in-place radix sort over the whole buffer paid a cache miss
/// per move at its first level: 45 ns per pair under `perf`, against ≈ 15 ns now).
#[derive(Debug)]
pub struct PairTable {
    /// Direct-mapped cache of recently appended fingerprints: a repeat found here is already
    /// held (in the buffer or in a run, with a smaller ordinal) and is not appended again.
    recent: Vec<u64>,
    buckets: Vec<Vec<Slot>>,
    /// Pairs held in `buckets`.
    len: usize,
    ids: Vec<u32>,
    stride: usize,
    max_entries: usize,
    /// Whether every bucket is sorted and deduplicated.
    sorted: bool,
    spill_dir: PathBuf,
    runs: Vec<PathBuf>,
    run_prefix: String,
}

impl PairTable {
    /// A table holding at most `budget_bytes` of pairs, keeping `stride` ids per pair (0 or
    /// h + 1), spilling into `spill_dir` as `{run_prefix}-{n}.run`.
    pub fn new(budget_bytes: usize, stride: usize, spill_dir: &Path, run_prefix: &str) -> Self {
        let per_entry = MEM_ENTRY_BYTES + 4 * stride;
        // With ids the index into them is a u32.
        let cap = if stride > 0 {
            u32::MAX as usize
        } else {
            usize::MAX
        };
        PairTable {
            recent: vec![0; RECENT],
            buckets: (0..BUCKETS).map(|_| Vec::new()).collect(),
            len: 0,
            ids: Vec::new(),
            stride,
            max_entries: (budget_bytes / per_entry).clamp(1024, cap),
            sorted: true,
            spill_dir: spill_dir.to_path_buf(),
            runs: Vec::new(),
            run_prefix: run_prefix.to_string(),
        }
    }

    /// Most pairs held in memory before a compaction.
    pub fn capacity_entries(&self) -> usize {
        self.max_entries
    }

    /// Pairs currently in memory (duplicates not yet compacted included).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is held in memory.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Run files written so far.
    pub fn runs(&self) -> &[PathBuf] {
        &self.runs
    }

    /// Adds a pair first seen in record `ord`; `ids` (context then token) are kept when the
    /// table was made with a non-zero stride.
    #[inline]
    pub fn insert(&mut self, fp: u64, ord: u64, score: f64, ids: &[u32]) -> Result<()> {
        let ord = u32::try_from(ord).map_err(|_| ScanError::Config {
            name: "inputs",
            reason: format!(
                "more than {} records in one scan; split the corpus into shards and merge them",
                u32::MAX
            ),
        })?;
        // `| 1` keeps the empty value 0 from matching; the comparison then covers 63 bits, so
        // like a fingerprint collision a false match can only drop a pair, never add one.
        let tag = fp | 1;
        let r = &mut self.recent[(fp >> 7) as usize & (RECENT - 1)];
        if *r == tag {
            return Ok(());
        }
        *r = tag;
        if self.len >= self.max_entries {
            self.compact()?;
        }
        let ids_at = match self.ids.len().checked_div(self.stride) {
            Some(at) => {
                self.ids.extend_from_slice(&ids[..self.stride]);
                at as u32
            }
            None => 0,
        };
        let bucket = &mut self.buckets[(fp >> (64 - BUCKET_BITS)) as usize];
        if bucket.capacity() == 0 {
            // Each bucket's share of the budget at once, with room for the random excess (a
            // bucket's count has a standard deviation of √(n/256)). Reserved pages are not
            // resident until written; growing by doubling instead left the heap fragmented
            // (resident memory well over the budget).
            let share = self.max_entries / BUCKETS;
            bucket.reserve_exact(share + share / 8 + 64);
        }
        bucket.push(Slot {
            fp,
            score,
            ord,
            ids_at,
        });
        self.len += 1;
        self.sorted = false;
        Ok(())
    }

    /// Sorts and deduplicates the buffer; spills it when that freed less than half.
    fn compact(&mut self) -> Result<()> {
        self.sort_dedup();
        if self.len * 2 > self.max_entries {
            self.spill()?;
        }
        Ok(())
    }

    /// Sorts each bucket by (fingerprint, ordinal) and keeps the first of each fingerprint. The
    /// ids array is rewritten in the new order so that it stays compact.
    fn sort_dedup(&mut self) {
        if self.sorted {
            return;
        }
        let mut tmp = Vec::new();
        for bucket in &mut self.buckets {
            radix_sort(bucket, BUCKET_BITS, &mut tmp);
            // Keep one slot per fingerprint: the one with the smallest ordinal.
            let mut w = 0;
            for r in 0..bucket.len() {
                if w > 0 && bucket[w - 1].fp == bucket[r].fp {
                    if bucket[r].ord < bucket[w - 1].ord {
                        bucket[w - 1] = bucket[r];
                    }
                } else {
                    bucket[w] = bucket[r];
                    w += 1;
                }
            }
            bucket.truncate(w);
        }
        self.len = self.buckets.iter().map(Vec::len).sum();
        if self.stride > 0 {
            let mut ids = Vec::with_capacity(self.len * self.stride);
            for (i, s) in self.buckets.iter_mut().flatten().enumerate() {
                let at = s.ids_at as usize * self.stride;
                ids.extend_from_slice(&self.ids[at..at + self.stride]);
                s.ids_at = i as u32;
            }
            self.ids = ids;
        }
        self.sorted = true;
    }

    /// Sorted, deduplicated view of the in-memory pairs, consuming them.
    fn take_sorted(&mut self) -> SortedRun {
        self.sort_dedup();
        // No copy: the sorted buckets become the run (a copy would briefly double the memory).
        let buckets = std::mem::replace(
            &mut self.buckets,
            (0..BUCKETS).map(|_| Vec::new()).collect(),
        );
        let ids = std::mem::take(&mut self.ids);
        self.len = 0;
        self.sorted = true;
        SortedRun {
            buckets,
            ids,
            stride: self.stride,
        }
    }

    /// Writes the in-memory pairs as a sorted, partitioned run file and empties the table.
    pub fn spill(&mut self) -> Result<()> {
        if self.is_empty() {
            return Ok(());
        }
        let run = self.take_sorted();
        let path = self
            .spill_dir
            .join(format!("{}-{}.run", self.run_prefix, self.runs.len()));
        write_run(&path, &run)?;
        self.runs.push(path);
        Ok(())
    }

    /// Finishes the table: the in-memory part as a sorted run plus the spilled run files.
    pub fn finish(mut self) -> (SortedRun, Vec<PathBuf>) {
        let run = self.take_sorted();
        (run, self.runs)
    }
}

/// Sorts slots whose fingerprints agree on their top `top` bits, by fingerprint: one MSD radix
/// pass on the next ≈ log2(n/4) bits, scattering into `tmp` (independent stores, where an
/// in-place cycle-leader permutation is one long chain of dependent loads), which leaves
/// sub-buckets of a few slots, then a comparison sort of each. A bucket of a [`PairTable`]
/// fits in the CPU cache, so one pass with a wide digit beats several byte-wide levels.
fn radix_sort(v: &mut [Slot], top: u32, tmp: &mut Vec<Slot>) {
    let n = v.len();
    if n <= 256 || top >= 48 {
        v.sort_unstable_by_key(|s| s.fp);
        return;
    }
    let bits = (usize::BITS - (n / 4).leading_zeros()).clamp(8, 16);
    let shift = 64 - top - bits;
    let mask = (1u64 << bits) - 1;
    let digit = |s: &Slot| ((s.fp >> shift) & mask) as usize;
    let mut starts = vec![0usize; (1 << bits) + 1];
    for s in v.iter() {
        starts[digit(s) + 1] += 1;
    }
    for d in 1..starts.len() {
        starts[d] += starts[d - 1];
    }
    let mut heads = starts.clone();
    tmp.clear();
    tmp.resize(n, v[0]);
    for s in v.iter() {
        let d = digit(s);
        tmp[heads[d]] = *s;
        heads[d] += 1;
    }
    v.copy_from_slice(tmp);
    for w in starts.windows(2) {
        v[w[0]..w[1]].sort_unstable_by_key(|s| s.fp);
    }
}

/// Entries sorted by fingerprint (bucket after bucket), with their ids (stride per entry, in
/// the same order).
#[derive(Debug, Default)]
pub struct SortedRun {
    /// Sorted buckets by the top [`BUCKET_BITS`] fingerprint bits, in order.
    buckets: Vec<Vec<Slot>>,
    ids: Vec<u32>,
    stride: usize,
}

/// Buckets per partition (partitions use fewer top bits than buckets).
const BUCKETS_PER_PARTITION: usize = BUCKETS / PARTITIONS;

impl SortedRun {
    /// The buckets of partition `p` (empty when the run has none).
    fn partition_buckets(&self, p: usize) -> &[Vec<Slot>] {
        let lo = (p * BUCKETS_PER_PARTITION).min(self.buckets.len());
        let hi = ((p + 1) * BUCKETS_PER_PARTITION).min(self.buckets.len());
        &self.buckets[lo..hi]
    }

    /// Every slot in fingerprint order.
    fn slots(&self) -> impl Iterator<Item = &Slot> {
        self.buckets.iter().flatten()
    }
}

fn write_run(path: &Path, run: &SortedRun) -> Result<()> {
    let io = |e| ScanError::io(path, e);
    let mut counts = [0u64; PARTITIONS];
    for e in run.slots().map(Slot::entry) {
        counts[partition_of(e.fp)] += 1;
    }
    let mut w = BufWriter::with_capacity(1 << 20, File::create(path).map_err(io)?);
    w.write_all(RUN_MAGIC).map_err(io)?;
    w.write_all(&(run.stride as u64).to_le_bytes())
        .map_err(io)?;
    for c in counts {
        w.write_all(&c.to_le_bytes()).map_err(io)?;
    }
    for (i, e) in run.slots().map(Slot::entry).enumerate() {
        w.write_all(&e.fp.to_le_bytes()).map_err(io)?;
        w.write_all(&e.ord.to_le_bytes()).map_err(io)?;
        w.write_all(&e.score.to_bits().to_le_bytes()).map_err(io)?;
        for id in &run.ids[i * run.stride..(i + 1) * run.stride] {
            w.write_all(&id.to_le_bytes()).map_err(io)?;
        }
    }
    w.flush().map_err(io)?;
    Ok(())
}

/// A cursor over one partition of one sorted source.
enum Cursor<'a> {
    Memory {
        run: &'a SortedRun,
        /// The partition's buckets, the current one and the next slot in it.
        buckets: &'a [Vec<Slot>],
        bucket: usize,
        pos: usize,
        /// The slot `next` returned last.
        last: Option<&'a Slot>,
    },
    File {
        path: PathBuf,
        reader: BufReader<File>,
        left: u64,
        stride: usize,
        ids: Vec<u32>,
    },
}

impl Cursor<'_> {
    fn open_file(path: &Path, p: usize, expect_stride: usize) -> Result<Cursor<'static>> {
        let io = |e| ScanError::io(path, e);
        let mut f = File::open(path).map_err(io)?;
        let mut head = [0u8; 16 + 8 * PARTITIONS];
        f.read_exact(&mut head).map_err(io)?;
        if &head[..8] != RUN_MAGIC {
            return Err(ScanError::Input {
                path: path.to_path_buf(),
                reason: "not a provmark run file".into(),
            });
        }
        let word = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&head[i..i + 8]);
            u64::from_le_bytes(b)
        };
        let stride = word(8) as usize;
        if stride != expect_stride {
            return Err(ScanError::Input {
                path: path.to_path_buf(),
                reason: format!(
                    "run file keeps {stride} ids per pair, this scan needs {expect_stride}"
                ),
            });
        }
        let counts: Vec<u64> = (0..PARTITIONS).map(|i| word(16 + 8 * i)).collect();
        let rec = (ENTRY_BYTES + 4 * stride) as u64;
        let before: u64 = counts[..p].iter().sum();
        f.seek(SeekFrom::Start(head.len() as u64 + before * rec))
            .map_err(io)?;
        Ok(Cursor::File {
            path: path.to_path_buf(),
            reader: BufReader::with_capacity(1 << 16, f),
            left: counts[p],
            stride,
            ids: vec![0; stride],
        })
    }

    /// The next entry (ids readable through [`Cursor::ids`] until the next call).
    fn next(&mut self) -> Result<Option<PairEntry>> {
        match self {
            Cursor::Memory {
                buckets,
                bucket,
                pos,
                last,
                ..
            } => {
                while *bucket < buckets.len() && *pos >= buckets[*bucket].len() {
                    *bucket += 1;
                    *pos = 0;
                }
                let Some(b) = buckets.get(*bucket) else {
                    return Ok(None);
                };
                let slot = &b[*pos];
                *pos += 1;
                *last = Some(slot);
                Ok(Some(slot.entry()))
            }
            Cursor::File {
                path,
                reader,
                left,
                stride,
                ids,
            } => {
                if *left == 0 {
                    return Ok(None);
                }
                *left -= 1;
                let io = |e| ScanError::io(path.as_path(), e);
                let mut b = [0u8; ENTRY_BYTES];
                reader.read_exact(&mut b).map_err(io)?;
                let w = |i: usize| {
                    let mut x = [0u8; 8];
                    x.copy_from_slice(&b[i..i + 8]);
                    u64::from_le_bytes(x)
                };
                for id in ids.iter_mut().take(*stride) {
                    let mut x = [0u8; 4];
                    reader.read_exact(&mut x).map_err(io)?;
                    *id = u32::from_le_bytes(x);
                }
                Ok(Some(PairEntry {
                    fp: w(0),
                    ord: w(8),
                    score: f64::from_bits(w(16)),
                }))
            }
        }
    }

    fn ids(&self) -> &[u32] {
        match self {
            Cursor::Memory { run, last, .. } => match last {
                Some(s) => {
                    let at = s.ids_at as usize * run.stride;
                    &run.ids[at..at + run.stride]
                }
                None => &[],
            },
            Cursor::File { ids, .. } => ids,
        }
    }
}

/// Everything that holds distinct pairs at the end of a scan: in-memory runs and run files.
#[derive(Debug, Default)]
pub struct PairSources {
    /// In-memory sorted runs (one per worker).
    pub memory: Vec<SortedRun>,
    /// Spilled run files.
    pub files: Vec<PathBuf>,
    /// Ids per pair.
    pub stride: usize,
}

impl PairSources {
    /// Visits every distinct pair of partition `p` once, in fingerprint order, with the
    /// smallest record ordinal among its copies and its ids.
    pub fn merge_partition(
        &self,
        p: usize,
        visit: &mut dyn FnMut(&PairEntry, &[u32]),
    ) -> Result<()> {
        let mut cursors: Vec<Cursor<'_>> = Vec::new();
        for run in &self.memory {
            cursors.push(Cursor::Memory {
                run,
                buckets: run.partition_buckets(p),
                bucket: 0,
                pos: 0,
                last: None,
            });
        }
        for f in &self.files {
            cursors.push(Cursor::open_file(f, p, self.stride)?);
        }
        // Drop empty sources; one source left is already sorted and deduplicated.
        if cursors.len() == 1 {
            let mut c = cursors
                .pop()
                .ok_or_else(|| ScanError::Internal("no cursor".into()))?;
            while let Some(e) = c.next()? {
                visit(&e, c.ids());
            }
            return Ok(());
        }
        if cursors.len() <= LINEAR_MERGE {
            return merge_linear(&mut cursors, visit);
        }
        // Heap of (fp, ord, cursor index); the smallest ord of equal fingerprints comes first.
        let mut heap = BinaryHeap::new();
        let mut heads: Vec<Option<PairEntry>> = Vec::with_capacity(cursors.len());
        for (i, c) in cursors.iter_mut().enumerate() {
            let h = c.next()?;
            if let Some(e) = h {
                heap.push(Reverse((e.fp, e.ord, i)));
            }
            heads.push(h);
        }
        let mut last: Option<u64> = None;
        while let Some(Reverse((fp, _, i))) = heap.pop() {
            let e = heads[i]
                .take()
                .ok_or_else(|| ScanError::Internal("merge cursor out of step".into()))?;
            if last != Some(fp) {
                visit(&e, cursors[i].ids());
                last = Some(fp);
            }
            let h = cursors[i].next()?;
            if let Some(n) = h {
                heap.push(Reverse((n.fp, n.ord, i)));
            }
            heads[i] = h;
        }
        Ok(())
    }
}

/// Up to this many sources merge by a linear scan of their heads instead of a heap (one or two
/// comparisons per pair for the usual one source per worker; the heap's push and pop cost more).
const LINEAR_MERGE: usize = 8;

/// The k-way merge for few sources: the smallest (fingerprint, ordinal) head goes next; equal
/// fingerprints after the first are skipped (the first has the smallest ordinal).
fn merge_linear(
    cursors: &mut [Cursor<'_>],
    visit: &mut dyn FnMut(&PairEntry, &[u32]),
) -> Result<()> {
    let mut heads: Vec<Option<PairEntry>> = Vec::with_capacity(cursors.len());
    for c in cursors.iter_mut() {
        heads.push(c.next()?);
    }
    let mut last: Option<u64> = None;
    loop {
        let mut best: Option<(usize, u64, u64)> = None;
        for (i, h) in heads.iter().enumerate() {
            if let Some(e) = h {
                let better = match best {
                    None => true,
                    Some((_, fp, ord)) => (e.fp, e.ord) < (fp, ord),
                };
                if better {
                    best = Some((i, e.fp, e.ord));
                }
            }
        }
        let Some((i, fp, _)) = best else {
            return Ok(());
        };
        let e = heads[i]
            .take()
            .ok_or_else(|| ScanError::Internal("merge cursor out of step".into()))?;
        if last != Some(fp) {
            visit(&e, cursors[i].ids());
            last = Some(fp);
        }
        heads[i] = cursors[i].next()?;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn collect(sources: &PairSources) -> Vec<(u64, u64, f64, Vec<u32>)> {
        let mut out = Vec::new();
        for p in 0..PARTITIONS {
            sources
                .merge_partition(p, &mut |e, ids| {
                    out.push((e.fp, e.ord, e.score, ids.to_vec()))
                })
                .unwrap();
        }
        out
    }

    /// A spilling table and an unbounded one keep exactly the same distinct pairs.
    #[test]
    fn spilled_and_in_memory_agree() {
        let dir = tempfile::tempdir().unwrap();
        let mut small = PairTable::new(64 << 10, 3, dir.path(), "small");
        let mut big = PairTable::new(64 << 20, 3, dir.path(), "big");
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut all = Vec::new();
        for ord in 0..20_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Many repeats: fingerprints from a small pool.
            let fp = (x % 7_000).wrapping_mul(0x2545_f491_4f6c_dd1d) | 1;
            let score = (fp % 2) as f64;
            let ids = [(fp % 11) as u32, (fp % 13) as u32, (fp % 17) as u32];
            small.insert(fp, ord, score, &ids).unwrap();
            big.insert(fp, ord, score, &ids).unwrap();
            all.push(fp);
        }
        assert!(
            !small.runs().is_empty(),
            "the small table must have spilled"
        );
        assert!(big.runs().is_empty());
        let (m1, f1) = small.finish();
        let (m2, f2) = big.finish();
        let a = collect(&PairSources {
            memory: vec![m1],
            files: f1,
            stride: 3,
        });
        let b = collect(&PairSources {
            memory: vec![m2],
            files: f2,
            stride: 3,
        });
        all.sort_unstable();
        all.dedup();
        assert_eq!(a.len(), all.len());
        assert_eq!(a, b);
        // Every kept ordinal is the first occurrence.
        for w in a.windows(2) {
            assert!(w[0].0 < w[1].0);
        }
    }

    /// The few-source (linear) merge and the many-source (heap) merge keep the same pairs with
    /// the same smallest ordinals as one table.
    #[test]
    fn linear_and_heap_merges_agree() {
        let dir = tempfile::tempdir().unwrap();
        let mut one = PairTable::new(64 << 20, 3, dir.path(), "one");
        // Three tables, one of them spilling: memory and file cursors, few enough to merge linearly.
        let mut few: Vec<PairTable> = (0..3)
            .map(|i| {
                let budget = if i == 0 { 64 << 10 } else { 64 << 20 };
                PairTable::new(budget, 3, dir.path(), &format!("few{i}"))
            })
            .collect();
        let mut x: u64 = 0x1234_5678_9abc_def1;
        for ord in 0..30_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let fp = (x % 9_000).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
            let ids = [(fp % 5) as u32, (fp % 7) as u32, (fp % 19) as u32];
            one.insert(fp, ord, (fp % 2) as f64, &ids).unwrap();
            few[(ord / 100 % 3) as usize]
                .insert(fp, ord, (fp % 2) as f64, &ids)
                .unwrap();
        }
        let (m, f) = one.finish();
        let want = collect(&PairSources {
            memory: vec![m],
            files: f,
            stride: 3,
        });
        let mut src = PairSources {
            stride: 3,
            ..Default::default()
        };
        for t in few {
            let (m, f) = t.finish();
            src.memory.push(m);
            src.files.extend(f);
        }
        let n = src.memory.len() + src.files.len();
        assert!(n > 3 && n <= LINEAR_MERGE, "{n} sources");
        assert_eq!(collect(&src), want);
        // Past LINEAR_MERGE sources the heap merges: the spilling table alone has many runs.
        let mut many = PairTable::new(16 << 10, 3, dir.path(), "many");
        let mut x: u64 = 0x1234_5678_9abc_def1;
        for ord in 0..30_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let fp = (x % 9_000).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
            let ids = [(fp % 5) as u32, (fp % 7) as u32, (fp % 19) as u32];
            many.insert(fp, ord, (fp % 2) as f64, &ids).unwrap();
        }
        let (m, f) = many.finish();
        assert!(f.len() + 1 > LINEAR_MERGE, "{} runs", f.len());
        let got = collect(&PairSources {
            memory: vec![m],
            files: f,
            stride: 3,
        });
        assert_eq!(got, want);
    }

    /// The radix sort orders by fingerprint, including equal and adversarially close keys.
    #[test]
    fn radix_sort_sorts() {
        let mut x: u64 = 12345;
        let mut v: Vec<Slot> = (0..50_000u64)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let fp = if i % 3 == 0 {
                    x & 0xff00_0000_0000_00ff
                } else {
                    x
                };
                Slot {
                    fp,
                    ord: i as u32,
                    score: 0.0,
                    ids_at: 0,
                }
            })
            .collect();
        let mut want: Vec<u64> = v.iter().map(|s| s.fp).collect();
        want.sort_unstable();
        radix_sort(&mut v, 0, &mut Vec::new());
        let got: Vec<u64> = v.iter().map(|s| s.fp).collect();
        assert_eq!(got, want);
    }

    /// Two shards holding overlapping pairs merge to the union with the smaller ordinal.
    #[test]
    fn shards_merge_to_union_with_min_ordinal() {
        let dir = tempfile::tempdir().unwrap();
        let mut a = PairTable::new(1 << 20, 0, dir.path(), "a");
        let mut b = PairTable::new(1 << 20, 0, dir.path(), "b");
        a.insert(5 << 60, 10, 1.0, &[]).unwrap();
        a.insert(7, 11, 0.0, &[]).unwrap();
        b.insert(5 << 60, 3, 1.0, &[]).unwrap();
        b.insert(9, 4, 1.0, &[]).unwrap();
        b.spill().unwrap();
        let (ma, _) = a.finish();
        let (mb, fb) = b.finish();
        let got = collect(&PairSources {
            memory: vec![ma, mb],
            files: fb,
            stride: 0,
        });
        let fps: Vec<(u64, u64)> = got.iter().map(|g| (g.0, g.1)).collect();
        assert_eq!(fps, vec![(7, 11), (9, 4), (5 << 60, 3)]);
    }
}
