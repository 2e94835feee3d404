"""Data sources: synthetic DGPs sampled on the device, image datasets with ground-truth factors, and ImageNet."""
from idexp.data.factor_images import FactorDataModule
from idexp.data.imagenet import ImageNetDataModule
from idexp.data.synthetic import SyntheticDataModule

__all__ = ["FactorDataModule", "ImageNetDataModule", "SyntheticDataModule"]
