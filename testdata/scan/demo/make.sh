#!/bin/sh
# Regenerates the scan demo data (a new key each time, so the files change).
# Run from the repository root after `cargo build --release -p provmark-cli`.
set -eu
P=target/release/provmark
D=testdata/scan/demo
T=$(mktemp -d)
rm -f "$D/profile.json"
$P keygen --out "$D/profile.json"
# A rival model's outputs: 2,000 responses of 100 tokens from the simulated LM; 15% of them carry the
# watermark of account acct-0017 (the account whose outputs were used for distillation).
$P generate-sim --profile "$D/profile.json" --account acct-0017 --tokens 100 --count 300 --seed 1 --jsonl > "$T/wm.jsonl"
$P generate-sim --profile "$D/profile.json" --no-watermark --tokens 100 --count 1700 --seed 2 --jsonl > "$T/clean.jsonl"
python3 - "$T" <<'PY'
import json, random, sys
t = sys.argv[1]
random.seed(7)
wm = [json.loads(l) for l in open(f"{t}/wm.jsonl")]
recs = [json.loads(l) for l in open(f"{t}/clean.jsonl")]
for w in wm:
    recs.insert(random.randrange(len(recs) + 1), w)
with open(f"{t}/suspect.jsonl", "w") as f:
    for i, r in enumerate(recs):
        f.write(json.dumps({"id": f"conv-{i:05d}", "text": r["text"]}) + "\n")
PY
# A clean reference corpus from the same simulated LM, no watermark.
$P generate-sim --profile "$D/profile.json" --no-watermark --tokens 100 --count 800 --seed 3 --jsonl \
  | python3 -c 'import sys, json
for i, l in enumerate(sys.stdin):
    print(json.dumps({"id": f"ref-{i:05d}", "text": json.loads(l)["text"]}))' > "$T/control.jsonl"
gzip -9 -c "$T/suspect.jsonl" > "$D/suspect.jsonl.gz"
gzip -9 -c "$T/control.jsonl" > "$D/control.jsonl.gz"
python3 -c 'print("\n".join("acct-%04d" % i for i in range(50)))' > "$D/accounts.txt"
rm -r "$T"
