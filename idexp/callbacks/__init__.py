"""Lightning callbacks: the post-training identifiability probe and the run-folder bookkeeping."""
from idexp.callbacks.probe import IdentifiabilityProbe

__all__ = ["IdentifiabilityProbe"]
