#!/usr/bin/env bash
# cl-ica: InfoNCE on the sphere (vMF, τ = 1/κ) and the Lp form on the box (Laplace with p=1, normal with p=2, τ = 1,
# cl-ica's default), with cl-ica's candidates (loss.negatives=anchors, set by experiment=clica);
# usage, SEEDS and OUT as in reproduce_ce_table3.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python)}  # the make-installed venv if there is one
SEEDS=${SEEDS:-0,1,2}
OUT=${OUT:-logs/sweeps/clica}
"$PY" train.py -m experiment=clica seed="$SEEDS" hydra.sweep.dir="$OUT/sphere_vmf" "$@"
"$PY" train.py -m experiment=clica seed="$SEEDS" dgp=box model.output=none loss.metric=lp loss.p=1 loss.temperature=1.0 \
  dgp/conditional=laplace hydra.sweep.dir="$OUT/box_laplace" "$@"
"$PY" train.py -m experiment=clica seed="$SEEDS" dgp=box model.output=none loss.metric=lp loss.p=2 loss.temperature=1.0 \
  dgp/conditional=normal hydra.sweep.dir="$OUT/box_normal" "$@"
"$PY" -m idexp.report "$OUT" --title "cl-ica: InfoNCE, sphere/vMF (dot) and box/Laplace, box/normal (Lp)" --out "docs/results/clica"
