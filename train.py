"""Train and probe one experiment: `python train.py loss=aninfonce dgp=sphere` (see README)."""
from idexp.train import main

if __name__ == "__main__":
    main()
