#!/usr/bin/env python3
"""Scaling figures of the Spark scan (README, "Scanning at data-lake scale").

In one run, on one generated corpus (crates/provmark-python/tests/spark_corpus.py):
  * `provmark scan --threads 2` (wall time, tokens/s);
  * `provmark.spark.scan` on Spark local[N] (wall time without session start, tokens/s), with
    the event log on: the map stage's executor time (the per-core rate), shuffle bytes written
    (after Spark's map-side partial aggregation) per distinct pair;
  * that both reports have the same content;
  * on paper, the cost at 10^12 tokens from the measured rates.

Usage (in a venv with the provmark wheel, pyspark and pyarrow; Java on PATH):
  python tools/spark_figures.py [--words 11000000] [--master local[2]] [--cli target/release/provmark]
"""

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "crates" / "provmark-python" / "tests"))
PROFILE = ROOT / "testdata" / "demo" / "PUBLIC-DEMO-KEY.profile.json"


def content(r):
    return {k: v for k, v in r.items() if k not in ("created", "run", "mac")}


def event_metrics(events_dir: pathlib.Path):
    """Per stage: executor run time (s), CPU time (s), shuffle bytes/records written, tasks."""
    stages = {}
    names = {}
    for f in events_dir.rglob("*"):
        if not f.is_file():
            continue
        for line in f.read_text(errors="replace").splitlines():
            try:
                e = json.loads(line)
            except ValueError:
                continue
            if not isinstance(e, dict):
                continue
            if e.get("Event") == "SparkListenerTaskEnd":
                m = e.get("Task Metrics") or {}
                s = stages.setdefault(e["Stage ID"], {"run_s": 0.0, "cpu_s": 0.0, "shuffle_bytes": 0, "shuffle_records": 0, "tasks": 0})
                s["run_s"] += m.get("Executor Run Time", 0) / 1e3
                s["cpu_s"] += m.get("Executor CPU Time", 0) / 1e9
                w = m.get("Shuffle Write Metrics") or {}
                s["shuffle_bytes"] += w.get("Shuffle Bytes Written", 0)
                s["shuffle_records"] += w.get("Shuffle Records Written", 0)
                s["tasks"] += 1
            elif e.get("Event") == "SparkListenerStageCompleted":
                info = e.get("Stage Info", {})
                names[info.get("Stage ID")] = info.get("Stage Name", "")
    for k, v in stages.items():
        v["name"] = names.get(k, "")
    return stages


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--words", type=int, default=11_000_000)
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--cli", default=str(ROOT / "target" / "release" / "provmark"))
    ap.add_argument("--json", help="also write the figures here")
    args = ap.parse_args()
    from spark_corpus import write_corpus

    os.environ["PYSPARK_PYTHON"] = sys.executable
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="provmark-spark-figures-"))
    import atexit
    import shutil

    atexit.register(shutil.rmtree, tmp, True)
    corpus = write_corpus(tmp / "corpus", args.words, files=4)
    load = os.getloadavg()

    # provmark scan --threads 2.
    out = tmp / "cli.json"
    t = time.monotonic()
    run = subprocess.run([args.cli, "scan", str(corpus), "--profile", str(PROFILE), "--threads", "2", "--out", str(out)], capture_output=True)
    if run.returncode not in (0, 1):  # 0 watermarked, 1 not, 2 error
        sys.exit(run.stderr.decode(errors="replace"))
    cli_s = time.monotonic() - t
    cli = json.loads(out.read_text())
    tokens = cli["corpus"]["total_tokens"]
    pairs = cli["corpus"]["scored_tokens"]

    from pyspark.sql import SparkSession

    import provmark.spark

    events = tmp / "events"
    events.mkdir()
    t = time.monotonic()
    spark = (
        SparkSession.builder.master(args.master)
        .config("spark.io.encryption.enabled", "true")
        .config("spark.eventLog.enabled", "true")
        .config("spark.eventLog.dir", str(events))
        .config("spark.eventLog.compress", "false")
        .config("spark.sql.shuffle.partitions", "8")
        .config("spark.driver.memory", "2g")
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    start_s = time.monotonic() - t
    cores = spark.sparkContext.defaultParallelism
    t = time.monotonic()
    got = provmark.spark.scan(spark, [str(corpus)], profile=str(PROFILE))
    spark_s = time.monotonic() - t
    spark.stop()
    identical = content(got) == content(cli)
    stages = event_metrics(events)
    shuffle = max(stages.values(), key=lambda s: s["shuffle_bytes"])
    map_core_s = shuffle["run_s"]
    per_core = tokens / map_core_s if map_core_s else float("nan")
    bytes_per_pair = shuffle["shuffle_bytes"] / pairs
    rows_per_pair = shuffle["shuffle_records"] / pairs

    # On paper: 10^12 tokens, distinct pairs at this corpus's ratio and at the worst case (all).
    T = 1e12
    ratio = pairs / tokens
    est = {}
    for label, distinct in (("measured ratio", T * ratio), ("every token a new pair", T)):
        shuffle_bytes = distinct * bytes_per_pair
        cores_total = 100 * 16  # 100 executors × 16 cores
        map_wall_h = T / per_core / cores_total / 3600
        partitions = max(1, int(distinct * 100 / (2 << 30)))  # ~100 B of aggregation state per pair, 2 GiB per reducer
        est[label] = {
            "distinct_pairs": distinct,
            "shuffle_TB": shuffle_bytes / 1e12,
            "map_core_hours": T / per_core / 3600,
            "map_wall_hours_100x16_cores": map_wall_h,
            "shuffle_partitions_at_2GiB": partitions,
            "pairs_per_reducer": distinct / partitions,
        }
    fig = {
        "machine": f"{os.cpu_count()} cores, load average {load[0]:.1f} at start (shared machine)",
        "corpus_tokens": tokens,
        "records": cli["corpus"]["records_total"],
        "distinct_pairs": pairs,
        "cli_threads2_s": round(cli_s, 2),
        "cli_tokens_per_s": tokens / cli_s,
        "spark_master": args.master,
        "spark_session_start_s": round(start_s, 1),
        "spark_scan_s": round(spark_s, 2),
        "spark_tokens_per_s": tokens / spark_s,
        "spark_over_cli_throughput": (tokens / spark_s) / (tokens / cli_s),
        "reports_identical": identical,
        "map_stage_executor_s": round(map_core_s, 2),
        "map_stage_cpu_s": round(shuffle["cpu_s"], 2),
        "map_tokens_per_core_s": per_core,
        "shuffle_bytes_written": shuffle["shuffle_bytes"],
        "shuffle_rows_written": shuffle["shuffle_records"],
        "shuffle_bytes_per_distinct_pair": bytes_per_pair,
        "shuffle_rows_per_distinct_pair": rows_per_pair,
        "cores": cores,
        "at_1e12_tokens": est,
    }
    print(json.dumps(fig, indent=2))
    print()
    print(f"| corpus | {tokens:,} tokens, {pairs:,} distinct pairs, {cli['corpus']['records_total']:,} records |")
    print("|---|---|")
    print(f"| provmark scan --threads 2 | {cli_s:.1f} s, {tokens / cli_s / 1e6:.2f} M tokens/s |")
    print(f"| Spark {args.master} (session start {start_s:.0f} s not counted) | {spark_s:.1f} s, {tokens / spark_s / 1e6:.2f} M tokens/s |")
    print(f"| Spark / provmark scan throughput | {fig['spark_over_cli_throughput']:.2f} |")
    print(f"| map stage, per core | {per_core / 1e6:.2f} M tokens/s ({map_core_s:.1f} executor-s) |")
    print(f"| shuffle written | {shuffle['shuffle_bytes'] / 1e6:.1f} MB, {bytes_per_pair:.1f} B and {rows_per_pair:.2f} rows per distinct pair |")
    print(f"| reports identical | {identical} |")
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(fig, indent=2) + "\n")
    if not identical:
        sys.exit("the Spark report differs from provmark scan's")


if __name__ == "__main__":
    main()
