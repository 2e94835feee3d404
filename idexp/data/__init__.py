"""Data sources: synthetic DGPs sampled on the device, and image datasets with ground-truth factors."""
from idexp.data.factor_images import FactorDataModule
from idexp.data.synthetic import SyntheticDataModule

__all__ = ["FactorDataModule", "SyntheticDataModule"]
