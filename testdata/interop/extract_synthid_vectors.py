#!/usr/bin/env python3
"""Extracts the numeric vectors of shared/notes/interop/SYNTHID.md into synthid_note_vectors.json.

Usage: python3 testdata/interop/extract_synthid_vectors.py [PATH/TO/SYNTHID.md] > testdata/interop/synthid_note_vectors.json

T1 (default keys), T2 (third-party vectors said to come from the reference under torch) and T3
(derived by the note's author). synthid_reference_vectors.json (produced by running the reference
itself) is copied verbatim beside this file. This script only parses.
"""
import json
import os
import re
import sys


def section(text, start, end):
    i = text.index(start)
    return text[i:text.index(end, i + len(start))]


def ints(s):
    return [int(x) for x in re.findall(r"-?\d+", s)]


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    default = os.path.join(here, "..", "..", "..", "shared", "notes", "interop", "SYNTHID.md")
    md = open(sys.argv[1] if len(sys.argv) > 1 else default, encoding="utf-8").read()
    out = {"source": "shared/notes/interop/SYNTHID.md (extracted by extract_synthid_vectors.py)"}

    t1 = section(md, "### T1.", "### T2.")
    keys = ints(re.search(r"```\n(.*?)```", t1, re.S).group(1))
    assert len(keys) == 30
    out["default_keys"] = keys
    out["ngram_len"] = 5

    t2 = section(md, "### T2.", "### T3.")
    ivs = re.findall(r"^\| (.*?) \| (\d+) \|$", t2, re.M)
    wrong = [k ^ 0x5A5A5 for k in keys]
    one_bit = [keys[0] ^ 1] + keys[1:]
    assert wrong[:2] == [370475, 369717] and one_bit[0] == 655
    key_sets = {"default": keys, "wrong_keys": wrong, "one_bit_flipped": one_bit}
    names = ["default", "wrong_keys", "one_bit_flipped"]
    out["key_sets"] = key_sets
    out["hash_iv"] = [{"key_set": n, "iv": int(iv)} for n, (_, iv) in zip(names, ivs)]
    assert len(out["hash_iv"]) == 3
    out["accumulate_hash"] = [
        {"seed": int(s), "data": ints(d), "hash": int(h)}
        for s, d, h in re.findall(r"^\| (-?\d+) \| (\[[-0-9, ]*\]) \| (-?\d+) \|$", t2, re.M)
    ]
    assert len(out["accumulate_hash"]) == 7
    plain = ints(re.search(r'\*\*Sequence "plain"\*\*, default keys: `(\[.*?\])`', t2).group(1))
    rows = re.findall(r"^  i=(\d) (\[[0-9,]+\]) +([01]{30})$", t2, re.M)
    assert len(rows) == 8
    scores = re.findall(r"^  \| (\w+) \| ([0-9.]+) \| (\d+) \| (\d+) \|$", t2, re.M)
    out["plain"] = {
        "tokens": plain,
        "eos_token": 50256,
        "g_values": [{"ngram": ints(ng), "bits": bits} for _, ng, bits in rows],
        "scores": [
            {"key_set": {"configured": "default"}.get(n, n), "mean": float(s), "g_sum": int(g), "positions": int(p)}
            for n, s, g, p in scores
        ],
    }
    assert len(scores) == 3
    rep = re.search(r"context-repetition mask = `\[([TF,]+)\]`", t2).group(1).split(",")
    out["repeated_context"] = {
        "tokens": [464, 3835, 338, 649, 22321] * 3,
        "context_repetition_mask": [x == "T" for x in rep],
        "mean": 0.44,
        "g_sum": 66,
        "positions": 5,
    }
    assert "JSON score 0.44, i.e. 66 / (5·30)" in t2

    t3 = section(md, "### T3.", "## Open questions")
    d = {}
    d["sha256_default_keys"] = re.search(r"SHA-256 of the default-key bytes \(240 bytes\): `([0-9a-f]{64})`", t3).group(1)
    d["hash_iv"] = [
        {"keys": [1], "iv": int(re.search(r"IV for keys \[1\] = (\d+)", t3).group(1))},
        {"keys": [0], "iv": int(re.search(r"IV for keys \[0\] = (\d+)", t3).group(1))},
    ]
    d["accumulate_hash"] = [{"seed": 0, "data": [1, 2, 3],
                             "hash": int(re.search(r"`acc\(0, \[1,2,3\]\)` = (-?\d+)", t3).group(1))}]
    d["context_hash"] = [
        {"context": [1, 2, 3, 4], "hash": int(re.search(r"context hash of `\[1,2,3,4\]` = (-?\d+)", t3).group(1))},
        {"context": [464, 3835, 338, 649],
         "hash": int(re.search(r"context hash of `\[464,3835,338,649\]` = (-?\d+)", t3).group(1))},
    ]
    d["candidate_hash"] = [{"context": [464, 3835, 338, 649], "token": 22321,
                            "hash": int(re.search(r"candidate hash after 22321 = (-?\d+)", t3).group(1))}]
    lk = re.findall(r"layer keys d=0..2 = (-?\d+), (-?\d+), (-?\d+)", t3)
    d["layer_keys"] = [
        {"ngram": [1, 2, 3, 4, 5], "keys": [int(x) for x in lk[0]]},
        {"ngram": [464, 3835, 338, 649, 22321], "keys": [int(x) for x in lk[1]]},
    ]
    inter = ints(re.search(r"the 12 intermediate values x of `get_gvals` for d=0:\s*`([-0-9, ]+)`", t3).group(1))
    assert len(inter) == 12
    d["g_rounds_layer0_ngram_1_5"] = inter
    d["g_values"] = [
        {"ngram": [1, 2, 3, 4, 5], "bits": re.search(r"g-values \(d=0..29\): `([01]{30})`", t3).group(1)},
        {"ngram": [0, 0, 0, 0, 0], "bits": re.search(r"`\[0,0,0,0,0\]`: `([01]{30})`", t3).group(1)},
        {"ngram": [100, 200, 300, 400, 500], "bits": re.search(r"`\[100,200,300,400,500\]`: `([01]{30})`", t3).group(1)},
    ]
    assert "x=0 gives g=1, x=1 gives g=1, x=-1 gives g=0" in t3
    d["g_of_raw_key"] = [{"x": 0, "g": 1}, {"x": 1, "g": 1}, {"x": -1, "g": 0}]
    d["weighted_mean_plain"] = float(re.search(r"computed in float64\):\s*([0-9.]+)\.", t3).group(1))
    eos = re.search(r"`(\[[0-9,]+\])` gives `(\[[01,]+\])`", t3)
    d["eos_mask"] = {"eos_token": 50256, "tokens": ints(eos.group(1)), "mask": ints(eos.group(2))}
    assert "g = [1,0,1,0] in one layer" in t3 and "`[0.375, 0.125, 0.375, 0.125]`" in t3
    d["tournament"] = {"scores": [0.0, 0.0, 0.0, 0.0], "g": [[1, 0, 1, 0]], "probs": [0.375, 0.125, 0.375, 0.125]}
    out["derived"] = d
    json.dump(out, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
