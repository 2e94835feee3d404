#!/usr/bin/env bash
# AnInfoNCE, synthetic (d=10): bimodal and linspace Λ, AnInfoNCE vs InfoNCE on the same anisotropic DGP.
#   bash scripts/reproduce_aninfonce.sh [SEEDS=0,1,2] [OUT=...] [REPORT=...] [Hydra override ...]
# Settings and their defaults: see scripts/common.sh (SEEDS 0,1,2; OUT logs/sweeps/aninfonce; REPORT $OUT/report).
NAME=aninfonce DEFAULT_SEEDS=0,1,2 SETTINGS=""
source "$(dirname "$0")/common.sh"
"$PY" train.py -m experiment=aninfonce seed="$SEEDS" dgp.conditional.lambdas=bimodal,linspace \
  hydra.sweep.dir="$OUT/aninfonce" "$@"
"$PY" train.py -m experiment=aninfonce seed="$SEEDS" dgp.conditional.lambdas=bimodal,linspace \
  loss=infonce dgp/conditional=anisotropic hydra.sweep.dir="$OUT/infonce" "$@"
report --table aninfonce
