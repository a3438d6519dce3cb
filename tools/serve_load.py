#!/usr/bin/env python3
"""Bounded load test of `provmark serve`: tokens/s with and without the watermark, as a ratio
from one run, and a check that the served log lost nothing.

Starts two servers on 127.0.0.1 (free ports): one watermarking every answer with the caller's
account key, one with --no-watermark. Rounds alternate between them (the first mode alternates
too), so machine-speed swings hit both alike. Each round sends `--per-round` requests from
`--clients` concurrent clients; the run stops after `--requests` requests per mode. Then both
servers get SIGTERM and their served logs are read back: one whole line per answer, with the same
token counts the clients were told.

  python3 tools/serve_load.py --bin target/release/provmark --requests 200 --clients 8 --max-tokens 32

Python standard library only. API keys stay in memory (never in argv or output).
"""
import argparse
import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

PROMPTS = [
    "How do I make tea?", "Explain how rain forms.", "Give me a tip for learning to cook.",
    "What is a prime number?", "Describe a walk in the forest.", "Why is the sky blue?",
    "How does a bicycle stay upright?", "Write a short note thanking a friend.",
]


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        sys.exit(f"{cmd[1]} failed: {r.stderr.strip()}")
    return r.stdout


def start(bin_, model, profile, accounts, log, extra):
    p = subprocess.Popen([bin_, "serve", "--listen", "127.0.0.1:0", "--model", model, "--profile", profile,
                          "--accounts", accounts, "--served-log", log, "--queue", "64"] + extra,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = p.stdout.readline().strip()
    prefix = "provmark serve: listening on http://"
    if not line.startswith(prefix):
        p.kill()
        sys.exit(f"server did not start: {line!r}")
    host, port = line[len(prefix):].rsplit(":", 1)
    return p, host, int(port)


def request(host, port, key, model_id, prompt, max_tokens, seed):
    body = json.dumps({"model": model_id, "messages": [{"role": "user", "content": prompt}],
                       "max_tokens": max_tokens, "temperature": 1.0, "seed": seed})
    c = http.client.HTTPConnection(host, port, timeout=600)
    c.request("POST", "/v1/chat/completions", body,
              {"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    r = c.getresponse()
    data = json.loads(r.read())
    c.close()
    if r.status != 200:
        return None, data
    return data, None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default="target/release/provmark")
    ap.add_argument("--model", default="models/SmolLM2-135M-Instruct.Q8_0.gguf")
    ap.add_argument("--requests", type=int, default=200, help="requests per mode")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--per-round", type=int, default=16)
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    a = ap.parse_args()
    if not os.path.isfile(a.model):
        sys.exit(f"{a.model} is absent: run tools/fetch-model.sh first")
    model_id = os.path.basename(a.model)[: -len(".gguf")] if a.model.endswith(".gguf") else os.path.basename(a.model)
    d = tempfile.mkdtemp(prefix="provmark-load-")
    profile, accounts = os.path.join(d, "key.json"), os.path.join(d, "accounts.json")
    run([a.bin, "keygen", "--out", profile, "--model", a.model])
    keys = [run([a.bin, "accounts", "add", "--accounts", accounts, f"user{i}"]).strip().splitlines()[-1]
            for i in range(4)]
    modes = {
        "watermark": start(a.bin, a.model, profile, accounts, os.path.join(d, "wm.jsonl"), []),
        "plain": start(a.bin, a.model, profile, accounts, os.path.join(d, "plain.jsonl"), ["--no-watermark"]),
    }
    stats = {m: {"tokens": 0, "seconds": 0.0, "ok": 0, "errors": 0, "ids": set()} for m in modes}
    done = {m: 0 for m in modes}
    rnd = 0
    while min(done.values()) < a.requests:
        order = list(modes) if rnd % 2 == 0 else list(reversed(list(modes)))
        for m in order:
            n = min(a.per_round, a.requests - done[m])
            if n <= 0:
                continue
            _, host, port = modes[m]
            jobs = list(range(done[m], done[m] + n))
            lock = threading.Lock()
            st = stats[m]

            def client():
                while True:
                    with lock:
                        if not jobs:
                            return
                        i = jobs.pop()
                    ans, err = request(host, port, keys[i % len(keys)], model_id, PROMPTS[i % len(PROMPTS)],
                                       a.max_tokens, i)
                    with lock:
                        if ans is None:
                            st["errors"] += 1
                        else:
                            st["ok"] += 1
                            st["tokens"] += ans["usage"]["completion_tokens"]
                            st["ids"].add((ans["id"], ans["usage"]["completion_tokens"]))

            t0 = time.monotonic()
            threads = [threading.Thread(target=client) for _ in range(min(a.clients, n))]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            st["seconds"] += time.monotonic() - t0
            done[m] += n
        rnd += 1
    for p, _, _ in modes.values():
        p.send_signal(signal.SIGTERM)
    for p, _, _ in modes.values():
        p.wait(timeout=600)
    out = {"requests_per_mode": a.requests, "clients": a.clients, "max_tokens": a.max_tokens, "rounds": rnd}
    for m in modes:
        st = stats[m]
        log = os.path.join(d, "wm.jsonl" if m == "watermark" else "plain.jsonl")
        with open(log) as f:
            lines = [json.loads(l) for l in f]
        logged = {(l["request_id"], l["completion_tokens"]) for l in lines}
        out[m] = {
            "tokens": st["tokens"], "seconds": round(st["seconds"], 3),
            "tokens_per_s": round(st["tokens"] / st["seconds"], 2) if st["seconds"] else None,
            "ok": st["ok"], "errors": st["errors"], "log_lines": len(lines),
            "log_complete": logged == st["ids"] and len(lines) == st["ok"],
            "log_watermarked": all(l["watermarked"] == (m == "watermark") for l in lines),
        }
    w, p = out["watermark"]["tokens_per_s"], out["plain"]["tokens_per_s"]
    out["watermark_over_plain"] = round(w / p, 4) if w and p else None
    if a.json:
        print(json.dumps(out))
    else:
        for m in modes:
            o = out[m]
            print(f"{m:9} {o['tokens']:6} tokens in {o['seconds']:8.2f} s = {o['tokens_per_s']} tokens/s "
                  f"({o['ok']} ok, {o['errors']} errors; served log complete: {o['log_complete']})")
        print(f"watermark / plain throughput: {out['watermark_over_plain']}")
    ok = all(out[m]["log_complete"] and out[m]["log_watermarked"] and out[m]["errors"] == 0 for m in modes)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
