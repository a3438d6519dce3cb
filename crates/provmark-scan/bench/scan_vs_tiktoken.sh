#!/bin/sh
# Scan throughput against tokenizer-only (provmark's o200k_base) and OpenAI's tiktoken on the same
# JSONL text, in one run. Usage (from the repository root):
#   crates/provmark-scan/bench/scan_vs_tiktoken.sh FILE FIELD
# Needs `pip install tiktoken`. Prints one JSON line per measurement.
set -eu
FILE=$1
FIELD=$2
cargo build --release -q -p provmark-scan --example scan_speed
cargo build --release -q -p provmark-tokenize --example tok_speed
python3 bench/tiktoken_baseline.py "$FILE" "$FIELD" --repeat 2
target/release/examples/scan_speed "$FILE" "$FIELD" --threads 1,2
# Strictly one core for everything (reader, worker, merge):
taskset -c 0 target/release/examples/scan_speed "$FILE" "$FIELD" --threads 1
