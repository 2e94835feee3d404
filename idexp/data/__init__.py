"""Data sources: synthetic DGPs now; image datasets later."""
from idexp.data.synthetic import SyntheticDataModule

__all__ = ["SyntheticDataModule"]
