#!/usr/bin/env bash
# Serving-cost and batching figures of the real model, merged into docs/real-model.json:
#   serving.{green_step_share, gumbel_step_share, decode_tokens_per_s}: `provmark bench serving --model`
#     (whole decode steps at batch 1; each method timed on the same logits in the same steps);
#   batching.tokens_per_s.{1,4,16}: `provmark generate --prompts` on the same 16 prompts at batch 1, 4, 16,
#     one after another in this run (answers identical at every batch size: tests/model.rs).
# Usage: tools/real-model-figures.sh [STEPS] [MAX_TOKENS]   (after tools/fetch-model.sh and a release build)
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${1:-300}
MAXTOK=${2:-64}
BIN=${PROVMARK_BIN:-target/release/provmark}
MODEL=models/SmolLM2-135M-Instruct.Q8_0.gguf
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$BIN" keygen --model "$MODEL" --out "$tmp/key.json" >/dev/null 2>&1
"$BIN" bench serving --model "$MODEL" --steps "$STEPS" --json > "$tmp/serving.json"
head -16 experiments/prompts/everyday.jsonl > "$tmp/prompts.jsonl"
for b in 1 4 16; do
  start=$(date +%s.%N)
  "$BIN" generate --profile "$tmp/key.json" --model "$MODEL" --prompts "$tmp/prompts.jsonl" \
    --max-tokens "$MAXTOK" --temperature 1.0 --batch "$b" --jsonl > "$tmp/gen-$b.jsonl"
  end=$(date +%s.%N)
  echo "$b $start $end" >> "$tmp/times"
done
python3 - "$tmp" "$MAXTOK" <<'PY'
import json, sys, os
tmp, maxtok = sys.argv[1], int(sys.argv[2])
serving = json.load(open(os.path.join(tmp, "serving.json")))
batching = {"prompts": 16, "max_tokens": maxtok, "tokens_per_s": {}, "seconds": {}, "tokens": {},
            "note": "whole process (model load included) per batch size, run one after another; answers identical at every batch size"}
texts = {}
for line in open(os.path.join(tmp, "times")):
    b, s, e = line.split()
    rows = [json.loads(l) for l in open(os.path.join(tmp, f"gen-{b}.jsonl"))]
    toks = sum(r["tokens"] for r in rows)
    texts[b] = sorted((r["index"], r["text"]) for r in rows)
    batching["tokens"][b] = toks
    batching["seconds"][b] = round(float(e) - float(s), 2)
    batching["tokens_per_s"][b] = round(toks / (float(e) - float(s)), 1)
batching["identical_answers"] = len({json.dumps(v) for v in texts.values()}) == 1
path = "docs/real-model.json"
doc = json.load(open(path)) if os.path.exists(path) else {}
doc["serving"] = {"green_step_share": serving["green_step_share"], "gumbel_step_share": serving["gumbel_step_share"],
                  "decode_tokens_per_s": serving["decode_tokens_per_s"], "detail": serving,
                  "command": "provmark bench serving --model models/SmolLM2-135M-Instruct.Q8_0.gguf --json"}
doc["batching"] = batching
json.dump(doc, open(path, "w"), indent=2)
open(path, "a").write("\n")
print(json.dumps({"serving": doc["serving"], "batching": batching}, indent=2))
PY
