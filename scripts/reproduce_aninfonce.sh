#!/usr/bin/env bash
# AnInfoNCE, synthetic (d=10): bimodal and linspace Λ, AnInfoNCE vs InfoNCE on the same anisotropic
# DGP; usage, SEEDS and OUT as in reproduce_ce_table3.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python)}  # the make-installed venv if there is one
SEEDS=${SEEDS:-0,1,2}
OUT=${OUT:-logs/sweeps/aninfonce}
"$PY" train.py -m experiment=aninfonce seed="$SEEDS" dgp.conditional.lambdas=bimodal,linspace \
  hydra.sweep.dir="$OUT/aninfonce" "$@"
"$PY" train.py -m experiment=aninfonce seed="$SEEDS" dgp.conditional.lambdas=bimodal,linspace \
  loss=infonce dgp/conditional=anisotropic hydra.sweep.dir="$OUT/infonce" "$@"
"$PY" -m idexp.report "$OUT" --table aninfonce --out "docs/results/aninfonce"
