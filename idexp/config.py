"""Start-up validation of what no single component owns, and the messages of the checks components make.

Hydra already rejects unknown groups (`loss=infonse`) and unknown keys (`dgp.dimm=5`) at composition time.
A value one component takes is checked by that component's constructor (a conditional's kappa in idexp/dgp/,
a dataset's path in idexp/data/, the probe's sizes in IdentifiabilityProbe); `building` turns what it raises
into a ConfigError naming the key the user types. `validate` checks the rest on the composed config: the run
itself (seeds, length, trainer, batch size, widths) and whether the groups fit together (the loss and the data).
A single run is validated by `idexp.run.preflight` before Hydra makes its folder, each sweep job again inside the
job; a constructor refuses a value when the job builds it, and `idexp.train` then discards the new folder.
"""
from __future__ import annotations

import contextlib
import copy
import inspect
import math
import re
from collections.abc import Iterator
from pathlib import Path

from hydra.utils import get_class, get_object, instantiate
from lightning.fabric.utilities.exceptions import MisconfigurationException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from idexp.errors import ConfigError  # defined below the components, which must not import this module


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


# Settings that must be positive where set, and an example of each.
POSITIVE = (("optimizer.lr", "e.g. optimizer.lr=1e-3"), ("loss.lr", "e.g. loss.lr=1e-2, or null for the encoder's rate"),
            ("loss.temperature", "e.g. loss.temperature=0.1"),
            ("trainer.log_every_n_steps", "e.g. trainer.log_every_n_steps=50"))


def validate(cfg: DictConfig) -> None:
    """Raise ConfigError for the first impossible or incompatible setting in `cfg`."""
    unresolvable = _resolution_error(cfg)
    if isinstance(unresolvable, SelectorError):
        raise unresolvable
    _validate_seeds(cfg)
    _require(isinstance(_get(cfg, "train"), bool) or _get(cfg, "train") is None,
             f"train={_get(cfg, 'train')!r} must be true or false. Fix: train=false to only probe, train=true to train.")
    _validate_loss(cfg)
    _validate_prior(cfg)
    batch = _get(cfg, "dataset.batch_size")
    _require(isinstance(batch, int) and not isinstance(batch, bool),
             f"dataset.batch_size={batch!r} must be a whole number of samples. Fix: e.g. dataset.batch_size=512.")
    _require(batch >= 2,
             f"dataset.batch_size={batch} leaves no negatives or statistics. "
             "Fix: set dataset.batch_size=2 or more.")
    _validate_length(cfg)
    for key, fix in POSITIVE:
        _positive(cfg, key, fix)
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
    """Training ends after trainer.max_steps steps or trainer.max_epochs epochs (-1: that one sets no end);
    data without epochs (a datamodule declaring `epochs = False`, an endless stream) end by steps only."""
    steps, epochs = _get(cfg, "trainer.max_steps"), _get(cfg, "trainer.max_epochs")
    has_epochs = _declared(cfg, "epochs", True)
    example = "trainer.max_epochs=10" if has_epochs else "trainer.max_steps=3000"
    _require(has_epochs or (isinstance(steps, int) and steps > 0),
             f"trainer.max_steps={steps} must be a positive number of optimisation steps: dataset={_choice('dataset')} "
             f"is a stream without epochs. Fix: e.g. {example}.")
    for key, value in (("trainer.max_steps", steps), ("trainer.max_epochs", epochs)):
        _require(value is None or (isinstance(value, int) and (value > 0 or value == -1)),
                 f"{key}={value} must be a positive number (or -1 for no limit). Fix: e.g. {example}.")
    _require((steps or -1) > 0 or (epochs or -1) > 0,
             f"trainer.max_steps={steps} and trainer.max_epochs={epochs} set no end to training. Fix: e.g. {example}.")


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


# A loss head's size and the dataset key that says how many target values the data provide.
HEAD_SIZES = (("loss.n_classes", "dataset.n_classes"), ("loss.n_instances", "dataset.n_instances"))

