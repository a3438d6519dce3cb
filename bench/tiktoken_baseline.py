#!/usr/bin/env python3
"""OpenAI's own tiktoken (Python over its Rust core), o200k_base, one thread: the speed floor for
`provmark scan` (issue 4, item 5).

    pip install tiktoken
    python3 bench/tiktoken_baseline.py FILE FIELD [--repeat N] [--check-ids N] [--tok-speed PATH]

Times encoding of the FIELD string of every JSONL record in FILE and prints one JSON line:
{"tokens":..., "seconds":..., "tokens_per_s":..., "cpu_seconds":..., "cpu_tokens_per_s":...,
 "load_seconds":..., "ids_verified":...}. `tokens`/`seconds` are one pass over all texts, the
fastest of --repeat passes (default 3); `cpu_seconds` is the thread CPU time per pass, averaged
over all passes.

tiktoken cannot download its rank files here (no network), so the Encoding is built by hand from
the rank file bundled in the tiktoken-rs crate sources (~/.cargo/registry/src/*/tiktoken-rs-*/
assets/o200k_base.tiktoken; override with --ranks), with o200k_base's split pattern and special
tokens as published in tiktoken's openai_public.py. Special-token text is encoded as the special id
(allowed_special="all"), as provmark does.

Before timing, the ids of the first --check-ids texts (default 200) are compared with provmark's
tokenizer (the `tok_speed` example, `--dump-ids`); `ids_verified` is true when all are identical,
and the script exits 1 on any difference. If the example binary is not built, `ids_verified` is
null (build it: cargo build --release -p provmark-tokenize --example tok_speed).
"""

import argparse
import base64
import glob
import json
import os
import subprocess
import sys
import time

O200K_PAT = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)
O200K_SPECIALS = {"<|endoftext|>": 199999, "<|endofprompt|>": 200018}

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def find_ranks():
    pattern = os.path.expanduser("~/.cargo/registry/src/*/tiktoken-rs-*/assets/o200k_base.tiktoken")
    found = sorted(glob.glob(pattern))
    if not found:
        sys.exit(f"tiktoken_baseline: no rank file matches {pattern}; run `cargo fetch` or pass --ranks")
    return found[-1]


def load_encoding(ranks_path):
    import tiktoken

    ranks = {}
    with open(ranks_path, "rb") as f:
        for line in f:
            if line.strip():
                token, rank = line.split()
                ranks[base64.b64decode(token)] = int(rank)
    return tiktoken.Encoding(
        name="o200k_base", pat_str=O200K_PAT, mergeable_ranks=ranks, special_tokens=O200K_SPECIALS
    )


def read_texts(path, field):
    texts = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                value = json.loads(line).get(field)
            except (ValueError, AttributeError):
                continue
            if isinstance(value, str):
                texts.append(value)
    return texts


def verify(enc, path, field, n, tok_speed):
    if n == 0:
        return None
    if not os.path.exists(tok_speed):
        print(f"tiktoken_baseline: {tok_speed} not built; ids not verified", file=sys.stderr)
        return None
    out = subprocess.run(
        [tok_speed, path, field, "--dump-ids", str(n)], check=True, capture_output=True, text=True
    ).stdout
    ours = [json.loads(line)["ids"] for line in out.splitlines()]
    for i, (text, ids) in enumerate(zip(read_texts(path, field), ours)):
        theirs = enc.encode(text, allowed_special="all")
        if theirs != ids:
            print(f"tiktoken_baseline: ids differ on text {i}", file=sys.stderr)
            return False
    return True


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("file")
    ap.add_argument("field")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--check-ids", type=int, default=200)
    ap.add_argument("--ranks", default=None)
    ap.add_argument("--tok-speed", default=os.path.join(REPO, "target/release/examples/tok_speed"))
    args = ap.parse_args()

    t0 = time.perf_counter()
    enc = load_encoding(args.ranks or find_ranks())
    load_seconds = time.perf_counter() - t0

    texts = read_texts(args.file, args.field)
    verified = verify(enc, args.file, args.field, args.check_ids, args.tok_speed)

    best = float("inf")
    cpu_total = 0.0
    tokens = 0
    encode = enc.encode
    for _ in range(max(1, args.repeat)):
        tokens = 0
        w, c = time.perf_counter(), time.thread_time()
        for text in texts:
            tokens += len(encode(text, allowed_special="all"))
        best = min(best, time.perf_counter() - w)
        cpu_total += time.thread_time() - c
    best_cpu = cpu_total / max(1, args.repeat)
    print(
        json.dumps(
            {
                "tokens": tokens,
                "seconds": best,
                "tokens_per_s": tokens / best,
                "cpu_seconds": best_cpu,
                "cpu_tokens_per_s": tokens / best_cpu,
                "load_seconds": load_seconds,
                "backend": f"tiktoken-python {__import__('tiktoken').__version__}",
                "tokenizer": "o200k_base",
                "texts": len(texts),
                "ids_verified": verified,
            }
        )
    )
    if verified is False:
        sys.exit(1)


if __name__ == "__main__":
    main()
