"""``provmark.spark.scan`` on Spark in local mode gives the report of ``provmark scan``, bit for
bit in its content (statistic, scored pairs, p-value, curve, accounts, per-record p-values, skip
counts, inputs), for local[1], local[2] and other input partitionings; and the profile's secret
never reaches Spark's logs or event log.

Skips, with the reason printed (pytest -rs), only where Java or pyspark is missing; `.ci/run`
installs both."""

import base64
import json
import os
import pathlib
import shutil
import subprocess
import sys
import textwrap

import pytest

if shutil.which("java") is None:
    pytest.skip("SKIPPED Spark tests: no Java runtime (apt-get install openjdk-17-jre-headless)", allow_module_level=True)
try:
    import pyspark  # noqa: F401
    import pyarrow  # noqa: F401
except ImportError as e:
    pytest.skip(f"SKIPPED Spark tests: {e} (pip install pyspark pyarrow)", allow_module_level=True)

import provmark
import provmark.spark
from conftest import DEMO_PROFILE, ROOT
from spark_corpus import write_corpus

DEMO = ROOT / "testdata" / "demo"
ACCOUNTS = ["acct-1", "acct-2", "acct-3"]
# ≥ 10^7 tokens (the words of the demo vocabulary are about 0.94 o200k tokens each).
BIG_WORDS = 11_000_000


def content(report: dict) -> dict:
    """The report without what legitimately differs between runs (time, run settings, MAC)."""
    return {k: v for k, v in report.items() if k not in ("created", "run", "mac")}


