#!/usr/bin/env python3
"""Extracts every numeric vector of shared/notes/interop/VLLM.md into vllm_vectors.json.

Usage: python3 testdata/interop/extract_vllm_vectors.py [PATH/TO/VLLM.md] > testdata/interop/vllm_vectors.json

The markdown is the source (values typed from vLLM's published tests and goldens, plus values the
note's author derived from a reimplementation, labelled "derived" here as in the note). This
script only parses; it computes nothing. Big integers (keys, u64) are kept as JSON numbers;
readers must parse them as u64, not f64.
"""
import json
import os
import re
import sys


def section(text, start, end):
    i = text.index(start)
    j = text.index(end, i + len(start)) if end else len(text)
    return text[i:j]


def ints(s):
    return [int(x) for x in re.findall(r"-?\d+", s)]


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    default = os.path.join(here, "..", "..", "..", "shared", "notes", "interop", "VLLM.md")
    path = sys.argv[1] if len(sys.argv) > 1 else default
    md = open(path, encoding="utf-8").read()
    out = {"source": "shared/notes/interop/VLLM.md (extracted by extract_vllm_vectors.py)"}

    # T1: Random123 KAT.
    t1 = section(md, "### T1.", "### T2a.")
    kat = []
    for row in re.findall(r"^\| ([0-9a-f ]{35}) \| ([0-9a-f ]{17}) \| ([0-9a-f ]{35}) \|$", t1, re.M):
        c, k, o = ([int(x, 16) for x in col.split()] for col in row)
        kat.append({"counter": c, "key": k, "output": o})
    assert len(kat) == 3, kat
    out["random123_philox4x32_10"] = kat

    # T2a: current mapping.
    t2a = section(md, "### T2a.", "### T2b.")
    words = ints(re.search(r"Raw words \(`uint32`\): `(\[\[.*?\]\])`", t2a).group(1))
    mant = ints(re.search(r"Mantissas .*?: `(\[\[.*?\]\])`", t2a).group(1))
    out["prf_current"] = {
        "key": 42,
        "contexts": [[1, 2, 3, 4], [4, 5, 6, 7]],
        "tokens": [7, 8],
        "words": [words[0:2], words[2:4]],
        "mantissas": [mant[0:2], mant[2:4]],
    }
    assert "PhiloxPRF(42)" in t2a and "[[1,2,3,4],[4,5,6,7]]" in t2a and "`[7,8]`" in t2a

    # T2b: earlier mapping and HMAC.
    t2b = section(md, "### T2b.", "### T3.")
    em = ints(re.search(r"earlier mapping, mantissas `(\[\[.*?\]\])`", t2b).group(1))
    ew = ints(re.search(r"words I recomputed are `(\[\[.*?\]\])`", t2b).group(1))
    hm = ints(re.search(r"HMACSHA256PRF\(42\)` mantissas `(\[\[.*?\]\])`", t2b).group(1))
    out["prf_earlier"] = {
        "key": 42,
        "contexts": [[1, 2, 3, 4], [4, 5, 6, 7]],
        "tokens": [7, 8],
        "mantissas": [em[0:2], em[2:4]],
        "words_derived": [ew[0:2], ew[2:4]],
    }
    out["prf_hmac"] = {
        "key": 42,
        "contexts": [[1, 2, 3, 4], [4, 5, 6, 7]],
        "tokens": [7, 8],
        "mantissas": [hm[0:2], hm[2:4]],
    }
    s5 = section(md, "## 5. HMAC", "## 6.")
    msg = re.search(r"Worked message .*?: `([0-9a-f ]+)`", s5).group(1).replace(" ", "")
    dig = re.search(r"the digest is `([0-9a-f]{64})`", s5).group(1)
    word = int(re.search(r"so the word is 0x[0-9a-f]+ = (\d+)", s5).group(1))
    out["prf_hmac"]["worked"] = {
        "context": [1, 2, 3, 4],
        "token": 7,
        "key": 42,
        "message_hex": msg,
        "digest_hex": dig,
        "word": word,
    }

    # T3: gamma survival and detector counts.
    t3 = section(md, "### T3.", "### T4.")
    assert "_gamma_survival_integer_shape(0.0, 4) == 1.0" in t3
    assert "_gamma_survival_integer_shape(2.0, 1) ≈ 0.1353352832" in t3
    out["gamma_survival"] = [
        {"x": 0.0, "n": 4, "p": 1.0, "rel_tol": 0.0},
        # vLLM's test compares with 10 significant digits (approx).
        {"x": 2.0, "n": 1, "p": 0.1353352832, "rel_tol": 1e-9},
    ]
    out["detector_counts"] = [
        {"key": 42, "context_width": 1, "tokens": [1, 1, 1, 1, 1], "dedup": True, "scored": 2},
        {"key": 42, "context_width": 1, "tokens": [1, 1, 1, 1, 1], "dedup": False, "scored": 5},
        {"key": 42, "context_width": 1, "tokens": [1, 2, 1, 3], "dedup": True, "scored": 3},
    ]
    assert "`[1,1,1,1,1]` scores 2 tokens with dedup and 5 without" in t3
    assert "`[1,2,1,3]` scores 3 tokens" in t3

    # T4: goldens.
    t4 = section(md, "### T4.", "### T5.")
    uni = re.search(r"```\n(.*?)```", t4, re.S).group(1)
    out["routing_uniforms"] = [float(x) for x in re.findall(r"[0-9.]+", uni)]
    assert len(out["routing_uniforms"]) == 64
    dk = section(t4, "**Derived keys**", "**Per-candidate goldens**")
    out["derived_keys"] = [
        {"key": int(a), "key_a": int(b), "key_b": int(c)}
        for a, b, c in re.findall(r"^\| (\d+) \| (\d+) \| (\d+) \|$", dk, re.M)
    ]
    assert len(out["derived_keys"]) == 5
    fixtures = {}
    ft = section(t4, "| fixture |", "**Generation harness:**")
    for name, v, n, dom, bias, prompt in re.findall(
        r"^\| (\w+) \| (.*?) \| (.*?) \| (.*?) \| (.*?) \| (.*?) \|$", ft, re.M
    ):
        if name == "fixture":
            continue
        fixtures[name] = (v, n, dom, bias, prompt)
    out["goldens"] = []
    for block in re.split(r"^#### ", t4, flags=re.M)[1:]:
        name, body = block.split("\n", 1)
        name = name.strip()
        flat = " ".join(body.split())
        # Normalise the bullet style of the first candidate to key=value.
        for pat, rep in [
            (r"scheme (\w+);", r"scheme=\1,"),
            (r"; key (\d+);", r", key=\1,"),
            (r"detection key (\d+);", r"detection_key=\1,"),
            (r"context width (\d+)", r"context_width=\1,"),
            (r"generation dedup (\w+), max_history (\w+);", r"gen_dedup=\1, max_history=\2,"),
            (r"detection dedup (\w+)", r"det_dedup=\1,"),
            (r"generation α ([0-9.]+); detection α ([0-9.]+)", r"gen_alpha=\1, det_alpha=\2,"),
            (r"fixture: V=(\d+), n=(\d+), no dominant token, bias (\d+), no prompt",
             r"fixture(V=\1,n=\2,dominant=None,bias=\3,prompt=[])"),
            (r"score ([0-9.e+-]+), p_value ([0-9.e+-]+)", r"score=\1, p_value=\2"),
            (r"num_scored_tokens (\d+), trace.dedup_skips (\d+)", r"num_scored_tokens=\1, trace.dedup_skips=\2"),
            (r"routing_draws (\d+), key_b_routed (\d+), key_b_effective (\d+), partial_context_skips (\d+)",
             r"routing_draws=\1, key_b_routed=\2, key_b_effective=\3, partial_context_skips=\4"),
        ]:
            flat = re.sub(pat, rep, flat)

        def field(key, conv=str):
            m = re.search(re.escape(key) + r"=([^,\s)]+)", flat)
            assert m, (name, key, flat[:300])
            return conv(m.group(1))

        def opt_int(s):
            return None if s == "None" else int(s)

        fx = re.search(r"fixture\(V=(\d+),n=(\d+),dominant=(\w+),bias=(\d+),prompt=\[([0-9, ]*)\]\)", flat)
        assert fx, name
        gen = re.search(r"[Gg]eneration \((hand-checked against JSON|reproduced[^)]*)\):? (\[[0-9, ]+\])", flat)
        assert gen, name
        g = {
            "name": name,
            "scheme": field("scheme"),
            "key": field("key", int),
            "detection_key": field("detection_key", int),
            "context_width": field("context_width", int),
            "gen_dedup": field("gen_dedup"),
            "max_history": field("max_history", opt_int),
            "det_dedup": field("det_dedup") == "True",
            "gen_alpha": field("gen_alpha", float),
            "det_alpha": field("det_alpha", float),
            "fixture": {
                "vocab": int(fx.group(1)),
                "num_tokens": int(fx.group(2)),
                "dominant_token": opt_int(fx.group(3)),
                "dominant_bias": int(fx.group(4)),
                "prompt": ints(fx.group(5)),
            },
            "score": field("score", float),
            "p_value": field("p_value", float),
            "num_scored_tokens": field("num_scored_tokens", int),
            "dedup_skips": field("trace.dedup_skips", int),
            "routing_draws": field("routing_draws", int),
            "key_b_routed": field("key_b_routed", int),
            "key_b_effective": field("key_b_effective", int),
            "partial_context_skips": field("partial_context_skips", int),
            "tokens": ints(gen.group(2)),
            "tokens_provenance": "hand-checked against vLLM JSON"
            if gen.group(1).startswith("hand")
            else "derived (reimplementation whose score, p-value and count match the golden)",
        }
        assert len(g["tokens"]) == g["fixture"]["num_tokens"], name
        out["goldens"].append(g)
    assert len(out["goldens"]) == 18, len(out["goldens"])

    # T5: derived extras.
    t5 = section(md, "### T5.", "## Open questions")

    def rows(label):
        return ints(re.search(re.escape(label) + r".*?`(\[[0-9, ]+\])`", t5, re.S).group(1))

    d = {}
    d["words_key42"] = {
        "key": 42,
        "contexts": [[-1, -1, 7], [11, 12, 13]],
        "tokens": list(range(8)),
        "rows": [rows("tokens 0..7, row 0:"), rows("tokens 0..7, row 1:")],
    }
    st = re.search(r"stream=1, tokens 0..3: row 0 `(\[.*?\])`, row 1 `(\[.*?\])`", t5)
    d["words_key42_stream1"] = {
        "key": 42,
        "stream": 1,
        "contexts": [[-1, -1, 7], [11, 12, 13]],
        "tokens": [0, 1, 2, 3],
        "rows": [ints(st.group(1)), ints(st.group(2))],
    }
    d["words_key42_stream2p32"] = {
        "key": 42,
        "stream": 2**32,
        "contexts": [[11, 12, 13]],
        "tokens": [0, 1, 2, 3],
        "rows": [rows("stream=2^32, context `[11,12,13]`, tokens 0..3:")],
    }
    d["words_other"] = [
        {"key": 2**64 - 1, "context": list(range(16)), "tokens": [0, 1, 2, 3],
         "words": rows("key 2^64−1, context `[0..15]` (h=16), tokens 0..3:")},
        {"key": 0, "context": [-1], "tokens": [0, 1, 2, 3], "words": rows("key 0, context `[-1]`, tokens 0..3:")},
        {"key": 15726070495360670683, "context": [0, 1, 2, 3, 4], "tokens": [1021, 1022, 1023, 1024],
         "words": rows("key 15726070495360670683, context `[0,1,2,3,4]`, tokens 1021..1024:")},
    ]
    assert "key 2^64−1, context `[0..15]`" in t5
    states = re.findall(r"key 42, `(\[[-0-9,]+\])`: `([0-9a-f ]+)`", t5)
    d["context_states"] = [
        {"key": 42, "context": ints(c), "state": [int(x, 16) for x in s.split()]} for c, s in states
    ]
    assert len(d["context_states"]) == 2
    d["uniform_bits"] = [
        {"word": int(w, 0), "float32_hex": f}
        for w, f in re.findall(r"^\| (0x[0-9A-F]+|\d+) \| (0x[0-9a-fp.+-]+) \|$", t5, re.M)
    ]
    assert len(d["uniform_bits"]) == 5
    gd = []
    m = re.search(r"`\[1,2,3,4,5\]`: S=([0-9]+(?:\.[0-9]+)?), p=([0-9]+(?:\.[0-9]+)?(?:e[-+]?[0-9]+)?), N=(\d+)", t5)
    for dedup in (True, False):
        gd.append({"tokens": [1, 2, 3, 4, 5], "dedup": dedup, "score": float(m.group(1)),
                   "p_value": float(m.group(2)), "scored": int(m.group(3))})
    m = re.search(r"`\[1,1,1,1,1\]`: S=([0-9]+(?:\.[0-9]+)?), p=([0-9]+(?:\.[0-9]+)?(?:e[-+]?[0-9]+)?), N=(\d+) with dedup; S=([0-9]+(?:\.[0-9]+)?), p=([0-9]+(?:\.[0-9]+)?(?:e[-+]?[0-9]+)?), N=(\d+) without", t5)
    gd.append({"tokens": [1] * 5, "dedup": True, "score": float(m.group(1)), "p_value": float(m.group(2)),
               "scored": int(m.group(3))})
    gd.append({"tokens": [1] * 5, "dedup": False, "score": float(m.group(4)), "p_value": float(m.group(5)),
               "scored": int(m.group(6))})
    d["gumbel_detector_key42_h1"] = gd
    m = re.search(r"`gsurv\(10,5\)` = ([0-9]+(?:\.[0-9]+)?(?:e[-+]?[0-9]+)?)", t5)
    d["gamma_survival"] = [{"x": 10.0, "n": 5, "p": float(m.group(1))}]
    m = re.search(r"key 42, h=1, α=0.5, no dedup, `\[1,2,3,4,5\]` gives S=([0-9]+(?:\.[0-9]+)?), p=([0-9]+(?:\.[0-9]+)?(?:e[-+]?[0-9]+)?)", t5)
    d["dual_key_detector"] = [{"key": 42, "context_width": 1, "alpha": 0.5, "dedup": False,
                               "tokens": [1, 2, 3, 4, 5], "score": float(m.group(1)), "p_value": float(m.group(2))}]
    d["sbw_hash"] = [{"x": int(a), "h": int(b)} for a, b in re.findall(r"h\((-?\d+)\)=(\d+)", t5)]
    assert len(d["sbw_hash"]) == 9
    m = re.search(r"selfhash seed, key 42, ctx `\[10,11,12,13\]`, v=5: (\d+)", t5)
    d["sbw_selfhash_seed"] = [{"key": 42, "context": [10, 11, 12, 13], "token": 5, "seed": int(m.group(1))}]
    m1 = re.search(r"ctx `\[10,11,12,13\]`, v=0..15: `([01]{16})`", t5)
    m2 = re.search(r"h=1, v=0..15: `([01]{16})`", t5)
    d["sbw_green_bits"] = [
        {"key": 42, "gamma": 0.5, "scheme": "selfhash", "context": [10, 11, 12, 13], "bits": m1.group(1)},
        # The note gives no context for the h=1 row; selfhash at h=1 ignores the context (seed = K·h(v)²).
        {"key": 42, "gamma": 0.5, "scheme": "selfhash", "context": [-1], "bits": m2.group(1)},
    ]
    m = re.search(r"Detector, key 42, h=4, selfhash, γ 0.5, tokens 0..19: W=(\d+), N=(\d+), p=([0-9]+(?:\.[0-9]+)?(?:e[-+]?[0-9]+)?)", t5)
    d["sbw_detector"] = [{"key": 42, "context_width": 4, "scheme": "selfhash", "gamma": 0.5, "dedup": True,
                          "tokens": list(range(20)), "green": int(m.group(1)), "scored": int(m.group(2)),
                          "p_value": float(m.group(3))}]
    out["derived"] = d
    json.dump(out, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
