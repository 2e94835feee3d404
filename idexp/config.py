"""Start-up validation: every impossible value stops the run before any work, naming key, value and fix.

Hydra already rejects unknown groups (`loss=infonse`) and unknown keys (`dgp.dimm=5`) at
composition time. What it cannot know is which *values* make sense and which groups fit
together; that is checked here, on the composed config, before anything is instantiated.
Constructor checks (ValueError/TypeError raised while building a component) are turned into the
same kind of message by `building`.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator

from hydra.utils import get_class
from omegaconf import DictConfig, OmegaConf


class ConfigError(ValueError):
    """A user-facing configuration mistake; the message names the key, the value and the fix."""


def _get(cfg: DictConfig, key: str):
    return OmegaConf.select(cfg, key, default=None, throw_on_missing=False, throw_on_resolution_failure=False)


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


def _positive(cfg: DictConfig, key: str, fix: str) -> None:
    value = _get(cfg, key)
    if value is not None:
        _require(isinstance(value, (int, float)) and value > 0, f"{key}={value} must be a positive number. Fix: {fix}.")


def validate(cfg: DictConfig) -> None:
    """Raise ConfigError for the first impossible or incompatible setting in `cfg`."""
    dim = _get(cfg, "dgp.dim")
    _require(isinstance(dim, int) and dim >= 2,
             f"dgp.dim={dim} is impossible: latents live on the sphere S^(d-1) or a d-box and need d >= 2. "
             "Fix: set dgp.dim=2 or more (the papers use 5 or 10).")
    _validate_conditional(cfg, dim)
    _validate_clusters(cfg)
    _validate_loss(cfg)
    _positive(cfg, "dataset.batch_size", "set dataset.batch_size to at least 2, e.g. dataset.batch_size=512")
    _require(_get(cfg, "dataset.batch_size") >= 2,
             f"dataset.batch_size={_get(cfg, 'dataset.batch_size')} leaves no negatives or statistics. "
             "Fix: set dataset.batch_size=2 or more.")
    steps = _get(cfg, "trainer.max_steps")
    _require(isinstance(steps, int) and steps > 0,
             f"trainer.max_steps={steps} must be a positive number of optimisation steps. Fix: e.g. trainer.max_steps=3000.")
    _positive(cfg, "optimizer.lr", "e.g. optimizer.lr=1e-3")
    _positive(cfg, "callbacks.probe.n_samples", "e.g. callbacks.probe.n_samples=8192")


SPHERE_ONLY = ("idexp.dgp.VonMisesFisher", "idexp.dgp.AnisotropicNormal")


def _validate_conditional(cfg: DictConfig, dim: int) -> None:
    key = "dgp.conditional"
    on_box = str(_get(cfg, "dgp.space._target_")).endswith("Box")
    _require(not (on_box and _get(cfg, f"{key}._target_") in SPHERE_ONLY),
             f"{key}._target_={_get(cfg, f'{key}._target_')} is defined on the sphere only, but dgp=box. "
             "Fix: use dgp=sphere, or a box conditional: dgp/conditional=normal, laplace or gennorm "
             "(loss=aninfonce selects the anisotropic conditional; add dgp/conditional=normal).")
    _positive(cfg, f"{key}.kappa", f"set {key}.kappa to a positive concentration, e.g. {key}.kappa=10")
    _positive(cfg, f"{key}.scale", f"set {key}.scale to a positive noise scale, e.g. {key}.scale=0.1")
    _positive(cfg, f"{key}.threshold", f"set {key}.threshold to a positive tolerance or null for no rejection")
    lambdas = _get(cfg, f"{key}.lambdas")
    if lambdas is None:
        return
    if isinstance(lambdas, str):
        _require(lambdas in ("bimodal", "linspace"),
                 f"{key}.lambdas={lambdas!r} is unknown. Fix: use 'bimodal', 'linspace' or a list of {dim} positive numbers.")
        return
    values = list(lambdas)
    _require(len(values) == dim,
             f"{key}.lambdas has {len(values)} entries but dgp.dim={dim}: Λ is one concentration per latent. "
             f"Fix: give {dim} values, e.g. {key}.lambdas=[{','.join(['10'] * dim)}], or use 'bimodal'/'linspace'.")
    _require(all(isinstance(v, (int, float)) and v > 0 for v in values),
             f"{key}.lambdas={values} must all be positive concentrations. Fix: replace the non-positive entries.")


def _validate_clusters(cfg: DictConfig) -> None:
    clusters, instances = _get(cfg, "dgp.n_clusters"), _get(cfg, "dgp.n_instances")
    if clusters is None:
        return
    _require(isinstance(clusters, int) and clusters >= 2,
             f"dgp.n_clusters={clusters} must be at least 2 classes. Fix: e.g. dgp.n_clusters=100.")
    _require(isinstance(instances, int) and instances >= clusters,
             f"dgp.n_instances={instances} must be >= dgp.n_clusters={clusters}: instance i belongs to cluster i mod |C|. "
             f"Fix: set dgp.n_instances={clusters} or more.")


def _validate_loss(cfg: DictConfig) -> None:
    target = _get(cfg, "loss._target_")
    try:
        requires = set(getattr(get_class(target), "requires", ()))
    except Exception as error:  # a wrong _target_ written in a config file
        raise ConfigError(f"loss._target_={target!r} cannot be imported ({error}). Fix: choose a loss with loss=<name>.") from None
    needs_clusters = requires & {"label", "instance"}
    if needs_clusters and _get(cfg, "dgp.n_clusters") is None:
        raise ConfigError(
            f"loss._target_={target} needs {'class labels' if 'label' in requires else 'instance indices'}, "
            f"which only a cluster DGP provides, but dgp.n_clusters is not set (dgp={_choice('dgp')}). "
            "Fix: add dgp=clusters.")
    _positive(cfg, "loss.temperature", "e.g. loss.temperature=0.1")


def _choice(group: str) -> str:
    from hydra.core.hydra_config import HydraConfig

    with contextlib.suppress(ValueError):
        return str(HydraConfig.get().runtime.choices.get(group))
    return "?"


@contextlib.contextmanager
def building(key: str) -> Iterator[None]:
    """Turn a component's own argument check into a ConfigError that names its config key."""
    try:
        yield
    except ConfigError:
        raise
    except (ValueError, TypeError) as error:
        raise ConfigError(f"{key}: {error}. Fix: correct the {key}.* values (see `python train.py --cfg job`).") from None
    except Exception as error:  # Hydra wraps constructor errors in InstantiationException
        cause = error.__cause__ or error
        if isinstance(cause, (ValueError, TypeError)):
            raise ConfigError(f"{key}: {cause}. Fix: correct the {key}.* values (see `python train.py --cfg job`).") from None
        raise
