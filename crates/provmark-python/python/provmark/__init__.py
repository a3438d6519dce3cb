"""provmark: keyed LLM watermarks with exact detection, from Python.

Serving::

    import provmark
    profile = provmark.Profile.load("key.json")
    proc = provmark.LogitsProcessor(profile, account="account-42")
    scores = proc(input_ids, scores)          # [batch, seq] ids, [batch, vocab] scores

Detection::

    report = provmark.check(text=answer, profile=profile, accounts=["account-42"])
    report["verdict"], report["p_value"], report.get("account")

Everything keyed or statistical runs in the Rust libraries (the same code as the ``provmark``
command line); ``check`` and ``scan`` return the same objects as ``provmark check --json`` and
the JSON evidence report of ``provmark scan``, and release the GIL while they work.
"""

from __future__ import annotations

import json
import os
import warnings as _warnings
from typing import Any, Iterable, List, Optional, Sequence, Union

import numpy as np

from . import _provmark
from ._provmark import Sequence as SequenceState  # noqa: F401

__all__ = [
    "Profile",
    "Embedder",
    "SequenceState",
    "LogitsProcessor",
    "Sampler",
    "VllmLogitsProcessor",
    "check",
    "scan",
]

__version__ = _provmark.__version__

PathLike = Union[str, "os.PathLike[str]"]


class Profile:
    """A watermark profile (holds the secret key). Load with :meth:`Profile.load`."""

    __slots__ = ("_inner",)

    def __init__(self, inner: "_provmark.Profile") -> None:
        self._inner = inner

    @classmethod
    def load(cls, path: PathLike) -> "Profile":
        """Loads a profile file; its warnings (e.g. readable by other users) become
        ``UserWarning``s."""
        inner, warns = _provmark.Profile._load(os.fspath(path))
        for w in warns:
            _warnings.warn(w, UserWarning, stacklevel=2)
        return cls(inner)

    @property
    def vocab_size(self) -> int:
        """Vocabulary size of the profile's tokenizer, special tokens included."""
        return self._inner.vocab_size

    @property
    def key_id(self) -> str:
        """The public key id."""
        return self._inner.key_id

    @property
    def scheme(self) -> str:
        """``green`` or ``gumbel`` (or an imported scheme)."""
        return self._inner.scheme

    @property
    def context_width(self) -> int:
        """Context width h: the previous h tokens key each step."""
        return self._inner.context_width

    def embedder(self, account: Optional[str] = None, vocab_size: Optional[int] = None) -> "_provmark.Embedder":
        """The serving library for the master key or one account's subkey."""
        return _provmark.Embedder(self._inner, account, vocab_size)

    def __repr__(self) -> str:
        return repr(self._inner)


def Embedder(profile: Profile, account: Optional[str] = None, vocab_size: Optional[int] = None) -> "_provmark.Embedder":
    """The serving library for one stream key: ``emb.new_sequence()`` gives a per-sequence
    state; ``emb.bias(seq, context, logits)`` returns ``(biased_copy, biased)`` and
    ``emb.choose(seq, context, logits, seed)`` returns ``(token, watermarked)`` (float32 1-D
    logits over the vocabulary; the vocabulary defaults to the profile tokenizer's)."""
    return profile.embedder(account, vocab_size)


def _ids_array(input_ids: Any) -> np.ndarray:
    ids = _as_array(input_ids)
    if ids.ndim == 1:
        ids = ids[None, :]
    if ids.ndim != 2:
        raise ValueError(f"input_ids must have shape [batch, seq], got {ids.shape}")
    return np.ascontiguousarray(ids, dtype=np.int64)


def _is_torch(x: Any) -> bool:
    return type(x).__module__.split(".")[0] == "torch"


