#!/usr/bin/env bash
# CE paper, Fig. 3 (ImageNet-X): which of 17 binary factors (the class, binarised, and ImageNet-X's 16 factors
# of variation) a logistic read-out decodes from the penultimate features of five extractors: the input (a
# seeded random projection of the pixels to 2048 dimensions), ViT-B/16 and ResNet50 randomly initialised, and
# both pretrained. Probe-only runs (train=false) on the annotated ImageNet validation images, then the table
# (factors × extractors) and the figure with stars at the Bonferroni level 0.05 / (17 × 5).
#   bash scripts/reproduce_ce_fig3.sh DATA=/data/imagenet                  # pretrained weights: the torch hub cache
#   bash scripts/reproduce_ce_fig3.sh DATA=/data/imagenet WEIGHTS=/ckpt trainer=gpu
#   bash scripts/reproduce_ce_fig3.sh DATA=/data/imagenet launcher=slurm hydra.launcher.partition=gpu trainer=gpu
# DATA: the folder holding val/ (class folders or flat with the package's labels). WEIGHTS: a folder holding
# resnet50*.pth and vit_b_16*.pth (torchvision state dicts); unset, model.weights=DEFAULT reads torchvision's
# weights from the torch hub cache (ResNet50 IMAGENET1K_V2, ViT-B/16 IMAGENET1K_V1, the paper's DEFAULT).
# Settings (scripts/common.sh): DATA (required), WEIGHTS, OUT (logs/sweeps/ce_fig3; one folder per extractor, a
# re-launch skips the completed ones) and REPORT ($OUT/report). Any other argument is a Hydra override passed to
# every run (e.g. dataset.probe_fit=2000 for a check).
NAME=ce_fig3 DEFAULT_SEEDS=0 SETTINGS="DATA WEIGHTS"
source "$(dirname "$0")/common.sh"
: "${DATA:?set DATA=/path/to/imagenet (the folder holding val/)}"
weights() {  # weights ARCHITECTURE: the file in WEIGHTS, or DEFAULT (the torch hub cache)
  if [[ -z ${WEIGHTS:-} ]]; then echo DEFAULT; return; fi
  local file
  file=$(find "$WEIGHTS" -maxdepth 1 -name "$1*.pth" | sort | head -n 1)
  [[ -n $file ]] || { echo "WEIGHTS=$WEIGHTS holds no $1*.pth. Fix: put the torchvision state dict there, or unset WEIGHTS for the hub cache" >&2; exit 2; }
  echo "$file"
}
probe() {  # probe NAME OVERRIDES...: one feature extractor, probe only
  "$PY" train.py -m experiment=imagenetx train=false dataset.path="$DATA" hydra.sweep.dir="$OUT/$1" "${@:2}" ${overrides[@]+"${overrides[@]}"}
}
resnet50=$(weights resnet50)
vit=$(weights vit_b_16)
probe input model=projection
probe vit_b_16_init model=vit_b_16
probe resnet50_init model=resnet50
probe vit_b_16_trained model=vit_b_16 model.weights="$vit"
probe resnet50_trained model=resnet50 model.weights="$resnet50"
report --table ce_fig3
