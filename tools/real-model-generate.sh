#!/usr/bin/env bash
# Runs the real-model experiment's generation as N single-threaded worker processes side by side
# (on 2 cores, two one-thread processes make ~1.7x the tokens/s of one two-thread process: candle's
# decode step at these sizes is dominated by per-step overheads that do not split across threads).
# Each worker appends to its own answers/<cell>.w<k>.jsonl; the run is resumable (rerun the same
# command) and its answers do not depend on N (answer i draws from its own seeded stream).
# Usage: tools/real-model-generate.sh [N] [extra `provmark eval real-model generate` args...]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-2}
shift || true
BIN=${PROVMARK_BIN:-target/release/provmark}
mkdir -p experiments/real-model/logs
pids=()
for ((k = 0; k < N; k++)); do
  CANDLE_NUM_THREADS=1 RAYON_NUM_THREADS=1 "$BIN" eval real-model generate --worker "$k/$N" "$@" \
    >>"experiments/real-model/logs/worker-$k.log" 2>&1 &
  pids+=($!)
done
status=0
for p in "${pids[@]}"; do wait "$p" || status=1; done
exit $status
