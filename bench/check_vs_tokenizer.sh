#!/usr/bin/env bash
# `provmark check` end to end against tokenizer-only on the same text (issue 3, item 9).
#
#   bench/check_vs_tokenizer.sh TEXT_FILE [ROUNDS]
#
# Each round runs, back to back so that load drift on a shared machine hits both alike:
#   * tokenizer only: `tok_speed` (one thread) on the same text as one JSONL record, counting what
#     a one-shot tokenizing process pays: load + the first (cold) pass, + the whole-piece table
#     warm-up for texts of 4 MiB or more (the tokenizer builds it only for that much text);
#   * `provmark check TEXT_FILE --profile P --json`: the whole process, wall clock (reading, profile,
#     tokenizer load, tokenization — on every core for long texts —, dedup, scoring, spans).
# Prints one line per round and the median ratio tokenizer-only / check (≥ 0.9 is the target), and
# the check's CPU seconds (user + sys) beside its wall time.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
text="$1"
rounds="${2:-5}"
cargo build --release -q -p provmark-cli -p provmark-tokenize --example tok_speed --bin provmark
bin="$here/target/release/provmark"
tok="$here/target/release/examples/tok_speed"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$bin" keygen --out "$work/p.json" >/dev/null 2>&1
python3 -c 'import json,sys; print(json.dumps({"text": open(sys.argv[1], encoding="utf-8").read()}))' "$text" > "$work/one.jsonl"
ratios=()
for r in $(seq "$rounds"); do
  # The whole-piece table is built only past 4 MiB of text (a short `check` never builds it), so
  # its warm-up counts only for texts that long; below, the first pass runs warm here and cold in
  # `check` (a few microseconds on a typical answer).
  t=$("$tok" "$work/one.jsonl" text --repeat 1 | python3 -c 'import json,sys; d=json.load(sys.stdin); w=(d["warm_up_seconds"] or 0) if d["bytes"] >= 4 << 20 else 0; print("%.3f %d" % (d["load_seconds"] + w + d["first_pass_seconds"], d["tokens"]))')
  /usr/bin/time -o "$work/time" -f "%e %U %S" "$bin" check "$text" --profile "$work/p.json" --json > /dev/null || true
  read -r wall user sys < <(tail -1 "$work/time")
  read -r tsec tokens <<< "$t"
  ratio=$(python3 -c "print('%.2f' % ($tsec / $wall))")
  ratios+=("$ratio")
  echo "round $r: tokens $tokens | tokenizer only $tsec s | check $wall s wall, $(python3 -c "print('%.2f' % ($user + $sys))") s CPU | ratio $ratio"
done
printf '%s\n' "${ratios[@]}" | sort -n | awk '{a[NR]=$1} END {print "median ratio (tokenizer-only time / check time): " a[int((NR+1)/2)]}'
