#!/usr/bin/env python3
"""Markdown table from the JSON lines of bench/tokenize_bench.sh (stdin)."""
import json
import sys

print("| corpus field | backend | tokens | M tok/s (wall) | M tok/s (CPU) | load ms |")
print("|---|---|---:|---:|---:|---:|")
for line in sys.stdin:
    i = line.index("} ") + 1
    tag, rest = json.loads(line[:i]), line[i:].strip()
    name = ""
    if rest.startswith("hf-gpt2 "):
        name, rest = "HF gpt2 tokenizer.json (", rest[len("hf-gpt2 "):]
    d = json.loads(rest)
    backend = d["backend"] if not name else "provmark, HF gpt2 tokenizer.json"
    if d.get("ids_verified") is not None:
        backend += " (ids verified)" if d["ids_verified"] else " (IDS DIFFER)"
    cpu = d.get("cpu_tokens_per_s")
    print(
        f"| {tag['file'].split('.')[0]} `{tag['field']}` | {backend} | {d['tokens']} | "
        f"{d['tokens_per_s'] / 1e6:.2f} | {cpu / 1e6 if cpu else float('nan'):.2f} | "
        f"{d['load_seconds'] * 1e3:.0f} |"
    )
