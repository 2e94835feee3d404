"""Start-up validation: every impossible value stops the run before any work, naming key, value and fix.

Hydra already rejects unknown groups (`loss=infonse`) and unknown keys (`dgp.dimm=5`) at
composition time. What it cannot know is which *values* make sense and which groups fit
together; that is checked here, on the composed config, before anything is instantiated.
Constructor checks (ValueError/TypeError raised while building a component) are turned into the
same kind of message by `building`. A single run is validated by `idexp.preflight` before Hydra makes
its folder; each sweep job again inside the job.
"""
from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Iterator

from hydra.utils import get_class
from lightning.fabric.utilities.exceptions import MisconfigurationException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException


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
        _require(isinstance(value, (int, float)) and math.isfinite(value) and value > 0,
                 f"{key}={value} must be a positive finite number. Fix: {fix}.")


def validate(cfg: DictConfig) -> None:
    """Raise ConfigError for the first impossible or incompatible setting in `cfg`."""
    unresolvable = _resolution_error(cfg)
    if isinstance(unresolvable, SelectorError):
        raise unresolvable
    _validate_seeds(cfg)
    _require(isinstance(_get(cfg, "train"), bool) or _get(cfg, "train") is None,
             f"train={_get(cfg, 'train')!r} must be true or false. Fix: train=false to only probe, train=true to train.")
    if _get(cfg, "dgp") is not None:
        dim = _get(cfg, "dgp.dim")
        _require(isinstance(dim, int) and dim >= 2,
                 f"dgp.dim={dim} is impossible: latents live on the sphere S^(d-1) or a d-box and need d >= 2. "
                 "Fix: set dgp.dim=2 or more (the papers use 5 or 10).")
        _validate_conditional(cfg, dim)
        _validate_clusters(cfg)
        _validate_probe(cfg, dim)
        steps = _get(cfg, "trainer.max_steps")
        _require(isinstance(steps, int) and steps > 0,  # a DGP's stream of batches has no epochs
                 f"trainer.max_steps={steps} must be a positive number of optimisation steps. Fix: e.g. trainer.max_steps=3000.")
    else:
        _validate_dataset(cfg)
    _validate_loss(cfg)
    batch = _get(cfg, "dataset.batch_size")
    _require(isinstance(batch, int) and not isinstance(batch, bool),
             f"dataset.batch_size={batch!r} must be a whole number of samples. Fix: e.g. dataset.batch_size=512.")
    _require(batch >= 2,
             f"dataset.batch_size={batch} leaves no negatives or statistics. "
             "Fix: set dataset.batch_size=2 or more.")
    _validate_length(cfg)
    _positive(cfg, "optimizer.lr", "e.g. optimizer.lr=1e-3")
    _positive(cfg, "loss.lr", "e.g. loss.lr=1e-2, or null for the encoder's rate")
    _positive(cfg, "trainer.log_every_n_steps", "e.g. trainer.log_every_n_steps=50")
    _validate_trainer(cfg)
    _validate_widths(cfg)
    if unresolvable is not None:  # after the checks that explain a missing value better
        raise unresolvable


class SelectorError(ConfigError):
    """A setting selects an entry that does not exist (`scale=nosuch` in `${scales.${scale}.lr}`)."""


def _resolution_error(cfg: DictConfig) -> ConfigError | None:
    """The first `${...}` that does not resolve, as a ConfigError; a SelectorError when a setting selects a
    missing entry, so the message names that setting and its choices rather than the key that reads it."""
    for key in cfg:
        if key == "hydra":  # Hydra's runtime values resolve only inside the job
            continue
        try:
            value = cfg[key]
            if OmegaConf.is_config(value):
                OmegaConf.to_container(value, resolve=True)
        except OmegaConfBaseException as error:
            full_key = getattr(error, "full_key", None) or str(key)
            raw = _raw(cfg, full_key)
            for mapping, selector in re.findall(r"\$\{([\w.]+)\.\$\{([\w.]+)\}", raw):
                value, choices = _get(cfg, selector), _get(cfg, mapping)
                if OmegaConf.is_dict(choices) and value not in choices:
                    return SelectorError(f"{selector}={value!r} is not one of the choices {', '.join(map(str, choices))} "
                                         f"(it selects an entry of {mapping}). Fix: {selector}=<one of them>.")
            reason = str(error).splitlines()[0]
            return ConfigError(f"{full_key}={raw} cannot be resolved: {reason}. "
                               f"Fix: correct {full_key} or the setting it refers to.")
    return None


