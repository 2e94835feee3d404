"""Training losses: ``loss(encoder, batch) -> (scalar loss, detached scalars to log)``."""

from idexp.losses.aninfonce import AnInfoNCE
from idexp.losses.base import Loss
from idexp.losses.diet import DIET
from idexp.losses.infonce import InfoNCE
from idexp.losses.supervised import SupervisedCE
from idexp.losses.vae import VAE

__all__ = ["AnInfoNCE", "DIET", "InfoNCE", "Loss", "SupervisedCE", "VAE"]
