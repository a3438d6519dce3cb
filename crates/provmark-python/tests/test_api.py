"""The package's interfaces: Profile, LogitsProcessor (Hugging Face convention, NumPy and
`__array__` inputs), Sampler, the vLLM adapter against a stub, and check/scan against the
CLI's JSON."""

import json
import subprocess
import warnings

import numpy as np
import pytest

import provmark
from conftest import ROOT


@pytest.fixture(scope="module")
def profile(demo_profile_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the demo key is world-readable on purpose
        return provmark.Profile.load(demo_profile_path)


def test_profile(profile, demo_profile_path):
    assert profile.vocab_size == 200_019  # o200k_base with its special tokens
    assert profile.scheme == "green" and profile.context_width == 2
    assert "secret" not in repr(profile) and "50524f56" not in repr(profile)
    with pytest.warns(UserWarning, match="readable by other users"):
        provmark.Profile.load(demo_profile_path)
    with pytest.raises(ValueError):
        provmark.Profile.load(ROOT / "nonexistent.json")


def test_logits_processor_adds_delta_on_green_tokens(profile):
    vocab = 5000
    rng = np.random.default_rng(1)
    ids = rng.integers(0, vocab, size=(3, 7), dtype=np.int64)
    scores = rng.normal(size=(3, vocab)).astype(np.float32)
    before = scores.copy()
    proc = provmark.LogitsProcessor(profile, account="acct-1")
    out = proc(ids, scores)
    diff = out - before
    assert np.all((np.abs(diff) < 1e-6) | (np.abs(diff - 2.0) < 1e-5))
    share = (diff > 1).mean()
    assert 0.2 < share < 0.3  # gamma = 0.25

    # float64 input: same biased values, returned as float64.
    proc64 = provmark.LogitsProcessor(profile, account="acct-1")
    out64 = proc64(ids, before.astype(np.float64))
    assert out64.dtype == np.float64
    np.testing.assert_array_equal(out64.astype(np.float32), out)

    # Anything with __array__ (how torch tensors reach NumPy).
    class Tensorish:
        def __init__(self, a):
            self.a = a

        def __array__(self, dtype=None, copy=None):
            return self.a if dtype is None else self.a.astype(dtype)

    proc2 = provmark.LogitsProcessor(profile, account="acct-1")
    out2 = proc2(Tensorish(ids), Tensorish(before.copy()))
    np.testing.assert_array_equal(np.asarray(out2), out)


def test_logits_processor_skips_repeated_contexts_in_a_generation(profile):
    vocab = 100
    proc = provmark.LogitsProcessor(profile)
    ids = np.array([[5, 6]], dtype=np.int64)
    first = proc(ids, np.zeros((1, vocab), np.float32))
    assert first.max() == 2.0
    # Next step of the same generation with the same context (…, 5, 6): not biased again.
    second = proc(np.array([[5, 6, 5, 6]], dtype=np.int64), np.zeros((1, vocab), np.float32))
    assert second.max() == 0.0
    # A new generation (shorter rows) starts fresh.
    third = proc(ids, np.zeros((1, vocab), np.float32))
    np.testing.assert_array_equal(third, first)


def test_bad_inputs_raise_value_errors(profile):
    proc = provmark.LogitsProcessor(profile)
    with pytest.raises(ValueError):
        proc(np.array([[1]], dtype=np.int64), np.zeros((1, 10), np.float32))  # context too short
    with pytest.raises(ValueError):
        proc(np.array([[1, 2]], dtype=np.int64), np.zeros((2, 10), np.float32))  # rows differ
    with pytest.raises(ValueError):
        proc(np.array([[1, -2]], dtype=np.int64), np.zeros((1, 10), np.float32))
    with pytest.raises(ValueError):
        proc(np.array([[1, 2]], dtype=np.int64), np.full((1, 10), np.nan, np.float32))
    with pytest.raises(ValueError):
        provmark.check(text="", profile=profile)
    with pytest.raises(ValueError):
        provmark.check(text="x", token_ids=[1, 2, 3], profile=profile)


def _generate(profile, steps, vocab, watermark, account=None, seed=0):
    """A toy high-entropy model driven through the Sampler (or plain NumPy sampling)."""
    rng = np.random.default_rng(seed)
    sampler = provmark.Sampler(profile, account=account)
    ids = [11, 12]
    for t in range(steps):
        logits = (rng.random(vocab, dtype=np.float32) * 4).astype(np.float32)
        if watermark:
            tok = sampler.choose(np.array([ids]), logits[None, :], seed=t)[0]
        else:
            p = np.exp(logits - logits.max())
            tok = rng.choice(vocab, p=p / p.sum())
        ids.append(int(tok))
    return ids


def test_sampler_watermarks_and_check_attributes(profile):
    ids = _generate(profile, 300, 2000, True, account="acct-7")
    r = provmark.check(token_ids=ids, profile=profile, accounts=["acct-1", "acct-7", "acct-9"])
    assert r["verdict"] == "watermarked" and r["account"] == "acct-7"
    clean = _generate(profile, 300, 2000, False)
    r = provmark.check(token_ids=clean, profile=profile)
    assert r["verdict"] == "not_watermarked"


def _cli_json(cli, *args, stdin=None):
    p = subprocess.run([str(cli), *map(str, args)], input=stdin, capture_output=True)
    assert p.returncode in (0, 1), p.stderr.decode()
    return json.loads(p.stdout)


def test_check_equals_cli_json(profile, cli, demo_profile_path, tmp_path):
    text = subprocess.run(
        [str(cli), "generate-sim", "--profile", str(demo_profile_path), "--tokens", "400",
         "--temperature", "3", "--account", "acct-9"],
        capture_output=True, check=True,
    ).stdout.decode()
    f = tmp_path / "t.txt"
    f.write_text(text)
    accts = tmp_path / "a.txt"
    accts.write_text("acct-1\nacct-9\n")
    want = _cli_json(cli, "check", "--json", "--profile", demo_profile_path, f, "--accounts-file", accts)
    got = provmark.check(text=text, profile=profile, accounts=["acct-1", "acct-9"])
    assert got == want
    assert got["verdict"] == "watermarked" and got["account"] == "acct-9" and got["spans"]

    ids = json.dumps(list(range(1000, 1400)))
    (tmp_path / "ids.json").write_text(ids)
    want = _cli_json(cli, "check", "--json", "--profile", demo_profile_path, "--token-ids", tmp_path / "ids.json")
    assert provmark.check(token_ids=list(range(1000, 1400)), profile=profile) == want


def test_scan_equals_cli_report(profile, cli, demo_profile_path, tmp_path):
    demo = ROOT / "testdata" / "demo"
    out = tmp_path / "r.json"
    subprocess.run(
        [str(cli), "scan", str(demo / "suspect.jsonl"), "--control", str(demo / "control.jsonl"),
         "--profile", str(demo_profile_path), "--out", str(out), "--quiet", "--threads", "2"],
        capture_output=True,
    )
    want = json.loads(out.read_text())
    got = provmark.scan(demo / "suspect.jsonl", profile=profile, control=[demo / "control.jsonl"], threads=2)
    for r in (want, got):
        for k in ("created", "run", "mac"):
            r.pop(k, None)
    assert got == want
    assert got["evidence"]["verdict"] == "watermarked"


class StubVllmEngine:
    """A stand-in with vLLM's per-request logits-processor calling convention
    (`processor(output_token_ids, logits)` / `processor(prompt_ids, output_ids, logits)` on one
    sequence's 1-D logits); vLLM itself is not installable here."""

    def __init__(self, vocab, seed=0):
        self.vocab = vocab
        self.rng = np.random.default_rng(seed)

    def generate(self, prompt, processors, steps, three_args=False):
        out = []
        for _ in range(steps):
            logits = (self.rng.random(self.vocab, dtype=np.float32) * 4).astype(np.float32)
            for p in processors:
                logits = p(list(prompt), list(out), logits) if three_args else p(list(out), logits)
            probs = np.exp(logits - logits.max())
            out.append(int(self.rng.choice(self.vocab, p=probs / probs.sum())))
        return out


def test_vllm_adapter_against_stub(profile):
    for three in (False, True):
        prompt = [101, 102, 103] if three else []
        if not three:
            # Two-argument form: the context comes from the output alone; seed it with two ids.
            pass
        adapter = provmark.VllmLogitsProcessor(profile, account="acct-3")
        engine = StubVllmEngine(3000, seed=4)
        if three:
            out = engine.generate(prompt, [adapter], 300, three_args=True)
            ids = prompt + out
        else:
            adapter2 = provmark.VllmLogitsProcessor(profile, account="acct-3")
            calls = []

            def skip_short(output, logits):
                calls.append(len(output))
                return logits if len(output) < 2 else adapter2(output, logits)

            out = engine.generate(prompt, [skip_short], 300)
            ids = out
            assert calls[:3] == [0, 1, 2]
        r = provmark.check(token_ids=ids, profile=profile, accounts=["acct-3", "acct-4"])
        assert r["verdict"] == "watermarked" and r["account"] == "acct-3", r

    # The adapter biases exactly as the Hugging Face-style processor does.
    vocab = 1000
    logits = np.linspace(-1, 1, vocab, dtype=np.float32)
    a = provmark.VllmLogitsProcessor(profile)([7, 8], [9], logits.copy())
    h = provmark.LogitsProcessor(profile)(np.array([[7, 8, 9]]), logits.copy()[None, :])[0]
    np.testing.assert_array_equal(a, h)


def test_prompt_contexts_are_not_scored(profile, cli, demo_profile_path, tmp_path):
    ids = list(range(2000, 2300))
    full = provmark.check(token_ids=ids, profile=profile)
    by_ids = provmark.check(token_ids=ids, profile=profile, prompt_token_ids=ids[:100])
    assert by_ids["scored_tokens"] < full["scored_tokens"]
    text = "The quick brown fox jumps over the lazy dog. " * 3 + "An answer that goes on for a while."
    prompt = "The quick brown fox jumps over the lazy dog."
    (tmp_path / "t.txt").write_text(text)
    (tmp_path / "p.txt").write_text(prompt)
    want = _cli_json(cli, "check", "--json", "--profile", demo_profile_path, tmp_path / "t.txt", "--prompt-file", tmp_path / "p.txt")
    assert _cli_json(cli, "check", "--json", "--profile", demo_profile_path, tmp_path / "t.txt", "--prompt", prompt) == want
    assert provmark.check(text=text, prompt=prompt, profile=profile) == want
    with pytest.raises(ValueError):
        provmark.check(token_ids=ids, profile=profile, prompt="x", prompt_token_ids=[1, 2])
