"""The error a user's configuration causes, importable by every component (data/, dgp/, callbacks/) without
importing idexp.config, which validates whole configs and builds components from them.

A component that always sits at one key (a datamodule at `dataset`) raises ConfigError naming its keys. A
component that may sit at several (a noise at dgp.conditional or dgp.marginal.noise) raises ValueError naming
its own arguments as `name=value`, with a `Fix:`; `idexp.config.building` writes those names as the keys the
user types (`dgp.conditional.kappa=-1 ...`).
"""


class ConfigError(ValueError):
    """A user-facing configuration mistake; the message names the key, the value and the fix."""
