"""Data generating processes: latents z, positives z_pos, and their observations x = g(z)."""

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from idexp.dgp.conditionals import Conditional
from idexp.dgp.marginals import Marginal
from idexp.dgp.mixing import InvertibleMLP, Moebius
from idexp.dgp.spaces import Space, Sphere, whole
from idexp.ground_truth import Truth

log = logging.getLogger(__name__)

Mixing = InvertibleMLP | Moebius
MixingSpec = Mixing | Mapping[str, Any]
"""A built mixing, or its keyword arguments: `type` (a key of MIXINGS, default mlp) picks the class; dim defaults to
the latent dim."""
MIXINGS = {"mlp": InvertibleMLP, "moebius": Moebius}

_TRAINING_STREAM = 1  # keeps training samples independent of the construction stream


class _SeededDGP(nn.Module):
    """What every DGP shares: a seeded mixing g and one reproducible training generator per device.

    Everything fixed at construction (g, cluster vectors) comes from a CPU generator seeded with
    `seed` (see `_construction_generator`), so the same seed gives the same process; training
    batches come from a separate stream derived from the seed.
    """

    def __init__(self, space: Space, conditional: Conditional, mixing: Mixing, seed: int):
        super().__init__()
        if mixing.dim != space.dim:
            raise ValueError(f"mixing has dim {mixing.dim}, the latent space has dim {space.dim}")
        self.space, self.conditional, self.mixing, self.seed = space, conditional, mixing, seed
        log.info("mixing g: condition numbers per layer %s", [round(c, 2) for c in mixing.condition_numbers])
        self._training_generators: dict[torch.device, torch.Generator] = {}

    @property
    def dim(self) -> int:
        return self.space.dim

    @property
    def device(self) -> torch.device:
        return next(self.mixing.buffers()).device

    def truth(self) -> Truth:
        """What the probe compares with besides the latents: the conditional's Λ or κ, g's conditioning."""
        lambdas, kappa = getattr(self.conditional, "lambdas", None), getattr(self.conditional, "kappa", None)
        return Truth(index_vectors=self._index_vectors(),
                     lambdas=None if lambdas is None else lambdas.detach().float().cpu().numpy(),
                     kappa=None if kappa is None else float(kappa),
                     facts={f"dgp/cond_layer{i}": c for i, c in enumerate(self.mixing.condition_numbers)},
                     mixing=self.mixing)

    def _index_vectors(self) -> dict[str, np.ndarray]:
        return {}

    def training_generator(self) -> torch.Generator:
        """The generator used when `sample` gets none, created lazily for the current device."""
        device = self.device
        if device not in self._training_generators:
            seed = np.random.SeedSequence([self.seed, _TRAINING_STREAM]).generate_state(1)[0]
            self._training_generators[device] = torch.Generator(device).manual_seed(int(seed))
        return self._training_generators[device]

    def extra_repr(self) -> str:
        return f"space={self.space}, conditional={self.conditional!r}, seed={self.seed}"

    def _observe(self, latents: dict[str, Tensor]) -> dict[str, Tensor]:
        return latents | {"x": self.mixing(latents["z"]), "x_pos": self.mixing(latents["z_pos"])}


def _construction_generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _build_mixing(mixing: MixingSpec, dim: int, generator: torch.Generator) -> Mixing:
    """Pass a built mixing through, or build the one its `type` names from its keyword arguments."""
    if not isinstance(mixing, Mapping):
        return mixing
    settings = dict(mixing)
    kind = settings.pop("type", "mlp")
    if kind not in MIXINGS:
        raise ValueError(f"mixing.type={kind!r} is not a mixing. Fix: dgp.mixing.type=one of {', '.join(MIXINGS)}.")
    return MIXINGS[kind](**{"dim": dim, **settings}, generator=generator)


