"""What the package promises about the arrays it accepts and the GIL:

- the logits processor and the sampler take anything with ``__array__`` and any DLPack producer
  (``__dlpack__``/``__dlpack_device__``), and bias float32 memory in place without a copy;
- ``check`` and ``scan`` release the GIL while they work, so other Python threads run.

torch itself is not installed here (its PyPI wheels pull gigabytes of CUDA libraries); its
tensors reach the package through the same two doors (``.numpy()``/``__array__`` on the CPU, and
DLPack), which these tests exercise with NumPy-backed stand-ins.
"""

import sys
import threading
import time
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


class DlpackOnly:
    """A producer that offers its memory through DLPack and nothing else (no ``__array__``,
    no buffer protocol) — the way a GPU-library or JAX array presents itself."""

    def __init__(self, a):
        self._a = a

    def __dlpack__(self, *args, **kwargs):
        return self._a.__dlpack__(*args, **kwargs)

    def __dlpack_device__(self):
        return self._a.__dlpack_device__()


class ArrayOnly:
    """Anything with ``__array__`` returning a view of its memory."""

    def __init__(self, a):
        self._a = a

    def __array__(self, dtype=None, copy=None):
        return self._a if dtype is None else self._a.astype(dtype)


def _case(vocab=4000, batch=3, seq=6, seed=5):
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, vocab, size=(batch, seq), dtype=np.int64)
    scores = rng.normal(size=(batch, vocab)).astype(np.float32)
    return ids, scores


def test_stand_ins_offer_only_their_door():
    a = np.zeros((2, 3), np.float32)
    assert not hasattr(DlpackOnly(a), "__array__")
    with pytest.raises(TypeError):
        memoryview(DlpackOnly(a))
    # np.asarray cannot see through it (it would make a 0-d object array): only DLPack works.
    assert np.asarray(DlpackOnly(a)).dtype == object
    assert np.shares_memory(np.from_dlpack(DlpackOnly(a)), a)


@pytest.mark.parametrize("wrap", [DlpackOnly, ArrayOnly], ids=["dlpack", "array"])
def test_logits_processor_biases_producers_in_place(profile, wrap):
    ids, scores = _case()
    want = provmark.LogitsProcessor(profile, account="acct-2")(ids, scores.copy())
    assert not np.array_equal(want, scores)  # the reference did bias something

    mine = scores.copy()
    out = provmark.LogitsProcessor(profile, account="acct-2")(wrap(ids), wrap(mine))
    np.testing.assert_array_equal(np.asarray(out), want)
    # No copy: the producer's own memory carries the bias.
    np.testing.assert_array_equal(mine, want)
    assert np.shares_memory(out, mine)


@pytest.mark.parametrize("wrap", [DlpackOnly, ArrayOnly], ids=["dlpack", "array"])
def test_logits_processor_converts_other_dtypes(profile, wrap):
    ids, scores = _case(seed=6)
    want = provmark.LogitsProcessor(profile)(ids, scores.copy())
    as64 = scores.astype(np.float64)
    out = provmark.LogitsProcessor(profile)(wrap(ids), wrap(as64))
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out.astype(np.float32), want)


@pytest.mark.parametrize("wrap", [DlpackOnly, ArrayOnly], ids=["dlpack", "array"])
def test_sampler_and_vllm_adapter_take_producers(profile, wrap):
    ids, scores = _case(seed=7)
    want = provmark.Sampler(profile, account="acct-4").choose(ids, scores, seed=99)
    got = provmark.Sampler(profile, account="acct-4").choose(wrap(ids), wrap(scores), seed=99)
    np.testing.assert_array_equal(got, want)

    logits = np.linspace(-1, 1, 1000, dtype=np.float32)
    want = provmark.VllmLogitsProcessor(profile)([7, 8], [9], logits.copy())
    got = provmark.VllmLogitsProcessor(profile)([7, 8], [9], wrap(logits.copy()))
    np.testing.assert_array_equal(np.asarray(got), want)


# ---- the GIL ----------------------------------------------------------------------------------
#
# A helper thread counts, sleeping 1 ms between counts. With the interpreter's switch interval
# set to 1000 s, a thread that holds the GIL is never asked to give it up within a test, so the
# counter can move during a call only if that call itself released the GIL. The measurement is
# therefore exact in one direction: a call that holds the GIL throughout gives 0 counts, every
# time (the control below shows it). A call that releases it gives counts as soon as the OS runs
# the helper during the call; each call is repeated (up to 20 times, on large inputs) until it
# does, so a loaded machine slows the test but cannot fail it. No clock is read.


class _Counter:
    def __init__(self):
        self.n = 0
        self.stop = False
        self.started = threading.Event()
        self.t = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        self.started.set()
        while not self.stop:
            self.n += 1
            time.sleep(0.001)  # releases the GIL; the count needs it back

    def __enter__(self):
        self.old = sys.getswitchinterval()
        sys.setswitchinterval(1000.0)
        self.t.start()
        self.started.wait()
        return self

    def __exit__(self, *exc):
        self.stop = True
        self.t.join()
        sys.setswitchinterval(self.old)


def _progress_during(counter, call, tries=20):
    """Counts the helper made during `call()`; repeats the call until one count is seen."""
    for _ in range(tries):
        before = counter.n
        call()
        moved = counter.n - before
        if moved > 0:
            return moved
    return 0


def test_the_gil_measurement_sees_a_call_that_holds_the_gil():
    big = list(range(3_000_000, 0, -1))
    with _Counter() as c:
        # sorted() on ints runs in C without ever releasing the GIL.
        assert _progress_during(c, lambda: sorted(big), tries=3) == 0


def _long_text():
    words = ("tea kettle water leaves cup steep minutes boil green black oolong pour warm "
             "aroma taste bitter sweet morning afternoon friend table").split()
    rng = np.random.default_rng(3)
    return " ".join(words[i] for i in rng.integers(0, len(words), 200_000))


def test_check_releases_the_gil(profile):
    text = _long_text()
    first = provmark.check(text=text, profile=profile)  # also loads the tokenizer
    with _Counter() as c:
        assert _progress_during(c, lambda: provmark.check(text=text, profile=profile)) > 0
        ids = [1000 + (i * 7919) % 150_000 for i in range(300_000)]
        assert _progress_during(c, lambda: provmark.check(token_ids=ids, profile=profile)) > 0
    assert first["scored_tokens"] > 1000


def test_scan_releases_the_gil(profile, tmp_path):
    demo = ROOT / "testdata" / "demo"
    corpus = tmp_path / "big.jsonl"
    corpus.write_bytes((demo / "suspect.jsonl").read_bytes() * 8)
    with _Counter() as c:
        n = _progress_during(c, lambda: provmark.scan(corpus, profile=profile, threads=1))
    assert n > 0
