#!/usr/bin/env python3
"""Cross-check provmark's Hugging Face backend against the Python `tokenizers` package (the build
serving stacks use) on the texts of one JSONL field.

    pip install tokenizers
    python3 bench/hf_tokenizers_check.py TOKENIZER_JSON FILE FIELD [--n N] [--tok-speed PATH]

Encodes the first N texts (default: all) with `add_special_tokens=False`, compares with the ids
from the `tok_speed` example (`--dump-ids`), prints {"texts":..., "identical":...} and exits 1 on
any difference.
"""

import argparse
import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("tokenizer_json")
    ap.add_argument("file")
    ap.add_argument("field")
    ap.add_argument("--n", type=int, default=10**9)
    ap.add_argument("--tok-speed", default=os.path.join(REPO, "target/release/examples/tok_speed"))
    args = ap.parse_args()

    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(args.tokenizer_json)
    texts = []
    with open(args.file, encoding="utf-8") as f:
        for line in f:
            try:
                v = json.loads(line).get(args.field)
            except (ValueError, AttributeError):
                continue
            if isinstance(v, str):
                texts.append(v)
    texts = texts[: args.n]
    out = subprocess.run(
        [args.tok_speed, args.file, args.field, "--tokenizer", args.tokenizer_json,
         "--dump-ids", str(len(texts))],
        check=True, capture_output=True, text=True,
    ).stdout
    ours = [json.loads(line)["ids"] for line in out.splitlines()]
    bad = [i for i, (t, ids) in enumerate(zip(texts, ours)) if tok.encode(t, add_special_tokens=False).ids != ids]
    print(json.dumps({"texts": len(ours), "identical": len(ours) - len(bad), "first_difference": bad[:1]}))
    sys.exit(1 if bad or len(ours) != len(texts) else 0)


if __name__ == "__main__":
    main()
