#!/usr/bin/env bash
# CE paper, Table 4 (DisLib): f_MLP and f_CNN trained to classify each dataset's categorical factor, every
# factor decoded linearly (x: the raw input, scored in every run), then the table with the paper's numbers.
#   bash scripts/reproduce_ce_table4.sh                      # quick scale: procedural dSprites, this CPU
#   bash scripts/reproduce_ce_table4.sh DATA=/data scale=paper launcher=slurm hydra.launcher.partition=gpu trainer=gpu
# DATA (scale=paper) is the folder holding the six datasets' files:
#   dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz  3dshapes.h5  mpi3d_toy.npz  mpi3d_real.npz  cars/  smallnorb/
# Settings (scripts/common.sh): SEEDS (0 at quick scale, 0,1,2 at paper scale), OUT (logs/sweeps/ce_table4), REPORT
# ($OUT/report), DATA, MODELS (default mlp_dislib,resnet18) and DATASETS (the rows to run at paper scale; default all
# six). A re-launch with the same OUT skips completed runs and resumes unfinished ones.
NAME=ce_table4 SETTINGS="DATA MODELS DATASETS"
DEFAULT_SEEDS=$([[ " $* " == *" scale=paper "* ]] && echo 0,1,2 || echo 0)
source "$(dirname "$0")/common.sh"
MODELS=${MODELS:-mlp_dislib,resnet18}
sweep() {  # sweep NAME OVERRIDES...: both trained encoders on one dataset, over SEEDS
  "$PY" train.py -m experiment=ce_table4 model="$MODELS" seed="$SEEDS" hydra.sweep.dir="$OUT/$1" "${@:2}"
}
if [[ " $* " == *" scale=paper "* ]]; then
  : "${DATA:?set DATA to the folder holding the datasets (see the top of this script)}"
  DATASETS=${DATASETS:-dsprites shapes3d mpi3d_toy mpi3d_real cars3d smallnorb}
  for row in ${DATASETS//,/ }; do
    case $row in
      dsprites)   sweep "$row" dataset=dsprites dataset.path="$DATA/dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz" "$@" ;;
      shapes3d)   sweep "$row" dataset=shapes3d dataset.path="$DATA/3dshapes.h5" "$@" ;;
      mpi3d_toy)  sweep "$row" dataset=mpi3d dataset.variant=toy dataset.path="$DATA/mpi3d_toy.npz" "$@" ;;
      mpi3d_real) sweep "$row" dataset=mpi3d dataset.variant=real dataset.path="$DATA/mpi3d_real.npz" "$@" ;;
      cars3d)     sweep "$row" dataset=cars3d dataset.path="$DATA/cars" "$@" ;;
      smallnorb)  sweep "$row" dataset=smallnorb dataset.path="$DATA/smallnorb" "$@" ;;
      *) echo "DATASETS: unknown row '$row'. Fix: choose from dsprites shapes3d mpi3d_toy mpi3d_real cars3d smallnorb" >&2; exit 2 ;;
    esac
  done
else  # the procedural clone (rendered once, no file needed). f_MLP trains on all of it (a CPU does an epoch in a
  # minute) with the paper's batch of 4096 for 5 epochs, and its probe fits on 300,000 images, close to the
  # paper's fit on the whole training split, so its raw-input scores are the table's x column; ResNet18
  # (≈ 200 images/s here) trains on the preset's 10% subset for 2 epochs.
  [[ ",$MODELS," == *",mlp_dislib,"* ]] && MODELS=mlp_dislib sweep dsprites_mlp dataset.subset=1.0 dataset.batch_size=4096 \
    trainer.max_epochs=5 dataset.probe_fit=300000 "$@"
  [[ ",$MODELS," == *",resnet18,"* ]] && MODELS=resnet18 sweep dsprites_cnn "$@"
fi
report --table ce_table4