def _raw(cfg: DictConfig, key: str) -> str:
    """The value of `key` as written, before interpolation."""
    parent, _, leaf = key.rpartition(".")
    try:
        node = OmegaConf.select(cfg, parent, throw_on_resolution_failure=False) if parent else cfg
        return str(node._get_node(leaf)._value())
    except Exception:
        return "?"


def _validate_length(cfg: DictConfig) -> None:
    """Training ends after trainer.max_steps steps or trainer.max_epochs epochs (-1: that one sets no end)."""
    steps, epochs = _get(cfg, "trainer.max_steps"), _get(cfg, "trainer.max_epochs")
    for key, value in (("trainer.max_steps", steps), ("trainer.max_epochs", epochs)):
        _require(value is None or (isinstance(value, int) and (value > 0 or value == -1)),
                 f"{key}={value} must be a positive number (or -1 for no limit). Fix: e.g. {_length_example(cfg)}.")
    _require((steps or -1) > 0 or (epochs or -1) > 0,
             f"trainer.max_steps={steps} and trainer.max_epochs={epochs} set no end to training. "
             f"Fix: e.g. {_length_example(cfg)}.")


def _length_example(cfg: DictConfig) -> str:
    """A length that fits the run: a DGP's stream has only steps, a dataset is trained for epochs."""
    return "trainer.max_steps=3000" if _get(cfg, "dgp") is not None else "trainer.max_epochs=10"


def _validate_dataset(cfg: DictConfig) -> None:
    """An image dataset (dgp=null): its file, split, subset and probe sizes, before anything is read."""
    path, name = _get(cfg, "dataset.path"), _get(cfg, "dataset.name")
    _require(path is not None or name == "dsprites",
             f"dataset.path is not set, and {name} has no procedural clone. Fix: dataset.path=<the {name} file or folder> "
             "(the README's dataset table says what it holds).")
    if path is not None:
        from pathlib import Path

        _require(Path(str(path)).expanduser().exists(),
                 f"dataset.path={path} does not exist. Fix: point dataset.path at the {_get(cfg, 'dataset.name')} "
                 "file or folder (the README's dataset table says where to get it)"
                 + (", or omit dataset.path for the procedural dSprites clone." if _get(cfg, "dataset.name") == "dsprites" else "."))
    subset = _get(cfg, "dataset.subset")
    _require(subset is None or (isinstance(subset, (int, float)) and 0 < subset <= 1),
             f"dataset.subset={subset} must be a fraction in (0, 1]. Fix: e.g. dataset.subset=0.1 for a tenth.")
    split = _get(cfg, "dataset.split")
    if split is not None:
        values = list(split)
        _require(len(values) == 3 and all(isinstance(v, (int, float)) and v > 0 for v in values) and abs(sum(values) - 1) < 1e-6,
                 f"dataset.split={values} must be three positive train/val/test fractions summing to 1. Fix: dataset.split=[0.8,0.1,0.1].")
    factors, target = _get(cfg, "dataset.factors"), _get(cfg, "dataset.target")
    if factors is not None:
        _require(target in factors, f"dataset.target={target!r} is not a factor of this dataset. "
                                    f"Fix: dataset.target=<one of {', '.join(factors)}>.")
    for key in ("dataset.probe_fit", "dataset.probe_score"):
        value = _get(cfg, key)
        _require(value is None or (isinstance(value, int) and value >= 10),
                 f"{key}={value} must be at least 10 images. Fix: e.g. {key}=20000.")


def _validate_probe(cfg: DictConfig, dim: int) -> None:
    key = "callbacks.probe"
    fraction, samples = _get(cfg, f"{key}.train_fraction"), _get(cfg, f"{key}.n_samples")
    if fraction is None and samples is None:
        return
    _require(isinstance(fraction, (int, float)) and 0 < fraction < 1,
             f"{key}.train_fraction={fraction} must lie strictly between 0 and 1: the probes are fitted on that share "
             f"of the samples and scored on the rest. Fix: {key}.train_fraction=0.5 (the default).")
    _positive(cfg, f"{key}.n_samples", f"e.g. {key}.n_samples=8192")
    needed = max(10, dim + 2)  # an affine fit in d dimensions needs more than d + 1 points
    fit = int(samples * fraction)
    _require(min(fit, samples - fit) >= needed,
             f"{key}.n_samples={samples} with train_fraction={fraction} fits the probes on {fit} samples and scores "
             f"them on {samples - fit}; each part needs at least {needed}. Fix: {key}.n_samples=8192 (the default).")


