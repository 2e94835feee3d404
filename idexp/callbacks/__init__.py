"""Lightning callbacks: the post-training probe, the check that training learns, images/s."""
from idexp.callbacks.loss_check import LossFallCheck
from idexp.callbacks.probe import IdentifiabilityProbe
from idexp.callbacks.throughput import ImagesPerSecond

__all__ = ["IdentifiabilityProbe", "ImagesPerSecond", "LossFallCheck"]
