#!/usr/bin/env bash
# IMA-VAE, synthetic (d = 3): a VAE with a uniform prior on sources mixed by a Möbius map (IMA) and by a generic
# MLP (dgp=ima_mlp, not IMA), swept over the decoder variance; then the table (MCC, C_IMA of the decoder and of
# the mixing, the official Möbius sweep beside ours) and its figure.
#   bash scripts/reproduce_ima_vae.sh [SEEDS=0,1,2] [DECODER_VAR=0.1,0.01,...] [scale=paper launcher=slurm ...]
# Settings (scripts/common.sh): SEEDS (0,1,2), OUT (logs/sweeps/ima_vae), REPORT ($OUT/report), DECODER_VAR (the
# decoder variances 1/γ²: γ² = 10 … 10⁶, as the official sweep).
NAME=ima_vae DEFAULT_SEEDS=0,1,2 SETTINGS="DECODER_VAR"
source "$(dirname "$0")/common.sh"
"$PY" train.py -m experiment=ima_vae seed="$SEEDS" dgp=moebius,ima_mlp \
  loss.decoder_var="${DECODER_VAR:-0.1,0.01,0.001,0.0001,0.00001,0.000001}" hydra.sweep.dir="$OUT/ima_vae" "$@"
report --table ima_vae
