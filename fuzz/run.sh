#!/usr/bin/env bash
# Fuzzes every parser of provmark with libFuzzer on the stable toolchain.
#
#   fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]      (default: 60 s, every target)
#
# Builds the targets with SanitizerCoverage (stable `-C passes=sancov-module`, no nightly, no
# cargo-fuzz) against libFuzzer compiled by the `libfuzzer-sys` crate (needs a C++ compiler),
# then runs each target in turn on ONE core for the given time. New inputs go to
# fuzz/work/TARGET (not committed); the committed seeds are fuzz/corpus/TARGET and the kept crash
# inputs fuzz/regressions/TARGET (both run at the start of every run); crashes are
# written to fuzz/artifacts/ and stop the script with a failure (exit 1). If the instrumented
# build itself fails (no C++ compiler, an LLVM that rejects the flags) the script exits 3, so CI
# can tell "cannot fuzz here" from "found a crash". The last lines per target give its
# execution count (`stat::number_of_executed_units`). FUZZ_RUNS=N stops each target after N
# executions instead (the time limit still applies).
#
# Speed: the readers' scratch files go to /dev/shm where it is writable (an ext4 rewrite per
# execution cost the jsonl target most of its time), and glibc keeps freed memory instead of
# returning it (the 1 MiB read buffers of every file otherwise fault in fresh pages each run):
# measured on this machine, jsonl 680 -> 2,400 executions/s, accounts 6k -> 52k, parquet 5.8k -> 11k.
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:-60}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(profile_json jsonl parquet text token_ids report_json accounts gguf http_body)
fi
triple=$(rustc -vV | sed -n 's/^host: //p')
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 -Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table -Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
bins=()
for t in "${targets[@]}"; do bins+=(--bin "$t"); done
if ! CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-1} cargo build --release --target "$triple" "${bins[@]}"; then
  echo "fuzz/run.sh: the instrumented build failed; nothing was fuzzed" >&2
  exit 3
fi
mkdir -p artifacts
if [ -d /dev/shm ] && [ -w /dev/shm ]; then export TMPDIR=/dev/shm; fi
export GLIBC_TUNABLES=glibc.malloc.trim_threshold=268435456:glibc.malloc.mmap_threshold=33554432:glibc.malloc.top_pad=67108864
runs=()
if [ -n "${FUZZ_RUNS:-}" ]; then runs=(-runs="$FUZZ_RUNS"); fi
for t in "${targets[@]}"; do
  mkdir -p "work/$t"
  echo "== fuzz $t for ${secs}s"
  log="work/$t.log"
  # New inputs go to the first folder; the seeds and every kept crash input run first, each time.
  dirs=("work/$t" "corpus/$t")
  if [ -d "regressions/$t" ]; then dirs+=("regressions/$t"); fi
  if ! "target/$triple/release/$t" -max_total_time="$secs" -rss_limit_mb=2048 -max_len=65536 \
      -timeout=20 -print_final_stats=1 -artifact_prefix="artifacts/$t-" "${runs[@]}" \
      "${dirs[@]}" >"$log" 2>&1; then
    tail -40 "$log"
    echo "fuzz target $t FAILED (crash input in fuzz/artifacts/)" >&2
    exit 1
  fi
  grep -E "stat::number_of_executed_units|Done [0-9]+ runs" "$log" | tail -2
done
