"""Scan a corpus on Apache Spark: the pooled test of ``provmark scan``, with the same report.

``scan(spark, paths_or_dataframe, profile=…)`` runs the split scan of
``provmark_scan::split`` on a Spark session:

1. **count** (Spark only, no Python): records per input split (file and byte offset), so that
   every record gets the global input ordinal it has in ``provmark scan`` whatever the
   partitioning;
2. **map** (``mapInArrow``): the Rust mapper parses, tokenizes and scores each record's pairs and
   emits one row per (record, distinct pair): keyed fingerprint, ordinal, score (and the pair's
   ids when accounts are tested), plus the record counters;
3. **shuffle** (Spark's engine): ``groupBy(fingerprint)``, keeping the row of the smallest
   ordinal (``min`` / ``min_by``) — one shuffle, with Spark's own map-side partial aggregation;
4. **fold** (``mapInArrow`` per reduce partition): exact accumulators (one small piece each);
5. **finish** (driver): the pieces → the sealed report, content bit-identical to
   ``provmark scan``'s (statistic, scored pairs, p-value, curve, accounts, skip counts).

The profile's secret reaches executors only as a broadcast value, held in memory by each Python
worker; it is never in a file name, a configuration value, a log line, a job or task description.
PySpark writes broadcast values to a local file unless ``spark.io.encryption.enabled`` is true,
so ``scan`` requires that setting unless ``allow_unencrypted_broadcast=True``.

JSONL is read with Spark's text source (one record per ``\\n``-terminated line, parsed by the
same Rust code as ``provmark scan``: the same skip reasons); Parquet with Spark's Parquet source
(``field`` and ``prompt_field`` columns). A DataFrame is read in partition order.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from . import Profile, _profile_inner, _provmark

PathLike = Union[str, "os.PathLike[str]"]

# Counter rows share the grouping key with pairs: kind 1, key = task partition << 10 | counter.
_COUNTER_BITS = 10
_JSONL_GLOB = "*.{jsonl,ndjson,json,jsonl.gz,ndjson.gz,json.gz}"
_WHITESPACE = " \t\n\x0c\r"  # what the scan's JSONL reader treats as a blank line

__all__ = ["scan"]


def _settings_json(field, prompt_field, accounts, alpha, min_tokens, curve_bins) -> str:
    return json.dumps(
        {
            "field": field,
            "prompt_field": prompt_field,
            "accounts": list(accounts),
            "alpha": alpha,
            "min_tokens": int(min_tokens),
            "curve_bins": int(curve_bins),
            "tokenizer_path": None,
        }
    )


def _strings(arr) -> Tuple[np.ndarray, np.ndarray, Optional[np.ndarray]]:
    """(data bytes, int64 offsets, validity or None) of an Arrow string/binary array, without a
    Python object per value."""
    import pyarrow as pa

    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    t = arr.type
    large = pa.types.is_large_string(t) or pa.types.is_large_binary(t)
    if not (large or pa.types.is_string(t) or pa.types.is_binary(t)):
        raise TypeError(f"expected a string or binary column, got {t}")
    bufs = arr.buffers()
    n = len(arr)
    if bufs[1] is None:
        offsets = np.zeros(n + 1, dtype=np.int64)
    else:
        off = np.frombuffer(bufs[1], dtype=np.int64 if large else np.int32)
        offsets = off[arr.offset : arr.offset + n + 1].astype(np.int64)
    data = np.frombuffer(bufs[2], dtype=np.uint8) if bufs[2] is not None and bufs[2].size else np.zeros(0, np.uint8)
    valid = None
    if arr.null_count:
        valid = arr.is_valid().to_numpy(zero_copy_only=False)
    return data, offsets, valid


# One mapper per Python worker process, reused by the tasks of one scan (the tokenizer loads once).
_MAPPER: Dict[str, Any] = {}


def _mapper(bc_profile, settings_json: str, run_id: str):
    key = f"{run_id}:{settings_json}"
    if _MAPPER.get("key") != key:
        _MAPPER.clear()
        _MAPPER["mapper"] = _provmark.SplitMapper(bc_profile.value, settings_json)
        _MAPPER["key"] = key
    return _MAPPER["mapper"]


def _id_words(stride: int) -> int:
    """64-bit columns that carry a pair's `stride` u32 ids (fixed-width columns keep Spark's
    aggregation hash-based: a binary column would make it sort-based)."""
    return (stride + 1) // 2


def _ids_to_words(ids: np.ndarray, n: int, stride: int) -> List[np.ndarray]:
    w = _id_words(stride)
    padded = np.zeros((n, 2 * w), dtype="<u4")
    padded[:, :stride] = ids.reshape(n, stride)
    words = padded.view("<i8")
    return [np.ascontiguousarray(words[:, k]) for k in range(w)]


def _words_to_ids(words: List[np.ndarray], stride: int) -> np.ndarray:
    n = len(words[0])
    stacked = np.ascontiguousarray(np.stack(words, axis=1).astype("<i8"))
    return np.ascontiguousarray(stacked.view("<u4").reshape(n, -1)[:, :stride]).reshape(-1)


def _make_map(bc_profile, bc_offsets, settings_json: str, kind: str, by_file: bool, stride: int, run_id: str):
    def map_fn(batches):
        import pyarrow as pa
        from pyspark import TaskContext

        mapper = _mapper(bc_profile, settings_json, run_id)
        mapper.take_counters()  # drop what a failed task on this worker left
        pid = TaskContext.get().partitionId()
        offsets = bc_offsets.value
        rows_seen: Dict[Tuple[Any, int], int] = {}
        names = ["kind", "fp", "ord", "score"] + [f"id{k}" for k in range(_id_words(stride))]
        for b in batches:
            n = b.num_rows
            if n == 0:
                continue
            # Ordinals: each input split's rows arrive contiguous and in order.
            if by_file:
                files = b.column(b.schema.get_field_index("__file")).dictionary_encode()
                fidx = files.indices.to_numpy(zero_copy_only=False)
                fdict = files.dictionary.to_pylist()
                block = b.column(b.schema.get_field_index("__block")).to_numpy(zero_copy_only=False)
                change = np.flatnonzero((fidx[1:] != fidx[:-1]) | (block[1:] != block[:-1])) + 1
                starts = np.concatenate(([0], change))
                keys = [(fdict[fidx[s]], int(block[s])) for s in starts]
            else:
                starts = np.array([0])
                keys = [(pid, 0)]
            ends = np.append(starts[1:], n)
            ords = np.empty(n, dtype=np.int64)
            for key, s, e in zip(keys, starts, ends):
                if key not in offsets:
                    raise RuntimeError(
                        f"input split {key} was not counted before the map (did the input change during the scan?)"
                    )
                base = offsets[key] + rows_seen.get(key, 0)
                ords[s:e] = base + np.arange(e - s, dtype=np.int64)
                rows_seen[key] = rows_seen.get(key, 0) + int(e - s)
            td, to, tv = _strings(b.column(b.schema.get_field_index("__text")))
            kwargs = {}
            if "__prompt" in b.schema.names:
                pd_, po, pv = _strings(b.column(b.schema.get_field_index("__prompt")))
                kwargs = dict(prompt_data=pd_, prompt_offsets=po, prompt_valid=pv)
            fp, ordv, score, ids, *_records = mapper.map(kind, ords, td, to, tv, **kwargs)
            m = len(fp)
            cols = [
                pa.array(np.zeros(m, dtype=np.int8)),
                pa.array(fp.view(np.int64)),
                pa.array(ordv.view(np.int64)),
                pa.array(score),
            ]
            if stride:
                cols.extend(pa.array(c) for c in _ids_to_words(ids, m, stride))
            yield pa.RecordBatch.from_arrays(cols, names=names)
        index, values = mapper.take_counters()
        k = len(index)
        if k:
            cols = [
                pa.array(np.ones(k, dtype=np.int8)),
                pa.array((np.int64(pid) << _COUNTER_BITS) | index.astype(np.int64)),
                pa.array(values.view(np.int64)),
                pa.array(np.zeros(k)),
            ]
            cols.extend(pa.array(np.zeros(k, dtype=np.int64)) for _ in range(_id_words(stride)))
            yield pa.RecordBatch.from_arrays(cols, names=names)

    return map_fn


def _make_fold(bc_profile, settings_json: str, records_total: int, stride: int):
    def fold_fn(batches):
        import pyarrow as pa
        import pyarrow.compute as pc

        folder = _provmark.SplitFolder(bc_profile.value, settings_json, records_total)
        for b in batches:
            if b.num_rows == 0:
                continue
            is_pair = pc.equal(b.column(0), 0)
            pairs = b.filter(is_pair)
            if pairs.num_rows:
                ids = None
                if stride:
                    words = [pairs.column(4 + k).to_numpy(zero_copy_only=False) for k in range(_id_words(stride))]
                    ids = _words_to_ids(words, stride)
                folder.add_pairs(
                    pairs.column(2).to_numpy(zero_copy_only=False).astype(np.int64),
                    pairs.column(3).to_numpy(zero_copy_only=False).astype(np.float64),
                    ids,
                )
            counters = b.filter(pc.invert(is_pair))
            if counters.num_rows:
                key = counters.column(1).to_numpy(zero_copy_only=False).astype(np.int64)
                folder.add_counters(key & ((1 << _COUNTER_BITS) - 1), counters.column(2).to_numpy(zero_copy_only=False).astype(np.int64))
        yield pa.RecordBatch.from_arrays([pa.array([folder.piece()], pa.binary())], names=["piece"])

    return fold_fn


def _local_path(uri: str) -> Optional[str]:
    if uri.startswith("file:"):
        rest = uri[len("file:") :]
        return "/" + rest.lstrip("/")
    if "://" not in uri:
        return os.path.abspath(uri)
    return None


def _norm(uri: str) -> str:
    from urllib.parse import unquote

    local = _local_path(unquote(uri))
    return local if local is not None else uri


def _file_order(uris: Sequence[str], given: Sequence[str]) -> List[Tuple[str, str]]:
    """(uri, display path) in the order ``provmark scan`` reads them: the paths as given, and the
    files of a directory sorted by path components."""
    roots = [_norm(os.fspath(p)) for p in given]
    keyed = []
    for u in uris:
        n = _norm(u)
        for i, r in enumerate(roots):
            if n == r:
                keyed.append(((i, ()), u, os.fspath(given[i])))
                break
            if n.startswith(r.rstrip("/") + "/"):
                rel = n[len(r.rstrip("/")) + 1 :]
                keyed.append(((i, tuple(rel.split("/"))), u, os.path.join(os.fspath(given[i]), rel)))
                break
        else:
            keyed.append(((len(roots), (n,)), u, u))
    keyed.sort(key=lambda k: k[0])
    return [(u, d) for _, u, d in keyed]


def _sha256_file(path: str) -> Tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while True:
            chunk = f.read(1 << 20)
            if not chunk:
                break
            size += len(chunk)
            h.update(chunk)
    return h.hexdigest(), size


def _read(spark, source, fmt: Optional[str], field: str, prompt_field: Optional[str]):
    """(DataFrame with __text[, __prompt][, __file, __block], kind, by_file, given paths)."""
    from pyspark.sql import DataFrame
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    if isinstance(source, DataFrame):
        if field not in source.columns:
            raise ValueError(f"the DataFrame has no column {field!r} (columns: {', '.join(source.columns)})")
        ftype = source.schema[field].dataType
        kind = "rows" if isinstance(ftype, (T.StringType, T.BinaryType)) else "not_text"
        cols = [F.col(field).alias("__text") if kind == "rows" else F.col(field).cast("string").alias("__text")]
        if prompt_field is not None and prompt_field in source.columns:
            cols.append(F.col(prompt_field).cast("string").alias("__prompt"))
        return source.select(*cols), kind, False, []
    paths = [os.fspath(source)] if isinstance(source, (str, os.PathLike)) else [os.fspath(p) for p in source]
    if not paths:
        raise ValueError("no input given")
    if fmt is None:
        fmt = "parquet" if all(p.rstrip("/").endswith(".parquet") for p in paths) else "jsonl"
    meta = [F.col("_metadata.file_path").alias("__file"), F.col("_metadata.file_block_start").alias("__block")]
    if fmt == "jsonl":
        df = (
            spark.read.option("lineSep", "\n")
            .option("recursiveFileLookup", "true")
            .option("pathGlobFilter", _JSONL_GLOB)
            .text(paths)
        )
        df = df.select(F.col("value").alias("__text"), *meta)
        df = df.where(F.length(F.translate(F.col("__text"), _WHITESPACE, "")) > 0)
        return df, "jsonl", True, paths
    if fmt == "parquet":
        df = spark.read.option("recursiveFileLookup", "true").option("pathGlobFilter", "*.parquet").parquet(*paths)
        if field not in df.columns:
            raise ValueError(f"the Parquet input has no column {field!r} (columns: {', '.join(df.columns)})")
        ftype = df.schema[field].dataType
        kind = "rows" if isinstance(ftype, (T.StringType, T.BinaryType)) else "not_text"
        cols = [F.col(field).alias("__text") if kind == "rows" else F.col(field).cast("string").alias("__text")]
        if prompt_field is not None and prompt_field in df.columns:
            cols.append(F.col(prompt_field).cast("string").alias("__prompt"))
        return df.select(*cols, *meta), kind, True, paths
    raise ValueError(f"unknown format {fmt!r} (jsonl or parquet)")


def _pass(spark, source, fmt, field, prompt_field, bc_profile, settings_json, stride, hash_inputs):
    """Runs count, map, shuffle and fold over one corpus; returns (records_total, inputs JSON,
    pieces)."""
    from pyspark.sql import functions as F

    sc = spark.sparkContext
    df, kind, by_file, given = _read(spark, source, fmt, field, prompt_field)
    # 1. Count records per input split (Spark only) and give each split its first ordinal.
    if by_file:
        rows = df.groupBy("__file", "__block").count().collect()
        uris = df.inputFiles()
        order = _file_order(uris, given)
        rank = {_norm(u): i for i, (u, _) in enumerate(order)}
        splits = sorted(((rank.get(_norm(r["__file"]), len(rank)), r["__block"], r["__file"], r["count"]) for r in rows))
    else:
        rows = df.groupBy(F.spark_partition_id().alias("__part")).count().collect()
        splits = sorted((r["__part"], 0, r["__part"], r["count"]) for r in rows)
    offsets: Dict[Tuple[Any, int], int] = {}
    per_file: Dict[str, int] = {}
    total = 0
    for _, block, key, count in splits:
        offsets[(key, int(block))] = total
        total += int(count)
        per_file[_norm(str(key))] = per_file.get(_norm(str(key)), 0) + int(count)
    inputs = []
    if by_file:
        digests: Dict[str, Tuple[str, int]] = {}
        local = [(u, _local_path(u)) for u, _ in order]
        if hash_inputs and local and all(p is not None for _, p in local):
            paths = [p for _, p in local]
            got = sc.parallelize(paths, max(1, min(len(paths), sc.defaultParallelism))).map(_sha256_file).collect()
            digests = {u: d for (u, _), d in zip(local, got)}
        for u, display in order:
            sha, size = digests.get(u, ("", 0))
            lower = display.lower()
            inputs.append(
                {
                    "path": display,
                    "sha256": sha,
                    "records": per_file.get(_norm(u), 0),
                    "bytes": size,
                    "format": "parquet" if kind != "jsonl" else "jsonl",
                    "compression": "gzip" if lower.endswith(".gz") else "none",
                }
            )
    bc_offsets = sc.broadcast(offsets)
    try:
        # 2. Map.
        id_cols = [f"id{k}" for k in range(_id_words(stride))]
        schema = "kind byte, fp long, ord long, score double" + "".join(f", {c} long" for c in id_cols)
        mapped = df.mapInArrow(_make_map(bc_profile, bc_offsets, settings_json, kind, by_file, stride, uuid.uuid4().hex), schema)
        # 3. One shuffle: the smallest ordinal per fingerprint (counter rows pass through).
        aggs = [F.min("ord").alias("ord"), F.min_by("score", "ord").alias("score")]
        aggs += [F.min_by(c, "ord").alias(c) for c in id_cols]
        deduped = mapped.groupBy("kind", "fp").agg(*aggs).select("kind", "fp", "ord", "score", *id_cols)
        # 4. Fold per reduce partition.
        pieces = [bytes(r["piece"]) for r in deduped.mapInArrow(_make_fold(bc_profile, settings_json, total, stride), "piece binary").collect()]
    finally:
        bc_offsets.destroy()
    return total, json.dumps(inputs), pieces


def _encryption_enabled(spark) -> bool:
    return spark.sparkContext.getConf().get("spark.io.encryption.enabled", "false").lower() == "true"


def scan(
    spark,
    paths_or_dataframe,
    profile: Union[Profile, PathLike, None] = None,
    *,
    control=None,
    accounts: Optional[Sequence[str]] = None,
    field: str = "text",
    prompt_field: Optional[str] = None,
    alpha: float = 1e-6,
    min_tokens: int = 0,
    curve_bins: int = 200,
    format: Optional[str] = None,
    hash_inputs: bool = True,
    allow_unencrypted_broadcast: bool = False,
) -> dict:
    """Scans a corpus on a Spark session; returns the sealed JSON evidence report (the dict
    ``provmark.scan`` returns: same content as ``provmark scan --out``).

    ``paths_or_dataframe``: JSONL or Parquet files or folders (any URI Spark reads), or a
    DataFrame with a ``field`` column (records in partition order). ``control``: the same for a
    clean control corpus. ``format``: ``jsonl`` or ``parquet`` (default: from the names).
    ``hash_inputs``: SHA-256 of local input files in the report (a Spark job; other URIs get an
    empty hash). The secret reaches executors only as a broadcast value: the session needs
    ``spark.io.encryption.enabled=true`` (else PySpark writes broadcasts to local files)
    unless ``allow_unencrypted_broadcast``."""
    if profile is None:
        raise TypeError("scan() needs profile=")
    if not _encryption_enabled(spark) and not allow_unencrypted_broadcast:
        raise ValueError(
            "the Spark session has spark.io.encryption.enabled=false: PySpark would write the broadcast "
            "profile (with its secret) to local files. Start the session with "
            ".config('spark.io.encryption.enabled', 'true'), or pass allow_unencrypted_broadcast=True."
        )
    start = time.monotonic()
    inner = _profile_inner(profile)
    accounts = list(accounts or [])
    main_settings = _settings_json(field, prompt_field, accounts, alpha, min_tokens, curve_bins)
    control_settings = _settings_json(field, prompt_field, [], alpha, min_tokens, curve_bins)
    # Validate the settings (accounts, alpha) before any Spark job.
    _provmark.SplitFolder(_provmark._split_profile_bytes(inner), main_settings, 1)
    sc = spark.sparkContext
    bc_profile = sc.broadcast(_provmark._split_profile_bytes(inner))
    try:
        stride = inner.context_width + 1 if accounts else 0
        main = _pass(spark, paths_or_dataframe, format, field, prompt_field, bc_profile, main_settings, stride, hash_inputs)
        ctl = None
        if control is not None:
            ctl = _pass(spark, control, format, field, prompt_field, bc_profile, control_settings, 0, hash_inputs)
    finally:
        bc_profile.destroy()
    out = _provmark._split_finish(
        inner,
        main_settings,
        main,
        ctl,
        threads=sc.defaultParallelism,
        elapsed_seconds=round(time.monotonic() - start, 3),
    )
    return json.loads(out)
