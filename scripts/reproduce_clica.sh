#!/usr/bin/env bash
# cl-ica: InfoNCE on the sphere (vMF, τ = 1/κ) and the Lp form on the box (Laplace with p=1, normal with p=2, τ = 1,
# cl-ica's default), with cl-ica's candidates (loss.negatives=anchors, set by experiment=clica).
#   bash scripts/reproduce_clica.sh [SEEDS=0,1,2] [OUT=...] [REPORT=...] [Hydra override ...]
# Settings and their defaults: see scripts/common.sh (SEEDS 0,1,2; OUT logs/sweeps/clica; REPORT $OUT/report).
NAME=clica DEFAULT_SEEDS=0,1,2 SETTINGS=""
source "$(dirname "$0")/common.sh"
"$PY" train.py -m experiment=clica seed="$SEEDS" hydra.sweep.dir="$OUT/sphere_vmf" "$@"
"$PY" train.py -m experiment=clica seed="$SEEDS" dgp=box model.output=none loss.metric=lp loss.p=1 loss.temperature=1.0 \
  dgp/conditional=laplace hydra.sweep.dir="$OUT/box_laplace" "$@"
"$PY" train.py -m experiment=clica seed="$SEEDS" dgp=box model.output=none loss.metric=lp loss.p=2 loss.temperature=1.0 \
  dgp/conditional=normal hydra.sweep.dir="$OUT/box_normal" "$@"
report --title "cl-ica: InfoNCE, sphere/vMF (dot) and box/Laplace, box/normal (Lp)"
