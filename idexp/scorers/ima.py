"""The IMA contrast of the true mixing and of a learned decoder (the IMA-VAE paper's C_IMA; idexp/metrics/ima.py)."""
from __future__ import annotations

import numpy as np
import torch

from idexp.ground_truth import Learned, ProbeData
from idexp.metrics.ima import ima_contrast
from idexp.scorers.base import Score, Scorer, fmt

CIMA_DECODER = Score("cima_decoder", "C_IMA of the learned decoder")
CIMA_MIXING = Score("cima_mixing", "C_IMA of the true mixing")


class IMAScores(Scorer):
    """C_IMA of the DGP's mixing g at the true latents of the fit split, and of a loss's decoder (`Learned.decoder`,
    `loss=vae`) at the encoder's codes of the same samples; each only where there is one. 0 means
    orthogonal Jacobian columns everywhere (a conformal map), larger values a map further from IMA's class.
    `max_samples` bounds the cost (one d × d Jacobian per sample)."""

    headline = CIMA_DECODER
    baseline = False  # the raw inputs decode nothing

    def __init__(self, max_samples: int = 4096) -> None:
        self.max_samples = max_samples
        self.codes: np.ndarray | None = None

    def scores(self, fit_codes: np.ndarray, score_codes, data: ProbeData, baseline: bool = False) -> dict:
        self.codes = fit_codes[: self.max_samples]  # where the decoder is evaluated, in `extras`
        return {}

    def extras(self, metrics: dict, data: ProbeData, learned: Learned) -> dict:
        scores = {}
        if data.truth.mixing is not None:
            scores[CIMA_MIXING.name] = _contrast(data.truth.mixing, data.fit.targets[: self.max_samples])
        if learned.decoder is not None and self.codes is not None:
            scores[CIMA_DECODER.name] = _contrast(learned.decoder, self.codes)
        return scores

    @staticmethod
    def summary(metrics: dict, trained: bool) -> list[str]:
        if CIMA_DECODER.key not in metrics:  # only a run with a decoder prints it; the mixing's is recorded always
            return []
        return [f"IMA contrast C_IMA (0: orthogonal Jacobian columns): learned decoder {fmt(metrics[CIMA_DECODER.key])}, "
                f"true mixing {fmt(metrics.get(CIMA_MIXING.key))}"]


def _contrast(function: torch.nn.Module, points: np.ndarray) -> float:
    """C_IMA of `function` at `points`, on the device and in the dtype of its weights."""
    tensors = [*function.parameters(), *function.buffers()] if isinstance(function, torch.nn.Module) else []
    device, dtype = (tensors[0].device, tensors[0].dtype) if tensors else (torch.device("cpu"), torch.float32)
    one_sample = lambda z: function(z[None])[0]  # noqa: E731  (modules take batches; the Jacobian is per sample)
    return ima_contrast(one_sample, torch.as_tensor(points, device=device, dtype=dtype))
