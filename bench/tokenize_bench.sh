#!/usr/bin/env bash
# Single-thread tokenizer comparison on the shared corpora: provmark (bpe-openai backend + whole-piece
# table), tiktoken-rs, raw bpe-openai, OpenAI's Python tiktoken, and the HF backend with GPT-2.
#
#   bench/tokenize_bench.sh [SHARED_DIR] [REPEAT]
#
# Needs: cargo build --release -p provmark-tokenize --example tok_speed; pip install tiktoken.
# Prints one JSON line per (file, field, backend). Timings on a busy machine are noisy: compare
# cpu_tokens_per_s (thread CPU time) and rerun on a quiet machine for README figures.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
shared="${1:-${PROVMARK_SHARED:-$here/../shared}}"
repeat="${2:-10}"
bin="$here/target/release/examples/tok_speed"
gpt2="$shared/tokenizers/gpt2/tokenizer.json"
[ -x "$bin" ] || { echo "build first: cargo build --release -p provmark-tokenize --example tok_speed" >&2; exit 2; }
for spec in "cnn_dailymail_200.jsonl article" "llama2_chat_unwatermarked_1000.jsonl result" \
            "wmt16_de_en_validation.jsonl en" "wmt16_de_en_validation.jsonl de" \
            "human_eval_164.jsonl prompt"; do
  set -- $spec
  file="$shared/corpora/$1"; field="$2"
  [ -f "$file" ] || { echo "skipping $file (absent)" >&2; continue; }
  tag="{\"file\":\"$1\",\"field\":\"$field\"}"
  "$bin" "$file" "$field" --backend all --repeat "$repeat" | sed "s|^|$tag |"
  python3 "$here/bench/tiktoken_baseline.py" "$file" "$field" --repeat "$repeat" | sed "s|^|$tag |"
  [ -f "$gpt2" ] && "$bin" "$file" "$field" --tokenizer "$gpt2" --repeat 3 | sed "s|^|$tag hf-gpt2 |"
done