def assert_same(got: dict, want: dict, what: str) -> None:
    a, b = content(got), content(want)
    diff = [k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
    assert not diff, f"{what}: the Spark report differs from provmark scan's in {diff}: " + "; ".join(
        f"{k}: spark {json.dumps(a.get(k))[:300]} vs cli {json.dumps(b.get(k))[:300]}" for k in diff
    )


def cli_scan(cli, tmp: pathlib.Path, name: str, inputs, control=None, accounts=(), extra=()) -> dict:
    out = tmp / f"{name}.json"
    cmd = [str(cli), "scan", *map(str, inputs), "--profile", str(DEMO_PROFILE), "--out", str(out), "--threads", "2", *extra]
    if control:
        cmd += ["--control", str(control)]
    if accounts:
        acc = tmp / f"{name}.accounts"
        acc.write_text("\n".join(accounts) + "\n")
        cmd += ["--accounts", str(acc)]
    run = subprocess.run(cmd, capture_output=True)
    # Exit 0: watermarked, 1: not watermarked, 2: error.
    assert run.returncode in (0, 1), run.stderr.decode(errors="replace")
    return json.loads(out.read_text())


def session(master: str, **conf):
    """A local Spark session (stopping another master's); I/O encryption keeps broadcasts off disk."""
    from pyspark.sql import SparkSession

    os.environ["PYSPARK_PYTHON"] = sys.executable
    active = SparkSession.getActiveSession()
    if active is not None and active.sparkContext.master != master:
        active.stop()
    b = (
        SparkSession.builder.master(master)
        .config("spark.io.encryption.enabled", "true")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.memory", "2g")
    )
    spark = b.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    spark.conf.unset("spark.sql.files.maxPartitionBytes")
    for k, v in conf.items():
        spark.conf.set(k, v)
    return spark


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("spark")


@pytest.fixture(scope="module")
def big(work):
    return write_corpus(work / "big", BIG_WORDS, files=4)


@pytest.fixture(scope="module")
def want(cli, work, big):
    """provmark scan's reports: the demo corpus and the generated one, with accounts and control."""
    demo = cli_scan(cli, work, "demo", [DEMO / "suspect.jsonl"], control=DEMO / "control.jsonl", accounts=ACCOUNTS)
    gen = cli_scan(cli, work, "big", [big], control=DEMO / "control.jsonl", accounts=ACCOUNTS)
    assert gen["corpus"]["total_tokens"] >= 10_000_000
    assert sum(gen["skipped_reasons"].values()) > 0 and len(gen["inputs"]) == 4
    return {"demo": demo, "big": gen}


def spark_scan(spark, inputs, **kw) -> dict:
    return provmark.spark.scan(spark, [str(p) for p in inputs], profile=DEMO_PROFILE, control=[str(DEMO / "control.jsonl")], accounts=ACCOUNTS, **kw)


def test_local2_demo_and_generated_corpus_match_provmark_scan(want, big):
    spark = session("local[2]")
    assert_same(spark_scan(spark, [DEMO / "suspect.jsonl"]), want["demo"], "demo, local[2]")
    # Many input splits per file (the demo file in ~7 pieces, the generated files in 4 MiB ones).
    spark.conf.set("spark.sql.files.maxPartitionBytes", str(64 << 10))
    assert_same(spark_scan(spark, [DEMO / "suspect.jsonl"]), want["demo"], "demo, local[2], 64 KiB splits")
    spark.conf.set("spark.sql.files.maxPartitionBytes", str(4 << 20))
    got = spark_scan(spark, [big])
    assert got["corpus"]["total_tokens"] >= 10_000_000
    assert_same(got, want["big"], "generated corpus, local[2], 4 MiB splits")


def test_dataframe_and_parquet_inputs_match_provmark_scan(cli, work):
    import pyarrow as pa
    import pyarrow.parquet as pq

    spark = session("local[2]")
    texts = [json.loads(line)["text"] for line in (DEMO / "suspect.jsonl").read_text().splitlines()]
    prompts = [t.split()[0] if i % 3 else None for i, t in enumerate(texts)]
    texts[5] = None  # missing_field
    texts[6] = "  "  # empty_text
    table = pa.table({"text": pa.array(texts, pa.string()), "prompt": pa.array(prompts, pa.string())})
    path = work / "demo.parquet"
    pq.write_table(table, path, row_group_size=40)
    want = cli_scan(cli, work, "parquet", [path], accounts=ACCOUNTS[:2], extra=["--prompt-field", "prompt"])
    assert want["skipped_reasons"]["missing_field"] == 1 and want["skipped_reasons"]["empty_text"] == 1
    got = provmark.spark.scan(spark, [str(path)], profile=DEMO_PROFILE, accounts=ACCOUNTS[:2], prompt_field="prompt")
    assert_same(got, want, "Parquet")
    # A DataFrame is read in partition order: the same records in 3 partitions.
    df = spark.sparkContext.parallelize(list(zip(texts, prompts)), 3).toDF("text string, prompt string")
    assert df.rdd.getNumPartitions() == 3
    got = provmark.spark.scan(spark, df, profile=DEMO_PROFILE, accounts=ACCOUNTS[:2], prompt_field="prompt")
    assert got["corpus"] == want["corpus"] and got["curve"] == want["curve"] and got["accounts"] == want["accounts"]
    assert got["skipped_reasons"] == want["skipped_reasons"] and got["record_p_values"] == want["record_p_values"]


def test_local1_demo_and_generated_corpus_match_provmark_scan(want, big):
    spark = session("local[1]")
    assert_same(spark_scan(spark, [DEMO / "suspect.jsonl"]), want["demo"], "demo, local[1]")
    assert_same(spark_scan(spark, [big]), want["big"], "generated corpus, local[1]")
    spark.stop()


def test_unencrypted_broadcast_is_refused_before_any_job():
    class Conf:
        def get(self, key, default=None):
            return "false" if key == "spark.io.encryption.enabled" else default

    class Context:
        def getConf(self):
            return Conf()

    class FakeSpark:
        sparkContext = Context()

    with pytest.raises(ValueError, match="spark.io.encryption.enabled"):
        provmark.spark.scan(FakeSpark(), ["x.jsonl"], profile=DEMO_PROFILE)


LEAK_SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    os.environ["PYSPARK_PYTHON"] = sys.executable
    from pyspark.sql import SparkSession
    import provmark, provmark.spark
    profile, corpus, events, local, out = sys.argv[1:6]
    spark = (SparkSession.builder.master("local[2]")
             .config("spark.io.encryption.enabled", "true")
             .config("spark.eventLog.enabled", "true").config("spark.eventLog.dir", events)
             .config("spark.eventLog.compress", "false")  # grep the JSON itself, not zstd frames
             .config("spark.local.dir", local).config("spark.sql.shuffle.partitions", "3")
             .config("spark.ui.enabled", "false").getOrCreate())
    spark.sparkContext.setLogLevel("DEBUG")
    r = provmark.spark.scan(spark, [corpus], profile=profile, accounts=["acct-1"])
    json.dump(r, open(out, "w"))
    spark.stop()
    """
)


def test_secret_never_reaches_spark_logs_event_log_or_local_files(cli, work):
    """A fresh key; Spark at DEBUG with the event log on: neither the logs (driver and executor:
    one process in local mode), the event log nor the files left in Spark's local directory hold
    the key's bytes (hex, base64, raw) or the profile file's contents."""
    d = work / "leak"
    d.mkdir()
    profile = d / "key.profile.json"
    subprocess.run([str(cli), "keygen", "--out", str(profile)], check=True, capture_output=True)
    secret_hex = json.loads(profile.read_text())["secret"]
    raw = bytes.fromhex(secret_hex)
    needles = {
        "hex": secret_hex.encode(),
        "HEX": secret_hex.upper().encode(),
        "base64": base64.b64encode(raw),
        "base64url": base64.urlsafe_b64encode(raw).rstrip(b"="),
        "raw": raw,
        "profile file": profile.read_bytes().strip(),
    }
    events, local = d / "events", d / "local"
    events.mkdir()
    local.mkdir()
    script = d / "leak.py"
    script.write_text(LEAK_SCRIPT)
    run = subprocess.run(
        [sys.executable, str(script), str(profile), str(DEMO / "suspect.jsonl"), str(events), str(local), str(d / "r.json")],
        capture_output=True,
        timeout=900,
    )
    logs = run.stdout + run.stderr
    assert run.returncode == 0, logs[-3000:].decode(errors="replace")
    report = json.loads((d / "r.json").read_text())
    assert report["corpus"]["verdict"] == "not_watermarked"  # a fresh key: the demo text is not its
    # The grep sees what it should: verbose logs with task descriptions, and a full event log.
    assert b"Running task" in logs or b"Starting task" in logs, "Spark's DEBUG/INFO log was not captured"
    event_files = [p for p in events.rglob("*") if p.is_file()]
    event_bytes = b"".join(p.read_bytes() for p in event_files)
    assert b"SparkListenerTaskEnd" in event_bytes and b"mapInArrow" in event_bytes.replace(b"MapInArrow", b"mapInArrow")
    left = {p: p.read_bytes() for p in local.rglob("*") if p.is_file()}
    haystacks = {"driver/executor log": logs, "event log": event_bytes, **{f"local file {p}": b for p, b in left.items()}}
    for where, hay in haystacks.items():
        for what, needle in needles.items():
            assert needle not in hay, f"the secret ({what}) is in the {where}"
    for p in list(local.rglob("*")) + event_files:
        assert secret_hex not in p.name
    # The check itself can fail: the needles are found where the secret is.
    assert needles["hex"] in profile.read_bytes()


def test_readme_snippet_prints_the_verdict_and_p_value_of_provmark_scan(cli):
    """The README's copy-paste snippet ("Scanning at data-lake scale") runs as written and prints
    the verdict line of `provmark scan` on the demo corpus."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Scanning at data-lake scale", 1)[1]
    snippet = section.split("```python\n", 1)[1].split("```", 1)[0]
    run = subprocess.run([sys.executable, "-c", snippet], cwd=ROOT, capture_output=True, timeout=900)
    assert run.returncode == 0, run.stderr.decode(errors="replace")[-3000:]
    printed = run.stdout.decode().strip().splitlines()[-1]
    out = subprocess.run(
        [str(cli), "scan", "testdata/demo/suspect.jsonl", "--control", "testdata/demo/control.jsonl", "--profile", str(DEMO_PROFILE)],
        cwd=ROOT,
        capture_output=True,
    )
    verdict = [line for line in out.stdout.decode().splitlines() if line.startswith("verdict:")]
    assert verdict and verdict[0].startswith(printed), (printed, verdict)
    assert printed.startswith("verdict: watermarked  p = ")
