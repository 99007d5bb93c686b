#!/usr/bin/env bash
# Retrain every shipped checkpoint, one after another (each recipe: at most 15 min on a 2-core CPU).
#   scripts/train_all.sh [recipe ...]      default: all recipes in engine/recipes.py
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
[ -x "$PY" ] || PY=python3
mkdir -p runs
recipes=("$@")
[ ${#recipes[@]} -gt 0 ] || mapfile -t recipes < <($PY -c 'from engine.recipes import RECIPES; print("\n".join(RECIPES))')
for r in "${recipes[@]}"; do
  echo "==> $r"
  $PY -m engine train --recipe "$r" ${TRAIN_ARGS:-} > "runs/$r.log" 2>&1
done
