#!/bin/sh
# Scan throughput against OpenAI's tiktoken (o200k_base, one thread) and provmark's tokenizer alone
# on the same JSONL text, in interleaved rounds so that load drift on a shared machine hits all alike.
# Usage (from the repository root):
#   crates/provmark-scan/bench/scan_vs_tiktoken.sh FILE FIELD [ROUNDS]
# Needs `pip install tiktoken`. Each round runs:
#   * tiktoken: bench/tiktoken_baseline.py, one encoding pass over all texts (load excluded);
#   * provmark tokenizer only: the tok_speed example, best pass (load excluded);
#   * `provmark scan FILE --threads 1` and `--threads 2`: the whole process, wall clock (read,
#     parse, tokenize, score, dedup, merge, report).
# Prints one line per round (seconds and the ratios tiktoken/scan and scan1/scan2), then medians.
set -eu
FILE=$1
FIELD=$2
ROUNDS=${3:-5}
cargo build --release -q -p provmark-cli --bin provmark
cargo build --release -q -p provmark-tokenize --example tok_speed
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
target/release/provmark keygen --out "$WORK/p.json" >/dev/null 2>&1
python3 bench/tiktoken_baseline.py "$FILE" "$FIELD" --repeat 1 --check-ids 200 >/dev/null \
  || { echo "tiktoken ids differ from provmark's" >&2; exit 1; }
for r in $(seq "$ROUNDS"); do
  tt=$(python3 bench/tiktoken_baseline.py "$FILE" "$FIELD" --repeat 1 --check-ids 0 \
       | python3 -c 'import json,sys; d=json.load(sys.stdin); print("%.3f %d" % (d["seconds"], d["tokens"]))')
  tok=$(target/release/examples/tok_speed "$FILE" "$FIELD" --repeat 2 \
       | python3 -c 'import json,sys; print("%.3f" % json.load(sys.stdin)["seconds"])')
  for t in 1 2; do
    /usr/bin/time -o "$WORK/t$t" -f "%e %U %S" target/release/provmark scan "$FILE" --field "$FIELD" \
      --profile "$WORK/p.json" --threads "$t" --quiet --out "$WORK/r$t.json" >/dev/null 2>&1 || true
  done
  python3 - "$r" $tt "$tok" "$WORK" <<'EOF'
import json, sys
r, tt, tokens, tok, work = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
s = {t: [float(x) for x in open(f"{work}/t{t}").read().split()[-3:]] for t in (1, 2)}
c = [json.load(open(f"{work}/r{t}.json"))["corpus"] for t in (1, 2)]
assert c[0] == c[1], "1 and 2 threads disagree"
print(json.dumps({"round": int(r), "tokens": tokens, "tiktoken_s": tt, "tokenizer_only_s": tok,
    "scan1_s": s[1][0], "scan1_cpu_s": round(s[1][1] + s[1][2], 2),
    "scan2_s": s[2][0], "scan2_cpu_s": round(s[2][1] + s[2][2], 2),
    "scan1_vs_tiktoken": round(tt / s[1][0], 3), "scan2_vs_tiktoken": round(tt / s[2][0], 3),
    "scan2_vs_scan1": round(s[1][0] / s[2][0], 3)}))
EOF
done
