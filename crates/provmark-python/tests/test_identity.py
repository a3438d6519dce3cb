"""Python and Rust give the same biased logits and the same tokens, bit for bit, over many
random cases (vectors written by the Rust serving library itself)."""

import json
import warnings

import numpy as np

import provmark


def _load(identity_dir, name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return provmark.Profile.load(identity_dir / f"{name}.json")


def test_biased_logits_and_tokens_match_rust(identity_dir):
    cases = json.loads((identity_dir / "vectors.json").read_text())
    assert len(cases) >= 500
    profiles = {n: _load(identity_dir, n) for n in ("green", "gumbel")}
    biased_rows = 0
    for i, c in enumerate(cases):
        profile = profiles[c["profile"]]
        ids = np.asarray(c["input_ids"], dtype=np.int64)
        logits = np.asarray(c["logits_bits"], dtype=np.uint32).view(np.float32)

        sampler = provmark.Sampler(profile, account=c["account"])
        tokens = sampler.choose(ids, logits.copy(), seed=c["seed"])
        assert tokens.tolist() == c["tokens"], f"case {i}: tokens differ"

        if c["profile"] == "green":
            proc = provmark.LogitsProcessor(profile, account=c["account"])
            scores = logits.copy()
            out = proc(ids, scores)
            assert out is scores, "float32 C-contiguous scores are biased in place"
            for r, want in enumerate(c["biased_bits"]):
                assert want is not None
                got = out[r].view(np.uint32).tolist()
                assert got == want, f"case {i} row {r}: biased logits differ"
                biased_rows += 1
    assert biased_rows > 0


def test_single_sequence_embedder_matches_batch_sampler(identity_dir):
    profile = _load(identity_dir, "green")
    cases = [c for c in json.loads((identity_dir / "vectors.json").read_text()) if c["profile"] == "green"]
    for c in cases[:50]:
        if len(c["input_ids"]) != 1:
            continue
        logits = np.asarray(c["logits_bits"][0], dtype=np.uint32).view(np.float32)
        emb = provmark.Embedder(profile, c["account"], vocab_size=len(logits))
        seq = emb.new_sequence()
        token, marked = emb.choose(seq, c["input_ids"][0], logits, c["seed"])
        assert token == c["tokens"][0] and marked
        biased, done = emb.bias(emb.new_sequence(), c["input_ids"][0], logits)
        assert done and biased.view(np.uint32).tolist() == c["biased_bits"][0]
