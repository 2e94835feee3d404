"""Lightning callbacks: the post-training probe, the check that training learns, images/s, the state to resume from,
weight snapshots for a score-against-samples curve."""
from idexp.callbacks.last_checkpoint import AtomicCheckpointIO, LastCheckpoint
from idexp.callbacks.loss_check import LossFallCheck
from idexp.callbacks.probe import IdentifiabilityProbe
from idexp.callbacks.snapshots import Snapshots
from idexp.callbacks.throughput import ImagesPerSecond

__all__ = ["AtomicCheckpointIO", "LastCheckpoint", "IdentifiabilityProbe", "ImagesPerSecond", "LossFallCheck", "Snapshots"]