# Where a datamodule's batches depend on its DGP (no `batch_keys`): a batch key a loss may need, the dataset key
# that is null when the data lack it, what it is, and the choice that provides it.
BATCH_SOURCES = {"label": ("dataset.n_classes", "class labels", "dgp=clusters"),
                 "instance": ("dataset.n_instances", "instance indices", "dgp=clusters")}


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
                 f"per value. Fix: drop the {head} override (it follows {source}), "
                 f"or set {_source_key(cfg, source)}={size}.")
    needs, model_target = getattr(get_class(target), "encoder_needs", ()), _get(cfg, "model._target_")
    missing = [name for name in needs if not _defines(model_target, name)]
    _require(not missing, f"loss._target_={target} needs an encoder with {', '.join(missing)}(), which "
                          f"model._target_={model_target} does not define. Fix: {_models_with(needs)}.")
    provides = _declared(cfg, "batch_keys")
    if provides is not None and not requires <= set(provides):
        raise ConfigError(
            f"loss._target_={target} needs the batch keys {', '.join(sorted(requires - set(provides)))}, which "
            f"dataset={_choice('dataset')} does not provide (its batches hold {', '.join(sorted(provides))}). "
            f"Fix: {_losses_for(set(provides))}.")
    if provides is None:  # batches that depend on the DGP: the dataset's sizes say what they hold
        for key in sorted(requires & BATCH_SOURCES.keys()):
            source, what, fix = BATCH_SOURCES[key]
            _require(_get(cfg, source) is not None, f"loss._target_={target} needs {what}, which these data do not "
                                                    f"provide ({source} is null). Fix: add {fix}.")


def _losses_for(provides: set[str]) -> str:
    """The packaged loss presets whose batch keys these batches hold, as a fix."""
    fitting = []
    for preset in sorted((Path(__file__).parent / "conf" / "loss").glob("*.yaml")):
        node = OmegaConf.load(preset)
        with contextlib.suppress(Exception):
            if set(get_class(node.get("_target_") or node.loss._target_).requires) <= provides:
                fitting.append(f"loss={preset.stem}")
    return f"{' or '.join(fitting)}" if fitting else "a dataset whose batches hold what the loss needs"


def _defines(target: str | None, name: str) -> bool:
    if not isinstance(target, str):  # a preset that takes its _target_ from another
        return False
    try:
        return hasattr(get_object(target), name)
    except Exception:  # not importable: it defines nothing we can see
        return False


def _validate_prior(cfg: DictConfig) -> None:
    """A VAE's prior on the unit cube needs codes squashed into it (model.bounded), and a normal prior codes that are not."""
    prior = _get(cfg, "loss.prior._target_")
    if prior is None:
        return
    bounded, squashed = getattr(get_class(prior), "bounded", False), bool(_get(cfg, "model.bounded"))
    _require(bounded == squashed,
             f"loss.prior._target_={prior} {'lives on' if bounded else 'is not on'} the unit cube, but model.bounded="
             f"{str(squashed).lower()}. Fix: choose the prior with its group, loss/prior=normal|uniform|beta, which sets "
             "model.bounded to match (and drop the model.bounded override).")


def _models_with(needs: tuple[str, ...]) -> str:
    """The packaged model presets whose encoder defines every method in `needs`, as a fix."""
    fitting = [f"model={preset.stem}" for preset in sorted((Path(__file__).parent / "conf" / "model").glob("*.yaml"))
               if all(_defines(OmegaConf.load(preset).get("_target_"), name) for name in needs)]
    return " or ".join(fitting) if fitting else f"an encoder class that defines {', '.join(needs)}"


def _declared(cfg: DictConfig, name: str, default=None):
    """What the dataset's datamodule class declares (`batch_keys`, `epochs`), or `default`."""
    try:
        return getattr(get_class(_get(cfg, "dataset._target_")), name, default)
    except Exception:
        return default


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
    dim, fit = _get(cfg, "dataset.latent_dim"), _get(cfg, "dataset.probe_fit")
    if isinstance(dim, int) and isinstance(fit, int) and fit < PROBE_FIT_PER_PARAMETER * (dim + 1):
        warnings.append(f"dataset.probe_fit={fit} fits the probes on {fit} samples for {dim} latents "
                        f"({dim + 1} parameters per latent): too few for a stable fit, so the scores are unreliable "
                        f"(R² can fall below 0). Fix: dataset.probe_fit="
                        f"{max(4096, PROBE_FIT_PER_PARAMETER * (dim + 1))} (4096 is the default).")
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
    """Turn what a component raises for a value it cannot use into a ConfigError naming the key the user types.

    A ConfigError passes as it is. Hydra's wrapper names the node that was being built (`full_key:`, else it is
    `key`); a message with its own `Fix:` names the component's arguments as `name=value`, written here as that
    node's keys; an argument the component does not take is named with those it does. Any other message gets
    the node's key and a generic fix."""
    # as written: building a node resolves, in place, the nodes it interpolates (a DGP at dataset.dgp: ${dgp})
    written = copy.deepcopy(_job_config())
    try:
        yield
    except ConfigError:
        raise
    except Exception as error:  # Hydra wraps constructor errors in InstantiationException
        problem = _config_error(key, error, written)
        if problem is None:
            raise
        if leftover := re.match(r"([\w.]+)=.* is not an argument of", str(problem)):
            problem = _deeper_cause(leftover.group(1), written) or problem
        raise problem from None