def _validate_trainer(cfg: DictConfig) -> None:
    devices, accelerator = _get(cfg, "trainer.devices"), str(_get(cfg, "trainer.accelerator"))
    if isinstance(devices, int):
        _require(devices >= 1 or devices == -1,
                 f"trainer.devices={devices} leaves nothing to train on. Fix: trainer.devices=1 (or -1 for all).")
    if accelerator not in ("auto", "cpu", "None"):
        _require(_accelerator_available(accelerator),
                 f"trainer.accelerator={accelerator}, but no {'GPU' if accelerator in ('gpu', 'cuda') else accelerator} "
                 "was found on this machine. Fix: run on the CPU with trainer=cpu (or trainer.accelerator=cpu).")
    every = _get(cfg, "callbacks.checkpoint.every_n_train_steps")
    if _get(cfg, "callbacks.checkpoint") is not None:
        _require(isinstance(every, int) and every >= 1,
                 f"callbacks.checkpoint.every_n_train_steps={every} would never save a checkpoint to resume from. "
                 "Fix: a positive number of steps, e.g. callbacks.checkpoint.every_n_train_steps=1000.")


def _accelerator_available(name: str) -> bool:
    from lightning.pytorch.accelerators import AcceleratorRegistry

    names = ("cuda", "mps") if name == "gpu" else (name,)
    known = [n for n in names if n in AcceleratorRegistry]
    if not known:  # not an accelerator Lightning knows: its own message lists the choices
        return True
    for accelerator in known:
        with contextlib.suppress(Exception):  # TPU's check needs torch_xla: not installed is not available
            if AcceleratorRegistry.get(accelerator).is_available():
                return True
    return False


def _validate_seeds(cfg: DictConfig) -> None:
    """Every `seed` (the run's, the DGP's, the data's) seeds numpy and torch: an integer in [0, 2^32)."""
    for key in ("seed", *(f"{group}.seed" for group in cfg if OmegaConf.is_dict(cfg.get(group)) and group != "hydra")):
        seed = _get(cfg, key)
        if key == "seed" or seed is not None:
            _require(isinstance(seed, int) and not isinstance(seed, bool) and 0 <= seed < 2**32,
                     f"{key}={seed!r} must be an integer from 0 to 2^32 - 1. Fix: e.g. {key}=0 (a sweep: {key}=0,1,2).")


def _validate_widths(cfg: DictConfig) -> None:
    hidden = _get(cfg, "model.hidden")
    if hidden is None:
        return
    widths = list(hidden) if OmegaConf.is_list(hidden) or isinstance(hidden, (list, tuple)) else [hidden]
    _require(all(isinstance(w, int) and w >= 1 for w in widths),
             f"model.hidden={widths} must list positive integer widths (a width < 1 passes nothing on). "
             "Fix: positive widths, e.g. model.hidden=[256,256,256] ([] for no hidden layer).")


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
    _positive(cfg, f"{key}.bound", f"set {key}.bound to a positive truncation, e.g. {key}.bound=2")
    _positive(cfg, f"{key}.beta", f"set {key}.beta to a positive shape, e.g. {key}.beta=2 (normal) or 1 (Laplace)")
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
    # fewer instances than clusters is allowed: the CE paper's code runs Table 3's |C| = 10⁴ row with N = 10³
    _require(isinstance(instances, int) and instances >= 2,
             f"dgp.n_instances={instances} must be at least 2 (instance i belongs to cluster i mod |C|). "
             f"Fix: e.g. dgp.n_instances=1000.")


# A loss head's size and the setting that fixes how many target values the data provide.
HEAD_SIZES = (("loss.n_classes", "dgp.n_clusters"), ("loss.n_instances", "dgp.n_instances"),
              ("loss.n_classes", "dataset.n_classes"))


def _validate_loss(cfg: DictConfig) -> None:
    target = _get(cfg, "loss._target_")
    try:
        requires = set(getattr(get_class(target), "requires", ()))
    except Exception as error:  # a wrong _target_ written in a config file
        raise ConfigError(f"loss._target_={target!r} cannot be imported ({error}). Fix: choose a loss with loss=<name>.") from None
    for head, source in HEAD_SIZES:
        size, provided = _get(cfg, head), _get(cfg, source)
        _require(size is None or provided is None or size == provided,
                 f"{head}={size}, but the data provide {provided} values ({source}={provided}): the head needs one row "
                 f"per value. Fix: drop the {head} override (it follows {source}), or set {source}={size}.")
    provides = _dataset_batch_keys(cfg)
    if provides is not None and not requires <= provides:
        raise ConfigError(
            f"loss._target_={target} needs the batch keys {', '.join(sorted(requires - provides))}, which "
            f"dataset={_choice('dataset')} does not provide (its batches hold {', '.join(sorted(provides))}). "
            "Fix: loss=ce (a classifier of dataset.target).")
    needs_clusters = requires & {"label", "instance"}
    if needs_clusters and provides is None and _get(cfg, "dgp.n_clusters") is None:
        raise ConfigError(
            f"loss._target_={target} needs {'class labels' if 'label' in requires else 'instance indices'}, "
            f"which only a cluster DGP provides, but dgp.n_clusters is not set (dgp={_choice('dgp')}). "
            "Fix: add dgp=clusters.")
    _positive(cfg, "loss.temperature", "e.g. loss.temperature=0.1")


