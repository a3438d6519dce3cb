"""Per-token cost of the Python and C calls over the Rust call, in the same run.

    python bench/cost.py [ROUNDS] [TOKENS] [V,V,...]   (from crates/provmark-python, package installed)

Builds `cargo build --release -p provmark-ffi --example cost` and `make -C
crates/provmark-ffi/examples/c cost`, then for V = 49,152 and 200,000 (or the given sizes) runs ROUNDS interleaved
rounds (order shuffled in each round) of: the Rust call (`Embedder::choose`), the C call (`provmark_sampler_choose`) and the
Python call (`provmark.Sampler.choose` on a [1, seq] history and [1, V] float32 logits, history
growing as in a Hugging Face decode loop) — green list, the demo profile, account "account-42",
the same logits in all three. Prints one Markdown row per V: medians and the per-round ratios'
medians (and ranges).
"""

import json
import pathlib
import random
import statistics
import subprocess
import sys
import time
import warnings

import numpy as np

import provmark

ROOT = pathlib.Path(__file__).resolve().parents[3]
PROFILE = ROOT / "testdata" / "demo" / "PUBLIC-DEMO-KEY.profile.json"
TARGET = ROOT / "target" / "release"


def logits(vocab):
    out = np.empty(vocab, dtype=np.float32)
    x = 0x9E3779B97F4A7C15
    m = (1 << 64) - 1
    for i in range(vocab):
        x ^= (x << 13) & m
        x ^= x >> 7
        x ^= (x << 17) & m
        out[i] = ((x >> 40) % 1000) / 250.0
    return out


def python_ns(profile, vocab, tokens, row):
    sampler = provmark.Sampler(profile, account="account-42")
    hist = np.zeros((1, tokens + 2), dtype=np.int64)  # like a decode loop's id tensor
    hist[0, :2] = [11, 12]
    lg = row[None, :]
    t0 = time.perf_counter_ns()
    for t in range(tokens):
        hist[0, t + 2] = sampler.choose(hist[:, : t + 2], lg, seed=t)[0]
    return (time.perf_counter_ns() - t0) / tokens


def external(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out)["ns_per_token"]


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    tokens = int(sys.argv[2]) if len(sys.argv) > 2 else 300
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "provmark-ffi", "--example", "cost"], cwd=ROOT, check=True)
    subprocess.run(["make", "-s", "-C", str(ROOT / "crates/provmark-ffi/examples/c"), "cost"], check=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        profile = provmark.Profile.load(PROFILE)
    print("| V | Rust ns/token | C ns/token | Python ns/token | C / Rust | Python / Rust |")
    print("|---:|---:|---:|---:|---:|---:|")
    vocabs = [int(v) for v in sys.argv[3].split(",")] if len(sys.argv) > 3 else [49_152, 200_000]
    for vocab in vocabs:
        row = logits(vocab)
        runs = {
            "rust": lambda: external([str(TARGET / "examples" / "cost"), str(PROFILE), str(vocab), str(tokens)]),
            "c": lambda: external([str(TARGET / "c-example" / "cost"), str(PROFILE), str(vocab), str(tokens)]),
            "python": lambda: python_ns(profile, vocab, tokens, row),
        }
        got = {k: [] for k in runs}
        order = random.Random(vocab)
        for _ in range(rounds):
            names = list(runs)
            order.shuffle(names)  # no language always runs first or last in a round
            for name in names:
                got[name].append(runs[name]())
        r, c, p = got["rust"], got["c"], got["python"]
        cr = [ci / ri for ci, ri in zip(c, r)]
        pr = [pi / ri for pi, ri in zip(p, r)]
        med = statistics.median
        print(
            f"| {vocab:,} | {med(r):,.0f} | {med(c):,.0f} | {med(p):,.0f} "
            f"| {med(cr):.3f}x ({min(cr):.3f}–{max(cr):.3f}) | {med(pr):.3f}x ({min(pr):.3f}–{max(pr):.3f}) |"
        )


if __name__ == "__main__":
    main()
