"""The split scan's calls (map, fold, finish) driven from NumPy alone — no Spark, no Java: the
dedup done here with NumPy gives the report of ``provmark.scan``; the map returns columns only."""

import json
import warnings

import numpy as np

import provmark
import provmark.spark as ps
from provmark import _provmark
from conftest import ROOT

DEMO = ROOT / "testdata" / "demo"


def content(r):
    return {k: v for k, v in r.items() if k not in ("created", "run", "mac", "inputs")}


def test_map_fold_finish_from_numpy_equal_scan(demo_profile_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        profile = provmark.Profile.load(demo_profile_path)
    accounts = ["acct-1", "acct-2"]
    want = provmark.scan([DEMO / "suspect.jsonl"], profile, accounts=accounts, threads=2)
    settings = ps._settings_json("text", None, accounts, 1e-6, 0, 200)
    key = _provmark._split_profile_bytes(profile._inner)

    lines = [line.encode() for line in (DEMO / "suspect.jsonl").read_text().splitlines() if line.strip()]
    data = np.frombuffer(b"".join(lines), dtype=np.uint8)
    offsets = np.concatenate(([0], np.cumsum([len(x) for x in lines]))).astype(np.int64)
    ords = np.arange(len(lines), dtype=np.int64)

    # Two map tasks over halves of the records, each with its ordinals.
    mapper = _provmark.SplitMapper(key, settings)
    stride = mapper.stride
    assert stride == profile.context_width + 1
    fps, ordv, scores, ids, counters = [], [], [], [], []
    half = len(lines) // 2
    for lo, hi in ((0, half), (half, len(lines))):
        fp, o, sc, i, status, tokens, scored, log10_p = mapper.map("jsonl", ords[lo:hi], data, offsets[lo : hi + 1])
        assert fp.dtype == np.uint64 and sc.dtype == np.float64 and i.dtype == np.uint32 and status.dtype == np.uint8
        assert len(status) == len(tokens) == len(scored) == len(log10_p) == hi - lo
        assert len(i) == stride * len(fp) and (status == 0).all() and (scored > 0).all()
        fps.append(fp), ordv.append(o), scores.append(sc), ids.append(i.reshape(-1, stride))
        counters.append(mapper.take_counters())
    fp, o, sc, i = np.concatenate(fps), np.concatenate(ordv), np.concatenate(scores), np.concatenate(ids)
    assert len(np.unique(fp)) < len(fp)  # pairs repeat across records: the dedup matters

    # The shuffle: the smallest ordinal per fingerprint.
    order = np.lexsort((o, fp))
    first = order[np.concatenate(([True], fp[order][1:] != fp[order][:-1]))]
    assert len(first) == want["corpus"]["scored_tokens"]

    pieces = []
    for part in range(3):
        sel = first[fp[first] % 3 == part]
        folder = _provmark.SplitFolder(key, settings, len(lines))
        folder.add_pairs(o[sel].astype(np.int64), sc[sel], np.ascontiguousarray(i[sel]).reshape(-1))
        if part == 0:
            for index, values in counters:
                folder.add_counters(index.astype(np.int64), values.astype(np.int64))
        pieces.append(folder.piece())
    got = json.loads(_provmark._split_finish(profile._inner, settings, (len(lines), "[]", pieces)))
    assert content(got) == content(want)
    assert got["mac"] and got["inputs"] == []
