"""The VAE's negative ELBO with a Gaussian decoder of fixed variance (the IMA-VAE paper's objective)."""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from idexp.ground_truth import Learned
from idexp.losses.base import Logs, Loss
from idexp.losses.priors import NormalPrior, Prior


class VAE(Loss):
    """−ELBO = E_q[−log N(x | g(z), decoder_var · I)] + KL(q(z|x) ‖ p(z)), one reparameterised sample of z.

    `decoder_var` is the IMA-VAE paper's decoder variance (γ² there is its inverse, the decoder's precision): as it
    goes to 0 the decoder becomes deterministic and, by the paper's result, the ELBO becomes the log-likelihood
    plus a penalty on the decoder's IMA contrast, so a VAE recovers latents mixed by an IMA (column-orthogonal)
    map. The encoder must give its posterior (`posterior(x) -> (mean, log_var)`, model=vae_mlp); the decoder g
    is the loss's own network. The prior (idexp/losses/priors.py) is N(0, I), or uniform or Beta on the unit cube,
    where z = sigmoid(u) and the encoder's codes are sigmoid(mean) (`encoder.bounded`).
    """

    requires = ("x",)
    encoder_needs = ("posterior",)

    def __init__(self, decoder: nn.Module, decoder_var: float = 1e-4, prior: Prior | None = None,
                 lr: float | None = None) -> None:
        super().__init__()
        if not (isinstance(decoder_var, (int, float)) and math.isfinite(decoder_var) and decoder_var > 0):
            raise ValueError(f"decoder_var={decoder_var!r} must be a positive finite variance. Fix: e.g. "
                             "loss.decoder_var=1e-4 (the IMA-VAE paper's default).")
        self.decoder, self.decoder_var, self.lr = decoder, float(decoder_var), lr
        self.prior = prior if prior is not None else NormalPrior()

    def forward(self, encoder: nn.Module, batch: dict[str, Tensor]) -> tuple[Tensor, Logs]:
        posterior = getattr(encoder, "posterior", None)
        if posterior is None:
            raise TypeError(f"loss=vae samples from the encoder's posterior, and {type(encoder).__name__} gives none. "
                            "Fix: model=vae_mlp (or an encoder with posterior(x) -> (mean, log_var)).")
        if getattr(encoder, "bounded", False) != self.prior.bounded:  # the config checks it first (idexp/config.py)
            raise ValueError(f"loss.prior={self.prior!r} and the encoder's model.bounded disagree on whether the codes "
                             "live on the unit cube. Fix: pick the prior with its group, loss/prior=normal|uniform|beta, "
                             "which sets model.bounded to match.")
        x = batch["x"].flatten(1)
        mean, log_var = posterior(batch["x"])
        u = mean + torch.randn_like(mean) * (0.5 * log_var).exp()
        squared_error = (x - self.decoder(self.prior.latents(u)).flatten(1)).square().sum(dim=-1)
        reconstruction = squared_error / (2 * self.decoder_var) + 0.5 * x.shape[1] * math.log(2 * math.pi * self.decoder_var)
        kl = self.prior.kl(u, mean, log_var)
        return (reconstruction + kl).mean(), {"loss/reconstruction": reconstruction.mean().detach(),
                                              "loss/kl": kl.mean().detach(),
                                              "loss/mse": (squared_error.mean() / x.shape[1]).detach()}

    def learned(self) -> Learned:
        """The decoder g: the probe scores its IMA contrast beside the true mixing's."""
        return Learned(decoder=self.decoder)
