#!/usr/bin/env python3
"""Prints the README's real-model tables from docs/real-model.json (so the README quotes the JSON)."""
import json
import sys

d = json.load(open(sys.argv[1] if len(sys.argv) > 1 else "docs/real-model.json"))


def f(x, nd=3):
    if x is None:
        return "null"
    if isinstance(x, float):
        return f"{x:.{nd}f}"
    return str(x)


def notreached(v, k):
    """A quantile of tokens to 1e-6, or 'not reached¹' where more answers never get there."""
    return "not reached¹" if v.get(k) is None else f(v[k], 0)


print("Per-step entropy of clean answers (nats; the distribution sampled, full vocabulary):\n")
print("| temperature | answers | steps | mean | median | p80 | share < 0.1 nats | entropy bound (tokens) | clean perplexity |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for t, v in sorted(d["entropy_by_temperature"].items(), reverse=True):
    s = v["stats"]
    print(f"| {t} | {v['answers']} | {s['steps']} | {f(s['mean_nats'])} | {f(s['median_nats'])} | {f(s['p80_nats'])} | "
          f"{f(s['share_below_0_1'])} | {f(v['entropy_bound_tokens'], 1)} | {f(v['perplexity_clean'], 2)} |")
print()
print("Watermarked answers (detection on the re-tokenized text alone, p ≤ 1e-6):\n")
print("| scheme | T | answers | mean tokens | median tokens to 1e-6 | p90 | bound (tokens) | median / bound | "
      "detect @100 | @200 | @400 | whole answer | perplexity ratio to clean | 10% / 20% / 30% substitution | whitespace-normalised |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|")
for scheme in ("green", "gumbel"):
    for t, v in sorted(d["schemes"].get(scheme, {}).items(), reverse=True):
        n = v["answers_at_least"]
        rate = lambda r, k: "n/a" if r is None else f"{r:.2f} (n={k})"
        sub = " / ".join(f"{x:.2f}" for x in v["substitution_detect_rate"])
        print(f"| {scheme} | {t[1:]} | {v['answers']} | {f(v['mean_tokens'], 0)} | {notreached(v, 'median_tokens_to_1e-6')} | "
              f"{notreached(v, 'p90_tokens_to_1e-6')} | {f(v['entropy_bound_tokens'], 1)} | {f(v['ratio_to_bound'], 1)} | "
              f"{rate(v['detect_rate_100'], n[0])} | {rate(v['detect_rate_200'], n[1])} | {rate(v['detect_rate_400'], n[2])} | "
              f"{f(v['detect_rate_full'], 2)} | {f(v['perplexity_ratio_to_clean'], 2)} | {sub} | "
              f"{f(v['whitespace_normalised_detect_rate'], 2)} |")
for scheme in ("green", "gumbel"):
    for t, v in sorted(d["schemes"].get(scheme, {}).items(), reverse=True):
        if v.get("null_reason"):
            print(f"\n¹ {scheme} {t}: {v['null_reason']}.")
print()
comp = d["calibration"][0].get("composition", {})
print("Calibration: every answer of the experiment (" + ", ".join(f"{k} {v}" for k, v in comp.items())
      + ") under independent calibration keys it was not made with; pooled: all clean answers as one test:\n")
print("| scheme | answers × keys | FPR at 1e-2 (99.9% interval) | FPR at 1e-3 (99.9% interval) | design effect | KS distance | pooled scan log10 p |")
print("|---|---:|---|---|---:|---:|---:|")
for c in d["calibration"]:
    pooled = d["pooled_clean"].get(c["scheme"], {})
    print(f"| {c['scheme']} | {c['answers']} × {c['keys']} = {c['tests']} | {c['fpr_1e_2']:.4f} ({c['interval_1e_2'][0]:.4f}–{c['interval_1e_2'][1]:.4f}) | "
          f"{c['fpr_1e_3']:.4f} ({c['interval_1e_3'][0]:.4f}–{c['interval_1e_3'][1]:.4f}) | {c['design_effect_1e_2']:.2f} | "
          f"{c['ks_distance']:.3f} | {f(pooled.get('log10_p'), 2)} ({pooled.get('scored_pairs')} pairs) |")
if d.get("serving"):
    s = d["serving"]
    print()
    print(f"Serving (batch 1, {s['detail']['steps']} decode steps): forward {s['detail']['forward_ms']:.2f} ms, plain sampling "
          f"{s['detail']['plain_us']:.1f} µs, green {s['detail']['green_us']:.1f} µs, Gumbel {s['detail']['gumbel_us']:.1f} µs → "
          f"watermark share of a decode step: green {100 * s['green_step_share']:.3f}%, Gumbel {100 * s['gumbel_step_share']:.3f}%; "
          f"{s['decode_tokens_per_s']:.1f} decode tokens/s.")
if d.get("batching"):
    b = d["batching"]
    print()
    print("Batched generation (" + b["note"] + "): " + ", ".join(
        f"batch {k}: {v} tokens/s" for k, v in b["tokens_per_s"].items()) + f"; identical answers: {b['identical_answers']}.")