class LogitsProcessor:
    """Green-list watermark with Hugging Face's ``LogitsProcessor`` calling convention.

    ``proc(input_ids, scores)`` takes ``[batch, seq]`` token ids and ``[batch, vocab]`` scores
    (NumPy arrays, torch tensors, anything with ``__array__``, or DLPack producers with
    ``__dlpack__``) and returns the scores with ``+delta`` on the green tokens of each row's
    context (the last h ids of the row). A context that already occurred in the row's
    generation is left unbiased (spec §4.3). Float32 C-contiguous writeable CPU memory is
    biased in place without a copy (a CPU float32 torch tensor through ``.numpy()``, an
    ``__array__`` that returns a view, a DLPack producer through ``np.from_dlpack``); other
    dtypes and devices are converted to float32 and back. A torch tensor comes back as a
    torch tensor; every other input as a NumPy array (sharing the input's memory when it was
    biased in place).

    One processor follows one batch of generations: a call with another batch size, or with
    rows no longer than the previous call's, starts new sequences (or call :meth:`reset`).
    """

    def __init__(self, profile: Profile, account: Optional[str] = None) -> None:
        self.profile = profile
        self.account = account
        self._core = _provmark.BatchBias(profile._inner, account)

    def reset(self) -> None:
        """Starts new sequences."""
        self._core.reset()

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        ids = _ids_array(input_ids)
        if _is_torch(scores):
            if scores.device.type == "cpu" and scores.dtype == _torch().float32 and scores.is_contiguous():
                arr = scores.detach().numpy()  # shares memory
                self._core.apply(ids, arr)
                return scores
            arr = np.ascontiguousarray(scores.detach().float().cpu().numpy())
            self._core.apply(ids, arr)
            return _torch().from_numpy(arr).to(device=scores.device, dtype=scores.dtype)
        arr = _as_array(scores)
        squeeze = arr.ndim == 1
        if squeeze:
            arr = arr[None, :]
        if arr.dtype == np.float32 and arr.flags.c_contiguous and arr.flags.writeable:
            self._core.apply(ids, arr)
            return arr[0] if squeeze else arr
        out = np.ascontiguousarray(arr, dtype=np.float32)
        self._core.apply(ids, out)
        out = out.astype(arr.dtype, copy=False)
        return out[0] if squeeze else out


class Sampler:
    """Watermarked token choice, one token per row: green list — an exact sample from the
    biased distribution; Gumbel — the keyed selection (which replaces sampling).

    ``choose(input_ids, logits, seed=...)`` takes ``[batch, seq]`` ids and ``[batch, vocab]``
    logits and returns an ``int64`` array of ``batch`` tokens. The rows draw from one ChaCha8
    generator seeded with ``seed`` (the same convention as the Rust and C calls, so they give
    the same tokens bit for bit). :attr:`last_watermarked` tells which rows carried the mark.
    """

    def __init__(self, profile: Profile, account: Optional[str] = None) -> None:
        self.profile = profile
        self.account = account
        self._core = _provmark.BatchSampler(profile._inner, account)
        self.last_watermarked: List[bool] = []

    def reset(self) -> None:
        """Starts new sequences."""
        self._core.reset()

    def choose(self, input_ids: Any, logits: Any, seed: int) -> np.ndarray:
        ids = _ids_array(input_ids)
        arr = _as_array(logits)
        if arr.ndim == 1:
            arr = arr[None, :]
        arr = np.ascontiguousarray(arr, dtype=np.float32)
        tokens, marked = self._core.choose(ids, arr, int(seed) & 0xFFFF_FFFF_FFFF_FFFF)
        self.last_watermarked = list(marked)
        return np.asarray(tokens, dtype=np.int64)


class VllmLogitsProcessor:
    """Adapter for vLLM's per-request logits-processor convention (vLLM 0.6–0.10 V0
    ``SamplingParams(logits_processors=[...])``): ``fn(output_token_ids, logits) -> logits``
    (or ``fn(prompt_token_ids, output_token_ids, logits)``) per sequence, where ``logits`` is a
    1-D ``[vocab]`` torch tensor and the id lists are Python lists.

    The context of the first generated tokens reaches into the prompt, so the adapter keys
    each step with the last h ids of prompt + output. One adapter instance per request
    (vLLM calls a processor for one sequence); tested against a stub with this calling
    convention, since vLLM itself is not installable on the development machine.
    """

    def __init__(self, profile: Profile, account: Optional[str] = None) -> None:
        self._proc = LogitsProcessor(profile, account)

    def __call__(self, *args: Any) -> Any:
        if len(args) == 2:
            prompt, output, logits = [], args[0], args[1]
        elif len(args) == 3:
            prompt, output, logits = args
        else:
            raise TypeError("expected (output_token_ids, logits) or (prompt_token_ids, output_token_ids, logits)")
        ids = np.asarray(list(prompt) + list(output), dtype=np.int64)[None, :]
        if _is_torch(logits):
            return self._proc(ids, logits.unsqueeze(0))[0]
        return self._proc(ids, _as_array(logits)[None, :])[0]


