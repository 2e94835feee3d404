"""Lightning callbacks: the post-training identifiability probe and the check that training learns."""
from idexp.callbacks.loss_check import LossFallCheck
from idexp.callbacks.probe import IdentifiabilityProbe

__all__ = ["IdentifiabilityProbe", "LossFallCheck"]