def _dataset_batch_keys(cfg: DictConfig) -> set[str] | None:
    """What the dataset's batches hold, when its datamodule declares it (None: it depends on the DGP)."""
    try:
        keys = getattr(get_class(_get(cfg, "dataset._target_")), "batch_keys", None)
    except Exception:
        return None
    return set(keys) if keys is not None else None


# Below these, a run completes but its numbers mean little; the warning names the cause.
SMALL_BATCH = 16
PROBE_FIT_PER_PARAMETER = 10  # probe samples per parameter of an affine fit (d + 1 per target)


def config_warnings(cfg: DictConfig) -> list[str]:
    """Values a run can use but a reader of its results must be told about (kept in results.json)."""
    warnings = []
    batch = _get(cfg, "dataset.batch_size")
    if isinstance(batch, int) and batch < SMALL_BATCH:
        warnings.append(f"dataset.batch_size={batch} leaves each sample only {batch - 1} other{'s' * (batch > 2)} in its "
                        "batch as negatives (contrastive losses) or for the normalisation statistics: the run learns little. "
                        "Fix: dataset.batch_size=256 or more (the papers use 1000-6144).")
    dim, samples = _get(cfg, "dgp.dim"), _get(cfg, "callbacks.probe.n_samples")
    fraction = _get(cfg, "callbacks.probe.train_fraction")
    if isinstance(dim, int) and isinstance(samples, int) and isinstance(fraction, (int, float)):
        fit = int(samples * fraction)
        if fit < PROBE_FIT_PER_PARAMETER * (dim + 1):
            warnings.append(f"callbacks.probe.n_samples={samples} fits the probes on {fit} samples for {dim} latents "
                            f"({dim + 1} parameters per latent): too few for a stable fit, so the scores are unreliable "
                            f"(R² can fall below 0). Fix: callbacks.probe.n_samples="
                            f"{max(8192, 2 * PROBE_FIT_PER_PARAMETER * (dim + 1))} (8192 is the default).")
    return warnings


def unread_additions(cfg: DictConfig, overrides: list[str]) -> list[str]:
    """Keys added with `+key=value` that nothing reads: no component (`_target_`) lies on the key's path,
    and the key is neither a config group nor Hydra's. They are kept in the record but have no effect."""
    from hydra.core.hydra_config import HydraConfig

    groups = set(HydraConfig.get().runtime.choices) if HydraConfig.initialized() else set()
    unread = []
    for item in overrides:
        key = item.removeprefix("+").split("=", 1)[0]
        if not item.startswith("+") or "=" not in item or "/" in key or "@" in key or key in groups:
            continue
        parts = key.split(".")
        if parts[0] != "hydra" and not any(_get(cfg, ".".join(parts[:i] + ["_target_"])) for i in range(1, len(parts))):
            unread.append(key)
    return unread


def _choice(group: str) -> str:
    from hydra.core.hydra_config import HydraConfig

    with contextlib.suppress(ValueError):
        return str(HydraConfig.get().runtime.choices.get(group))
    return "?"


# What a constructor raises for a value it cannot use (Lightning's own kind included).
ARGUMENT_ERRORS = (ValueError, TypeError, MisconfigurationException)


@contextlib.contextmanager
def building(key: str) -> Iterator[None]:
    """Turn a component's own argument check into a ConfigError that names its config key."""
    try:
        yield
    except ConfigError:
        raise
    except ARGUMENT_ERRORS as error:
        raise ConfigError(f"{key}: {error}. Fix: correct the {key}.* values (see `python train.py --cfg job`).") from None
    except Exception as error:  # Hydra wraps constructor errors in InstantiationException
        cause = error.__cause__ or error
        if isinstance(cause, ConfigError):  # the component's own message already names key, value and fix
            raise cause from None
        if isinstance(cause, ARGUMENT_ERRORS):
            raise ConfigError(f"{key}: {cause}. Fix: correct the {key}.* values (see `python train.py --cfg job`).") from None
        raise