def _torch():
    import torch  # only when the caller passed torch tensors

    return torch


def _as_array(x: Any) -> np.ndarray:
    """A NumPy view of ``x`` where possible (no copy): an ndarray as is, a torch tensor through
    ``.numpy()`` (copied to the CPU first if it lives elsewhere), anything with ``__array__``
    through ``np.asarray``, and a DLPack producer (``__dlpack__``/``__dlpack_device__``, e.g. a
    CuPy or JAX CPU array) through ``np.from_dlpack``, which shares its memory."""
    if isinstance(x, np.ndarray):
        return x
    if _is_torch(x):
        return x.detach().cpu().numpy()
    if not hasattr(x, "__array__") and hasattr(x, "__dlpack__"):
        return np.from_dlpack(x)
    return np.asarray(x)


def _profile_inner(profile: Union[Profile, PathLike]) -> "_provmark.Profile":
    if isinstance(profile, Profile):
        return profile._inner
    return Profile.load(profile)._inner


def check(
    text: Optional[str] = None,
    token_ids: Optional[Iterable[int]] = None,
    profile: Union[Profile, PathLike, None] = None,
    accounts: Optional[Sequence[str]] = None,
    *,
    alpha: float = 1e-6,
    prompt: Optional[str] = None,
    prompt_token_ids: Optional[Iterable[int]] = None,
    dedup: Optional[str] = None,
    score_special: bool = False,
) -> dict:
    """Tests one text (or token ids) for the watermark; returns the object that
    ``provmark check --json`` prints (verdict, exact p-value, best account, spans).

    ``prompt`` (text) or ``prompt_token_ids``: the prompt the text answered; pairs whose
    context occurs in it are not scored."""
    if profile is None:
        raise TypeError("check() needs profile=")
    ids = None if token_ids is None else [int(i) for i in np.asarray(token_ids).reshape(-1)]
    out = _provmark._check(
        _profile_inner(profile),
        text=text,
        token_ids=ids,
        accounts=list(accounts) if accounts is not None else None,
        alpha=alpha,
        prompt=prompt,
        prompt_token_ids=None if prompt_token_ids is None else [int(i) for i in np.asarray(prompt_token_ids).reshape(-1)],
        dedup=dedup,
        score_special=score_special,
    )
    return json.loads(out)


def scan(
    paths: Union[PathLike, Sequence[PathLike]],
    profile: Union[Profile, PathLike, None] = None,
    *,
    control: Optional[Sequence[PathLike]] = None,
    accounts: Optional[Sequence[str]] = None,
    field: str = "text",
    prompt_field: Optional[str] = None,
    id_field: Optional[str] = None,
    filter_from: Optional[Sequence[PathLike]] = None,
    alpha: float = 1e-6,
    threads: Optional[int] = None,
    memory_mib: Optional[int] = None,
    min_tokens: int = 0,
) -> dict:
    """Scans a corpus for distillation evidence; returns the sealed JSON evidence report of
    ``provmark scan --out`` (``provmark verify-report`` accepts it written back verbatim)."""
    if profile is None:
        raise TypeError("scan() needs profile=")
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    fs = lambda xs: None if xs is None else [os.fspath(x) for x in xs]  # noqa: E731
    out = _provmark._scan(
        [os.fspath(p) for p in paths],
        _profile_inner(profile),
        control=fs(control),
        accounts=list(accounts) if accounts is not None else None,
        field=field,
        prompt_field=prompt_field,
        id_field=id_field,
        filter_from=fs(filter_from),
        alpha=alpha,
        threads=threads,
        memory_mib=memory_mib,
        min_tokens=min_tokens,
    )
    return json.loads(out)
