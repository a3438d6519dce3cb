//! How one scan splits across processes and machines.
//!
//! The pooled test needs three things, each of which merges exactly:
//!
//! 1. **The set of distinct pairs** with, for each, its score under the master key (and the
//!    pair's ids when accounts are tested) and the smallest input ordinal at which it occurs.
//!    A pair's score is a pure function of the pair (keyed PRF), so the union of two shards'
//!    sets, keeping the smaller ordinal, is the set of the whole corpus. The fingerprint key is
//!    the profile's dedup key, identical on every machine.
//! 2. **Record counts and skip reasons** — plain sums.
//! 3. **Per-record p-values** — each record is tested alone, so they are independent of the
//!    split; only the histogram sums.
//!
//! # The split
//!
//! * **By shard (map side).** Give each worker process a contiguous slice of the input in
//!   input order and an ordinal offset (the number of records before its slice) so that
//!   ordinals stay global. It runs the streaming phase exactly as one [`scan`](crate::scan)
//!   thread does: parse, tokenize, per-record test, insert into a [`PairTable`](crate::dedup::PairTable)
//!   and spill sorted runs. Each run is already cut into [`PARTITIONS`](crate::dedup::PARTITIONS)
//!   segments by the top bits of the fingerprint ([`partition_of`](crate::dedup::partition_of)).
//! * **By hash partition (reduce side).** Partition `p` of the whole corpus is the union of
//!   segment `p` of every run of every shard; no pair can appear in two partitions. One reducer
//!   per partition k-way merges its segments
//!   ([`PairSources::merge_partition`](crate::dedup::PairSources::merge_partition)), keeps the
//!   smallest ordinal per fingerprint, and folds the pairs into mergeable accumulators
//!   ([`provmark_detect::Accumulator`]): the master statistic, one per account, and one per
//!   evidence-curve bin (bins are ranges of record ordinals).
//! * **Final combine.** Sum the per-partition accumulators and the per-shard counts. Binomial
//!   counts are integers and Gumbel sums are fixed point, so the result is bit-for-bit the same
//!   as a single-process scan, whatever the number of shards, partitions or threads.
//!
//! On a map-reduce engine this is one shuffle: map emits `(partition, fingerprint) → (ordinal,
//! score[, ids])`, the engine groups by partition and sorts by fingerprint, reduce does the
//! merge above. Memory per reducer is bounded by the run buffers, not by the corpus.
//!
//! Inside one process the same split is used: `threads` workers are shards with private
//! tables, and the merge runs partitions in parallel.
//!
//! # On a map-reduce engine
//!
//! [`crate::split`] exposes the split as library calls — [`Mapper`](crate::split::Mapper) (a
//! batch of records → pair rows and record counters), [`Folder`](crate::split::Folder) (the
//! deduplicated pairs of one reduce partition → a [`Piece`](crate::split::Piece)) and
//! [`finish`](crate::split::finish) (pieces → [`Report`](crate::Report)) — and the Python
//! package drives them on Apache Spark (`provmark.spark.scan`): a count of records per input
//! split first (so that ordinals are global input indexes whatever the partitioning), the map in
//! `mapInArrow`, one `groupBy(fingerprint)` keeping the smallest ordinal (Spark's own shuffle,
//! with its map-side partial aggregation), the fold in `mapInArrow` per reduce partition, and
//! finish on the driver. The record counters travel through the same shuffle as integer rows.