class LatentDGP(_SeededDGP):
    """z ~ marginal, z_pos ~ conditional(. | z), x = g(z), x_pos = g(z_pos)."""

    def __init__(
        self,
        space: Space,
        marginal: Marginal,
        conditional: Conditional,
        mixing: MixingSpec,
        seed: int,
        dim: int | None = None,
    ):
        # `dim` only cross-checks the config's dgp.dim against the space it interpolates into.
        if dim is not None and dim != space.dim:
            raise ValueError(f"dim={dim} disagrees with the {space.dim} dimensions of space={type(space).__name__}. "
                             f"Fix: drop the space.dim override, so that it follows dim={dim}.")
        if getattr(conditional, "sphere_only", False) and not isinstance(space, Sphere):
            raise ValueError(f"conditional={type(conditional).__name__} is defined on the sphere only, but "
                             f"space={type(space).__name__}. Fix: dgp=sphere, or a conditional for the box: "
                             "dgp/conditional=normal, laplace, gennorm or truncated_laplace (loss=aninfonce picks the "
                             "anisotropic one).")
        mixing = _build_mixing(mixing, space.dim, _construction_generator(seed))
        super().__init__(space, conditional, mixing, seed)
        self.marginal = marginal

    def extra_repr(self) -> str:
        return f"marginal={self.marginal!r}, {super().extra_repr()}"

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """Keys z, z_pos, x, x_pos, each (n, dim) on `self.device`."""
        generator = generator if generator is not None else self.training_generator()
        z = self.marginal.sample(n, self.space, generator)
        z_pos = self.conditional.sample(z, self.space, generator)
        return self._observe({"z": z, "z_pos": z_pos})


class ClusterDGP(_SeededDGP):
    """The cross-entropy paper's cluster-centric process on the sphere.

    Instance labels are uniform over n_instances, each instance belongs to cluster
    instance % n_clusters, and both z and its augmentation z_pos are independent draws from the
    conditional around that cluster's vector (so every draw of an instance is a fresh latent).
    With fewer instances than clusters only the first n_instances clusters are ever drawn, as in the
    CE paper's code (its Table 3 row |C| = 10⁴ has N = 10³; the classifier still has |C| outputs).
    """

    cluster_vectors: Tensor

    def __init__(
        self,
        dim: int,
        n_clusters: int,
        n_instances: int,
        cluster_marginal: Marginal,
        conditional: Conditional,
        mixing: MixingSpec,
        seed: int,
    ):
        if not (whole(n_clusters) and n_clusters >= 2):
            raise ValueError(f"n_clusters={n_clusters!r} must be at least 2 classes. Fix: e.g. n_clusters=100.")
        if not (whole(n_instances) and n_instances >= 2):
            raise ValueError(f"n_instances={n_instances!r} must be at least 2 (instance i belongs to cluster i mod "
                             "n_clusters). Fix: e.g. n_instances=1000.")
        if n_instances < n_clusters:
            log.warning("dgp.n_instances=%d < dgp.n_clusters=%d: only the first %d clusters are ever drawn (as in the "
                        "CE paper's code)", n_instances, n_clusters, n_instances)
        generator = _construction_generator(seed)
        space = Sphere(dim)
        super().__init__(space, conditional, _build_mixing(mixing, dim, generator), seed)
        self.n_clusters, self.n_instances = n_clusters, n_instances
        clusters = cluster_marginal.sample(n_clusters, space, generator)
        self.register_buffer("cluster_vectors", clusters)

    def extra_repr(self) -> str:
        sizes = f"n_clusters={self.n_clusters}, n_instances={self.n_instances}"
        return f"{sizes}, {super().extra_repr()}"

    def cluster_of(self, instance: Tensor) -> Tensor:
        return instance % self.n_clusters

    def _index_vectors(self) -> dict[str, np.ndarray]:
        """Each drawn class's cluster vector, and each instance's: only the first min(|C|, N) classes are drawn."""
        vectors = self.cluster_vectors.detach().float().cpu()
        instances = torch.arange(self.n_instances)
        return {"label": vectors[: min(self.n_clusters, self.n_instances)].numpy(),
                "instance": vectors[self.cluster_of(instances)].numpy()}

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """Keys z, z_pos, x, x_pos (n, dim) and label, instance (n,) int64, on `self.device`."""
        generator = generator if generator is not None else self.training_generator()
        instance = torch.randint(self.n_instances, (n,), generator=generator, device=self.device)
        label = self.cluster_of(instance)
        centers = self.cluster_vectors[label]
        z = self.conditional.sample(centers, self.space, generator)
        z_pos = self.conditional.sample(centers, self.space, generator)
        return self._observe({"z": z, "z_pos": z_pos, "label": label, "instance": instance})
