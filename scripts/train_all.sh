#!/usr/bin/env bash
# Retrain every shipped checkpoint, one after another (each recipe: at most 15 min on a 2-core CPU).
#   scripts/train_all.sh [recipe ...]      default: all recipes in engine/training/recipes.py, in their order:
#   the bases first, then the exposure-bias variants addition-gru-ss, addition-gru-ls, addition-gru-scst
#   (SCST fine-tunes checkpoints/addition-gru, so it must come after addition-gru) and hmm-gpt-ss
#   (it fine-tunes checkpoints/hmm-gpt: after hmm-gpt). It writes into checkpoints/ (--out checkpoints).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
[ -x "$PY" ] || PY=python3
mkdir -p runs
recipes=("$@")
[ ${#recipes[@]} -gt 0 ] || mapfile -t recipes < <($PY -c 'from engine.training import RECIPES; print("\n".join(RECIPES))')
for r in "${recipes[@]}"; do
  if [ "$r" = addition-gru-scst ] && [ ! -f checkpoints/addition-gru/model.safetensors ]; then
    echo "addition-gru-scst needs checkpoints/addition-gru: train addition-gru first" >&2; exit 2
  fi
  if [ "$r" = hmm-gpt-ss ] && [ ! -f checkpoints/hmm-gpt/model.safetensors ]; then
    echo "hmm-gpt-ss needs checkpoints/hmm-gpt: train hmm-gpt first" >&2; exit 2
  fi
  echo "==> $r"
  $PY -m engine train --recipe "$r" --out checkpoints ${TRAIN_ARGS:-} > "runs/$r.log" 2>&1
done
