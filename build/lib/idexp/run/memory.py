"""A batch that does not fit in memory: say how much the setting asks for and what there is."""
from __future__ import annotations

import os
import re

import torch


def out_of_memory(error: BaseException) -> bool:
    text = str(error)
    return isinstance(error, torch.OutOfMemoryError) or (
        isinstance(error, RuntimeError) and ("not enough memory" in text or "can't allocate memory" in text))


def memory_message(error: BaseException, cfg) -> str:
    batch = cfg.get("dataset", {}).get("batch_size")
    return (f"dataset.batch_size={batch} does not fit in memory: the first training step asked for "
            f"{_requested(str(error))} at once, and this machine has {_available()}. "
            f"Fix: lower dataset.batch_size (the papers use 1000-1024) or the model's widths.")


def _requested(text: str) -> str:
    if match := re.search(r"allocate (\d+) bytes", text):
        return _gib(int(match.group(1)))
    if match := re.search(r"[Tt]ried to allocate ([\d.]+ [KMGT]iB)", text):
        return match.group(1)
    return "more memory than there is"


def _available() -> str:
    if torch.cuda.is_available():
        free, total = torch.cuda.mem_get_info()
        return f"{_gib(free)} free of {_gib(total)} on the GPU"
    return f"{_gib(os.sysconf('SC_PHYS_PAGES') * os.sysconf('SC_PAGE_SIZE'))} of RAM"


def _gib(n_bytes: int) -> str:
    return f"{n_bytes / 2**30:.1f} GiB"
