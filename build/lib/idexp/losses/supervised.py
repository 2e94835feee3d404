"""Supervised classification of the class label with a linear head."""

from idexp.losses.linear_head import LinearHeadCE


class SupervisedCE(LinearHeadCE):
    """Cross-entropy of a linear head W ∈ R^{n_classes × dim} (bias-free by default) against ``label``."""

    requires = ("x", "label")
    target_key = "label"

    def __init__(self, dim: int, n_classes: int, bias: bool = False, lr: float | None = None,
                 label_noise: float = 0.0) -> None:
        super().__init__(dim, n_classes, bias=bias, lr=lr, label_noise=label_noise)
