#!/usr/bin/env bash
# The real distillation experiment (issue 13), arm by arm in the issue's priority order:
# fine-tuned students on green answers at 0% / 100% / 5% watermarked (100% before 5%: if the
# all-watermarked student shows no trace, the 5% one cannot, and the recipe must change first),
# then Gumbel (its control is the same clean-only student), then 25%, then the attribution arm (two accounts, 2 : 1), then the from-scratch students. Every step is
# resumable: rerun this script to continue where it stopped (a training piece checkpoints every
# 20 steps and at the time budget).
# Needs the real-model experiment's answers (provmark eval real-model generate) and the model.
# Usage: tools/real-distill.sh [MINUTES_PER_TRAINING_PIECE] [extra args for every arm...]
set -euo pipefail
cd "$(dirname "$0")/.."
MIN=${1:-30}
shift || true
BIN=${PROVMARK_BIN:-target/release/provmark}
arms=(
  "finetune green 0" "finetune green 1" "finetune green 0.05"
  "finetune gumbel 0" "finetune gumbel 0.05" "finetune gumbel 1"
  "finetune green 0.25" "finetune gumbel 0.25"
  "finetune green 1 accounts"
  "scratch green 0" "scratch green 0.05" "scratch green 0.25" "scratch green 1"
)
for a in "${arms[@]}"; do
  read -r student scheme frac acc <<<"$a"
  common=(--student "$student" --scheme "$scheme" --fraction "$frac" "$@")
  if [[ "${acc:-}" == accounts ]]; then
    # Teacher answers served to two accounts (2 : 1) first; the arm trains on them.
    "$BIN" eval real-distill teacher-accounts --scheme "$scheme" "$@"
    common+=(--accounts)
  fi
  if ! "$BIN" eval real-distill train "${common[@]}" --minutes "$MIN"; then
    echo "stopped in the training of $student $scheme $frac; rerun to continue" >&2
    exit 1
  fi
  # Student answers: two single-threaded workers side by side (≈ 1.7x one two-thread process on
  # 2 cores), then a plain call folds their files into answers.jsonl.
  pids=()
  for k in 0 1; do
    CANDLE_NUM_THREADS=1 RAYON_NUM_THREADS=1 "$BIN" eval real-distill answer "${common[@]}" --worker "$k/2" &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p"; done
  "$BIN" eval real-distill answer "${common[@]}"
  "$BIN" eval real-distill detect "${common[@]}"
done
