#!/usr/bin/env python3
"""An independent SmolLM2 tokenizer, written from scratch, to pin provmark's GGUF tokenizer.

It reads the vocabulary with the `gguf` package's reader (llama.cpp's own Python reader, not our Rust
one), then tokenizes with a byte-level BPE written here from the published algorithm (GPT-2's byte
to unicode table, pre-tokenizer split, lowest-rank merge first) and llama.cpp's documented rule for
the `smollm` pre-tokenizer (every `\\p{N}` character alone, then the GPT-2 split). Control tokens
spelled in the text are their own ids.

It writes `testdata/smollm2/reference_ids.jsonl`: for every text of `../shared/corpora` (and a few
adversarial strings), the number of ids and the SHA-256 of the ids as little-endian u32 — the Rust
test `crates/provmark-tokenize/tests/gguf.rs` encodes the same texts and compares.

Usage: python tools/smollm2_tokenizer_ref.py MODEL.gguf [--corpora ../shared/corpora] [--out FILE]
Needs: pip install gguf regex
"""
import argparse
import glob
import hashlib
import json
import os
import struct
import sys

import regex
from gguf import GGUFReader

GPT2_SPLIT = regex.compile(
    r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
)
DIGIT = regex.compile(r"\p{N}")

# Fields of each shared corpus that hold text.
FIELDS = {
    "cnn_dailymail_200.jsonl": ["article", "highlights"],
    "wmt16_de_en_validation.jsonl": ["de", "en"],
    "human_eval_164.jsonl": ["prompt", "canonical_solution"],
    "llama2_chat_unwatermarked_1000.jsonl": ["prompt", "result"],
}

ADVERSARIAL = [
    "",
    " ",
    "  leading spaces and trailing   ",
    "tabs\tand\nnewlines\n\n\n  \n",
    "numbers 1234567890 and 3.14159, ½ ⅔ ² and ١٢٣",
    "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
    "<|endoftext|><|endoftext|>text<|im_end|>",
    "emoji 👩‍👩‍👧‍👦 and CJK 漢字かなカナ한국어",
    "don't can't it's we're I've I'm you'll he'd DON'T",
    "Mixed-CASE_identifiers::with->symbols!!! ???",
    "\u00a0non-breaking\u2009thin\u3000ideographic spaces",
    "a" * 500,
    "https://example.com/path?query=1&x=2#frag",
]


def bytes_to_unicode():
    """GPT-2's reversible map from bytes to printable unicode characters."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


class Bpe:
    def __init__(self, path):
        r = GGUFReader(path)
        f = r.fields
        assert f["tokenizer.ggml.model"].contents() == "gpt2"
        assert f["tokenizer.ggml.pre"].contents() == "smollm"
        self.tokens = f["tokenizer.ggml.tokens"].contents()
        types = f["tokenizer.ggml.token_type"].contents()
        merges = f["tokenizer.ggml.merges"].contents()
        self.ids = {t: i for i, t in enumerate(self.tokens)}
        self.ranks = {tuple(m.split(" ", 1)): i for i, m in enumerate(merges)}
        self.specials = sorted(
            [(t, i) for i, t in enumerate(self.tokens) if types[i] == 3], key=lambda x: -len(x[0])
        )
        self.b2u = bytes_to_unicode()
        self.cache = {}

    def bpe(self, piece):
        if piece in self.cache:
            return self.cache[piece]
        word = [self.b2u[b] for b in piece.encode("utf-8")]
        while len(word) > 1:
            best = None
            for i in range(len(word) - 1):
                r = self.ranks.get((word[i], word[i + 1]))
                if r is not None and (best is None or r < best[0]):
                    best = (r, i)
            if best is None:
                break
            _, i = best
            word = word[:i] + [word[i] + word[i + 1]] + word[i + 2:]
        ids = [self.ids[w] for w in word]
        self.cache[piece] = ids
        return ids

    def encode_plain(self, text):
        out = []
        # smollm: every numeric character alone, then the GPT-2 split of what lies between.
        pos = 0
        for m in DIGIT.finditer(text):
            for p in GPT2_SPLIT.findall(text[pos:m.start()]):
                out += self.bpe(p)
            out += self.bpe(m.group())
            pos = m.end()
        for p in GPT2_SPLIT.findall(text[pos:]):
            out += self.bpe(p)
        return out

    def encode(self, text):
        out = []
        i = 0
        start = 0
        while i < len(text):
            hit = None
            for s, sid in self.specials:
                if text.startswith(s, i):
                    hit = (s, sid)
                    break
            if hit:
                out += self.encode_plain(text[start:i])
                out.append(hit[1])
                i += len(hit[0])
                start = i
            else:
                i += 1
        out += self.encode_plain(text[start:])
        return out


def texts(corpora):
    for a in ADVERSARIAL:
        yield ("adversarial", ADVERSARIAL.index(a), "text", a)
    for name, fields in FIELDS.items():
        path = os.path.join(corpora, name)
        if not os.path.exists(path):
            continue
        with open(path, encoding="utf-8") as fh:
            for ln, line in enumerate(fh):
                rec = json.loads(line)
                for fl in fields:
                    if isinstance(rec.get(fl), str):
                        yield (name, ln, fl, rec[fl])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--corpora", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "corpora"))
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "testdata", "smollm2", "reference_ids.jsonl"))
    a = ap.parse_args()
    bpe = Bpe(a.model)
    n = 0
    with open(a.out, "w", encoding="utf-8") as out:
        for src, ln, fl, t in texts(a.corpora):
            ids = bpe.encode(t)
            digest = hashlib.sha256(struct.pack(f"<{len(ids)}I", *ids)).hexdigest()
            rec = {"source": src, "line": ln, "field": fl, "n": len(ids), "sha256": digest}
            if src == "adversarial":
                rec["text"] = t
                rec["ids"] = ids
            out.write(json.dumps(rec, ensure_ascii=False) + "\n")
            n += 1
    print(f"wrote {n} texts to {a.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
