#!/usr/bin/env python3
"""Prints the real-distillation tables from docs/real-distillation.json (so the README and docs/
quote the JSON that `provmark eval real-distill detect` wrote).

For each arm: the training (answers, target tokens, loss at the start and the end), the closed-model
scan of the student's answers (with and without the teacher's served answers as a filter), the
evidence curve's slope and the scored pairs that slope predicts for p <= 1e-6, and the open-model
test. The slope is the closed-model log10 p per 1,000 scored pairs, fitted through the origin over the
curve's points (log10 p of a watermarked source falls about linearly in the pairs scored); a slope
that is not negative predicts nothing.
"""
import json
import sys

d = json.load(open(sys.argv[1] if len(sys.argv) > 1 else "docs/real-distillation.json"))
arms = sorted(d.get("arms", []),
              key=lambda a: (a["student"], a["scheme"], a["watermarked_fraction"],
                             bool(a.get("config", {}).get("accounts"))))


def f(x, nd=2):
    if x is None:
        return "—"
    if isinstance(x, float):
        return f"{x:.{nd}f}"
    return str(x)


def slope_per_1k(curve):
    """Least-squares slope through the origin of log10 p against scored pairs, per 1,000 pairs."""
    pts = [(n, lp) for n, lp in curve if n > 0]
    den = sum(n * n for n, _ in pts)
    if den == 0:
        return None
    return 1000.0 * sum(n * lp for n, lp in pts) / den


def loss_ends(curve, k=50):
    """Mean training loss over the first and over the last k steps (one step is a batch of 2: noisy)."""
    if not curve:
        return None, None
    first = [l for _, l in curve[:k]]
    last = [l for _, l in curve[-k:]]
    return sum(first) / len(first), sum(last) / len(last)


print("| student | scheme | watermarked | accounts | training answers | target tokens | mean loss, first → last 50 steps | "
      "student answers | scored pairs | closed-model log10 p | slope (log10 p per 1k pairs) | pairs to 1e-6 at that slope | "
      "filtered log10 p (pairs) | open-model log10 p | open-model green share |")
print("|---|---|---:|---|---:|---:|---|---:|---:|---:|---:|---:|---|---:|---:|")
for a in arms:
    cfg = a.get("config", {})
    first, last = loss_ends(a.get("loss_curve", []))
    s = slope_per_1k(a.get("curve", []))
    to6 = f"{round(6.0 / -s * 1000):,}" if s is not None and s < 0 else "—"
    filt = "—" if a.get("filtered_log10_p") is None else \
        f"{a['filtered_log10_p']:.2f} ({a.get('filtered_scored_tokens')})"
    acc = "2 (2 : 1)" if cfg.get("accounts") else "—"
    print(f"| {a['student']} | {a['scheme']} | {a['watermarked_fraction']:g} | {acc} | {cfg.get('train_answers', '—')} | "
          f"{a['training_tokens']:,} | {f(first)} → {f(last)} | {a['student_answers']} | {a['scored_tokens']:,} | "
          f"{a['log10_p']:.2f} | {f(s, 3)} | {to6} | {filt} | {f(a.get('open_model_log10_p'))} | "
          f"{f(a.get('open_model_green_share'), 3)} |")
for a in arms:
    if a.get("accounts"):
        print()
        print(f"Attribution ({a['student']} {a['scheme']} {a['watermarked_fraction']:g}): " + "; ".join(
            f"{name}: share {share:.2f} of the watermarked training answers, log10 p {lp:.2f} "
            f"(adjusted {adj:.2f})" for name, share, lp, adj in a["accounts"]))
