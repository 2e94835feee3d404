"""Render idexp's procedural dSprites clone to an npz in the original schema.

    python scripts/render_dsprites.py OUT.npz
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from idexp.data.render_dsprites import render_dsprites  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description="Render the procedural dSprites clone (737,280 images).")
    parser.add_argument("out", type=Path, help="the npz to write")
    args = parser.parse_args()
    start = time.time()
    path = render_dsprites(args.out)
    print(f"wrote {path} in {time.time() - start:.1f} s")


if __name__ == "__main__":
    main()
