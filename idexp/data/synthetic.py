"""Feeds a synthetic DGP to Lightning, sampling every batch directly on the training device."""
from __future__ import annotations

import itertools
from collections.abc import Iterator

import logging

import lightning as L
import torch
from torch import nn

from idexp.dgp.sampling import SamplingError
from idexp.errors import ConfigError
from idexp.ground_truth import ProbeData, ProbeSplit, latent_factors

log = logging.getLogger(__name__)


class SyntheticDataModule(L.LightningDataModule):
    """Draws fresh batches from `dgp` at every step, on the device Lightning trains on.

    Batches are made in `transfer_batch_to_device`, so no DataLoader work and no host-to-device
    copies happen. Each rank gets its own generator (seed, rank), so DDP ranks see
    different data and a single-device run is reproducible from `seed`.
    """

    epochs = False  # an endless stream: a run's length is trainer.max_steps

    def __init__(self, dgp: nn.Module, batch_size: int = 512, seed: int = 0, probe_fit: int = 4096,
                 probe_score: int = 4096, input_dim: int | None = None, latent_dim: int | None = None,
                 n_classes: int | None = None, n_instances: int | None = None) -> None:
        super().__init__()
        for key, value in (("probe_fit", probe_fit), ("probe_score", probe_score)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 10:  # fewer per latent: warned about
                raise ConfigError(f"dataset.{key}={value!r}: the probe needs at least 10 fresh samples to fit on and "
                                  f"to score on. Fix: dataset.{key}=4096 (the default).")
        # the sizes other components read from the dataset config must be the DGP's own; an observation x has
        # the latents' size unless the DGP says otherwise (an `input_dim` attribute: x in R^D, z in R^d)
        observed = "input_dim" if hasattr(dgp, "input_dim") else "dim"
        classes = "n_classes" if hasattr(dgp, "n_classes") else "n_clusters"  # a cluster DGP's labels are its clusters
        for key, value, attribute in (("input_dim", input_dim, observed), ("latent_dim", latent_dim, "dim"),
                                      ("n_classes", n_classes, classes), ("n_instances", n_instances, "n_instances")):
            actual = getattr(dgp, attribute, None)
            if value is not None and value != actual:
                has = f"has {attribute}={actual}" if actual is not None else f"has no {attribute}"
                raise ConfigError(f"dataset.{key}={value}, but the DGP {has}. "
                                  f"Fix: drop the dataset.{key} override (it follows dgp.{attribute}).")
        _check_sampling(dgp)
        self.dgp = dgp
        self.n_classes = n_classes
        self.batch_size = batch_size
        self.seed = seed
        self.probe_fit, self.probe_score = probe_fit, probe_score
        self._generator: torch.Generator | None = None
        self._resume_state: torch.Tensor | None = None

    def train_dataloader(self) -> Iterator[int]:
        # An endless stream of batch sizes paces the loop; a DataLoader would only add per-step overhead.
        return itertools.repeat(self.batch_size)

    def transfer_batch_to_device(self, batch: int, device: torch.device, dataloader_idx: int) -> dict:
        if self._generator is None or self._generator.device != device:
            self.dgp.to(device)
            self._generator = self._make_generator(device)
        return self.dgp.sample(batch, generator=self._generator)

    def _make_generator(self, device: torch.device) -> torch.Generator:
        """Seeded by (seed, rank); a resumed single-device run continues its saved stream exactly, a
        resumed DDP run (whose checkpoint holds rank zero's state only) reseeds with the step mixed in."""
        trainer = self.trainer
        rank, world, step = (trainer.global_rank, trainer.world_size, trainer.global_step) if trainer else (0, 1, 0)
        generator = torch.Generator(device).manual_seed(self.seed * 1_000 + rank + 1_000_003 * step)
        if self._resume_state is not None and world == 1:
            generator.set_state(self._resume_state)
        return generator

    def state_dict(self) -> dict:
        """Saved in checkpoints, so a resumed run continues the same stream of batches."""
        return {"generator": self._generator.get_state()} if self._generator is not None else {}

    def load_state_dict(self, state: dict) -> None:
        self._resume_state = state.get("generator")

    def probe_data(self, device: torch.device) -> ProbeData:
        """Fresh samples: the probe fits on the first `probe_fit` and scores on the next `probe_score`."""
        batch = self.probe_batch(self.probe_fit + self.probe_score, device)
        split = self.probe_fit
        x, z = batch["x"], batch["z"].detach().float().cpu().numpy()
        return ProbeData(fit=ProbeSplit([x[:split]], z[:split], "fresh samples"),
                         score=ProbeSplit([x[split:]], z[split:], "fresh samples"),
                         factors=latent_factors(self.dgp.dim), truth=self.dgp.truth())

    def probe_batch(self, n: int, device: torch.device, seed_offset: int = 1) -> dict:
        """Fresh evaluation samples from a generator that training never touches."""
        self.dgp.to(device)
        generator = torch.Generator(device).manual_seed(self.seed * 1_000 + 999_983 * seed_offset)
        return self.dgp.sample(n, generator=generator)


def _check_sampling(dgp: nn.Module) -> None:
    """A DGP whose values cannot make a batch (noise far wider than its box) is refused before any training.
    Any other error of `sample` is a fault of the DGP's code, and keeps its traceback."""
    try:
        dgp.sample(1024, generator=torch.Generator().manual_seed(0))
    except SamplingError as error:
        raise ConfigError(f"dgp: {error} Fix: correct the dgp.* values, e.g. a dgp.conditional.scale well below the "
                          "size of the latent space.") from None