def _config_error(key: str, error: Exception, cfg: DictConfig | None) -> ConfigError | None:
    """The ConfigError for what a component raised while `key` was built, or None for a fault of its code."""
    cause = error if isinstance(error, ARGUMENT_ERRORS) else error.__cause__
    if isinstance(cause, ConfigError):  # the component's own message already names key, value and fix
        return cause
    if not isinstance(cause, ARGUMENT_ERRORS):
        return None
    return ConfigError(_keyed(key, str(error), str(cause), cfg))


def _deeper_cause(setting: str, cfg: DictConfig | None) -> ConfigError | None:
    """A preset's leftover (dgp=box's dgp.conditional.scale, once loss=aninfonce chose a sphere-only conditional)
    may hide the real problem, which the component holding it finds when built without it."""
    node, _, name = setting.rpartition(".")
    parent = node.rpartition(".")[0]
    if cfg is None or not parent or _get(cfg, f"{parent}._target_") is None:
        return None
    trimmed = copy.deepcopy(cfg)
    OmegaConf.set_readonly(trimmed, False)
    OmegaConf.set_struct(trimmed, False)
    del OmegaConf.select(trimmed, node)[name]
    try:
        instantiate(OmegaConf.select(trimmed, parent))
    except Exception as error:
        problem = _config_error(parent, error, cfg)
        if problem is not None and "is not an argument of" not in str(problem):  # another leftover says nothing new
            return problem
    return None


def _keyed(key: str, wrapper: str, message: str, cfg: DictConfig | None) -> str:
    """`message` with the arguments it names written as config keys, followed back through interpolations in `cfg`
    to the key that is set (dgp.space.dim is `${..dim}`: dgp.dim; a DGP built at dataset.dgp: ${dgp} names dgp.*)."""
    full_key, target = re.search(r"\nfull_key: (\S+)", wrapper), re.search(r"target '([\w.]+)'", wrapper)
    node = _source_key(cfg, full_key.group(1) if full_key else key)
    try:
        names = list(inspect.signature(get_object(target.group(1))).parameters) if target else []
    except Exception:  # no signature to read: the message stays as written
        names = []
    message = message.rstrip(".")
    if (unknown := re.search(r"unexpected keyword argument '(\w+)'", message)) and names:  # a preset's leftover
        setting = f"{node}.{unknown.group(1)}"
        return (f"{setting}={_get(cfg, setting) if cfg is not None else '?'} is not an argument of {target.group(1)}, "
                f"which takes {', '.join(names)}. Fix: drop it (~{setting}), or choose a {node} that takes it.")
    if "Fix:" not in message:
        return f"{node}: {message}. Fix: correct the {node}.* values (see `python train.py --cfg job`)."
    if names:
        argument = re.compile(rf"(?<![\w./])({'|'.join(names)})(?=\.\w|\s*(?:[<>]=?|=))")
        message = argument.sub(lambda match: _source_key(cfg, f"{node}.{match.group(1)}"), message)
    return f"{message}."


def _source_key(cfg: DictConfig | None, key: str) -> str:
    """`key`, with each part that only interpolates another key (`${dgp}`, `${..dim}`, `${oc.select:dgp.dim,null}`)
    replaced by that key."""
    if cfg is None:
        return key
    parts: list[str] = []
    for part in key.split("."):
        parts.append(part)
        reference = re.fullmatch(r"\$\{(?:oc\.select:)?(\.*)([\w.]+)(?:,[^${}]*)?\}", _raw(cfg, ".".join(parts)))
        if reference:
            dots, target = reference.groups()
            parts = parts[: len(parts) - len(dots)] if dots else []  # `.x` is a sibling, `..x` one level up
            parts += target.split(".")
    return ".".join(parts)


def _job_config() -> DictConfig | None:
    """The config Hydra composed for this job (it keeps it as the parent of its own node); None outside a job."""
    from hydra.core.hydra_config import HydraConfig

    return HydraConfig.get()._get_parent() if HydraConfig.initialized() else None
