#!/usr/bin/env python3
"""Independent reimplementation of provmark spec v1 (crates/provmark-core/SPEC.md), written from
the spec text alone, that produces the known-answer vectors in testdata/vectors/native_v1.json.

The Rust implementation is tested against the file (crates/provmark-core/tests/vectors.rs), so the
two implementations must agree bit for bit. Needs the `cryptography` package:
    python3 tools/spec_vectors.py > testdata/vectors/native_v1.json
"""
import hashlib
import hmac
import json
import math
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes


def derive(parent: bytes, label: str, data: bytes) -> bytes:
    return hmac.new(parent, b"provmark/v1/" + label.encode() + b"\x00" + data, hashlib.sha256).digest()


def key_id(k: bytes) -> str:
    return derive(k, "key-id", b"")[:8].hex()


def aes(key16: bytes, block: bytes) -> bytes:
    enc = Cipher(algorithms.AES(key16), modes.ECB()).encryptor()
    return enc.update(block) + enc.finalize()


def xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b))


def le32(x: int) -> bytes:
    return struct.pack("<I", x)


def absorb(k: bytes, h: int, context):
    assert len(context) == h
    x = aes(k, b"PMCX" + le32(1) + le32(h) + le32(0))
    for i in range(0, h, 4):
        chunk = [context[j] if j < h else 0xFFFFFFFF for j in range(i, i + 4)]
        x = aes(k, xor(x, b"".join(le32(c) for c in chunk)))
    return x


def word(k: bytes, state: bytes, token: int) -> int:
    w = aes(k, xor(state, b"PMTK" + le32(token) + bytes(8)))
    return struct.unpack("<Q", w[:8])[0]


def uniform(w: int) -> float:
    return ((w >> 12) + 0.5) * 2.0 ** -52


def main():
    masters = [bytes(range(32)), bytes([0xA5] * 32), hashlib.sha256(b"provmark test master").digest()]
    out = {"spec_version": 1, "prf": "provmark-aes128-v1", "keys": [], "prf_cases": []}
    for m in masters:
        accts = ["acct-1", "customer:42", "", "ünïcode-账户"]
        out["keys"].append({
            "master": m.hex(),
            "key_id": key_id(m),
            "accounts": [{"account": a, "stream_key": derive(m, "account", a.encode()).hex(),
                          "stream_key_id": key_id(derive(m, "account", a.encode()))} for a in accts],
            "prf_key": derive(m, "prf/aes128", b"")[:16].hex(),
            "dedup_key": derive(m, "dedup", b"").hex(),
            "report_mac_key": derive(m, "report-mac", b"").hex(),
        })
    cases = [
        (0, 0, [], [0, 1, 2, 199_997]),
        (0, 1, [5], [0, 7, 50_256]),
        (1, 2, [100, 200], [0, 1, 2, 3, 42, 4_294_967_295]),
        (1, 2, [0xFFFFFFFF, 17], [17, 1000]),
        (2, 3, [1, 2, 3], [4, 5]),
        (2, 4, [10, 20, 30, 40], [50, 60, 70]),
        (0, 5, [1, 1, 2, 3, 5], [8, 13]),
        (1, 8, [9, 8, 7, 6, 5, 4, 3, 2], [1, 0]),
        (2, 16, list(range(1000, 1016)), [1016]),
    ]
    for mi, h, ctx, toks in cases:
        stream = masters[mi]
        account = None
        if h == 2 and mi == 1:
            account = "acct-1"
            stream = derive(masters[mi], "account", account.encode())
        k = derive(stream, "prf/aes128", b"")[:16]
        st = absorb(k, h, ctx)
        rows = []
        for t in toks:
            w = word(k, st, t)
            u = uniform(w)
            rows.append({"token": t, "word": f"{w:016x}", "uniform": u, "green_0.25": u < 0.25,
                         "gumbel_score": -math.log1p(-u)})
        out["prf_cases"].append({"master_index": mi, "account": account, "context_width": h,
                                 "context": ctx, "state": st.hex(), "tokens": rows})
    json.dump(out, __import__("sys").stdout, indent=1, ensure_ascii=False)
    print()


if __name__ == "__main__":
    main()
