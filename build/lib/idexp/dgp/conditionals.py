"""Conditionals p(z_pos | z): how a positive (an "augmentation") is drawn around its anchor.

Every conditional has `sample(mean, space, generator)`: one draw per row of `mean` (n, d), on the
device of `mean`, float32, using only the given generator (which must live on that device). One defined
on the sphere only says so with `sphere_only = True`, which the DGP checks against its space when built.
"""

import math
from collections.abc import Sequence
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import Tensor

from idexp.dgp.sampling import random_signs, sample_by_rejection, standard_gamma
from idexp.dgp.spaces import Space, Sphere, onto_sphere, radial_norm


class Conditional(Protocol):
    def sample(self, mean: Tensor, space: Space, generator: torch.Generator) -> Tensor: ...


def _require_sphere(space: Space, conditional: object) -> None:
    if not isinstance(space, Sphere):
        raise ValueError(f"{type(conditional).__name__} is defined on the sphere only, got {space}")


class VonMisesFisher:
    """vMF(mean, kappa) on the sphere, density proportional to exp(kappa <mean, z>).

    Exact sampler after Wood (1994): the component w = <mean, z> by rejection, a uniform tangent
    direction, and a Householder reflection that maps e_1 to each row's mean. Wood's acceptance
    rate is bounded away from zero for every kappa; to keep it so in floating point, w is drawn as
    t = 1 - w (which stays representable when w rounds to 1, e.g. t ~ 1e-9 at kappa = 1e9), and
    Wood's test is rewritten in terms of O(1) quantities, in float64 where the device has it.
    """

    sphere_only = True

    def __init__(self, kappa: float):
        _require_positive(self, "kappa=10; a large finite kappa such as 1e9 gives positives next to their anchor",
                          kappa=kappa)
        self.kappa = float(kappa)

    def sample(self, mean: Tensor, space: Space, generator: torch.Generator) -> Tensor:
        _require_sphere(space, self)
        n, dim = mean.shape
        t = self._sample_distance(n, dim, generator).unsqueeze(-1)  # 1 - <mean, z>
        w, radius = 1 - t, (t * (2 - t)).clamp_min(0).sqrt()  # sqrt(1 - w^2), without cancellation
        gaussian = torch.randn(n, dim - 1, generator=generator, device=mean.device, dtype=mean.dtype)
        tangent = F.normalize(gaussian, dim=-1)
        around_e1 = torch.cat([w.to(mean.dtype), radius.to(mean.dtype) * tangent], dim=-1)
        return _reflect_e1_onto(mean, around_e1)

    def _sample_distance(self, n: int, dim: int, generator: torch.Generator) -> Tensor:
        """Wood's rejection sampler for t = 1 - w, where w = <mean, z> has the density
        ~ exp(kappa w)(1 - w^2)^((d-3)/2) on [-1, 1].

        Wood proposes w = (1 - (1+b)B) / (1 - (1-b)B) with B = G1 / (G1 + G2) ~ Beta(m/2, m/2), and
        accepts if kappa w + m log(1 - x0 w) - c >= log U, with x0 = (1-b)/(1+b) and
        c = kappa x0 + m log(1 - x0^2). In terms of the gammas this is exactly
            t = 2b G1 / (G2 + b G1),
            kappa (w - x0) = 2 kappa b / (1+b) - kappa t,
            log((1 - x0 w) / (1 - x0^2)) = log((1+b)/2) + log(G1 + G2) - log(G2 + b G1),
        where kappa b -> m/4 and t ~ b stay representable for every kappa.
        """
        kappa, m = self.kappa, dim - 1
        b = m / (2 * kappa + math.hypot(2 * kappa, m))  # Wood's b, without cancellation
        kappa_b = m / (2 + math.hypot(2, m / kappa))  # kappa * b, finite however large kappa is
        log_half_1_plus_b = math.log1p(b) - math.log(2)
        dtype = _precise_dtype(generator.device)

        def propose(rows: Tensor) -> tuple[Tensor, Tensor]:
            k = (len(rows),)
            g1 = standard_gamma(m / 2, k, generator).to(dtype)
            g2 = standard_gamma(m / 2, k, generator).to(dtype)
            denominator = g2 + b * g1
            t = 2 * b * g1 / denominator
            log_ratio = 2 * kappa_b / (1 + b) - 2 * kappa_b * g1 / denominator + m * (
                log_half_1_plus_b + torch.log(g1 + g2) - torch.log(denominator)
            )
            log_u = torch.rand(k, generator=generator, device=generator.device, dtype=dtype).log()
            return t, log_ratio >= log_u

        return sample_by_rejection(propose, n, generator.device)

    def __repr__(self) -> str:
        return f"VonMisesFisher(kappa={self.kappa})"


def _precise_dtype(device: torch.device) -> torch.dtype:
    """float64 where the device has it (MPS has not)."""
    return torch.float32 if torch.device(device).type == "mps" else torch.float64


def _reflect_e1_onto(mean: Tensor, y: Tensor) -> Tensor:
    """Apply, per row, the Householder reflection H = I - 2uu^T/|u|^2 with u = e_1 - mean.

    H is orthogonal and maps e_1 to the (unit) mean, so it carries any distribution that is
    rotationally symmetric around e_1 to the same distribution around the mean. Where the mean
    equals e_1 to float precision, |u|^2 may underflow, and the identity does the job instead.
    """
    e1 = torch.zeros_like(mean[0])
    e1[0] = 1
    u = e1 - mean
    u_norm_sq = (u * u).sum(-1, keepdim=True)
    at_e1 = u_norm_sq < torch.finfo(u.dtype).eps ** 2
    reflected = y - 2 * u * (u * y).sum(-1, keepdim=True) / torch.where(at_e1, 1.0, u_norm_sq)
    return torch.where(at_e1, y, reflected)


class AnisotropicNormal:
    """AnInfoNCE's conditional: z_pos = (z + eps) / |z + eps| with eps_j ~ N(0, 1 / Lambda_j).

    Proposals are kept only if | |z + eps| - 1 | < threshold (None: keep all), which confines the
    positive to a thin shell before projecting it onto the sphere. How many proposals land in the
    shell depends on lambdas, threshold and dim (|z + eps|^2 is about 1 + sum(1 / lambdas), so the
    defaults' shell 1 +- 0.1 is all but missed from dim = 40 on): the constructor estimates the
    rate and refuses settings under MIN_ACCEPTANCE, naming a threshold and lambdas that work.
    """

    MIN_ACCEPTANCE = 1e-3
    """Fewest accepted proposals per proposal: at most ~1000 proposals for each sample."""
    TRIAL_PROPOSALS = 2**15
    MIN_THRESHOLD = 1e-6
    """float32 resolves |z + eps| to ~1e-7; a thinner shell would be decided by rounding."""
    sphere_only = True

    def __init__(
        self,
        dim: int,
        lambdas: Sequence[float] | str = "bimodal",
        low: float = 5.0,
        high: float = 25.0,
        threshold: float | None = 0.1,
    ):
        Sphere(dim)  # checks dim: the conditional lives on S^(dim-1)
        if threshold is not None:
            _require_positive(self, "threshold=0.1, or threshold=null for no rejection", threshold=threshold)
            if threshold < self.MIN_THRESHOLD:
                raise ValueError(f"threshold={threshold!r} is below {self.MIN_THRESHOLD:g}: float32 cannot resolve a "
                                 f"thinner shell. Fix: threshold >= {self.MIN_THRESHOLD:g}, e.g. threshold=0.1.")
        self.lambdas = _precisions(dim, lambdas, low, high)
        self.threshold = None if threshold is None else float(threshold)
        self._require_acceptance(lambdas, low, high)

    def _require_acceptance(self, spec: Sequence[float] | str, low: float, high: float) -> None:
        """Refuse settings whose proposals (almost) never land in the shell: sampling would take forever.

        The rate is estimated with a fixed seed (so the verdict never changes) from 2^15 proposals around
        three means, the axes of the smallest and the largest lambda and the diagonal, and the lowest of
        the three counts. The rate depends on the mean only through its squared coordinates; over random
        means it never fell below the lowest of these three (beyond sampling noise) in our checks.
        """
        if self.threshold is None:
            return
        std = self.lambdas.double().rsqrt()
        dim = len(std)
        means = torch.zeros(3, dim, dtype=torch.float64)
        means[0, self.lambdas.argmin()] = means[1, self.lambdas.argmax()] = 1
        means[2] = dim**-0.5
        noise = torch.randn(self.TRIAL_PROPOSALS, dim, generator=torch.Generator().manual_seed(0), dtype=torch.float64)

        def deviations(factor: float) -> Tensor:  # | |mean + eps| - 1 | with lambdas scaled by `factor`
            return ((means[:, None] + noise * std / math.sqrt(factor)).norm(dim=-1) - 1).abs()

        def rate(factor: float) -> float:
            return (deviations(factor) < self.threshold).double().mean(-1).min().item()

        accepted = rate(1.0)
        if accepted >= self.MIN_ACCEPTANCE:
            return
        target = 10 * self.MIN_ACCEPTANCE
        threshold = deviations(1.0).quantile(target, dim=-1).max().item()
        factor = next((2.0**k for k in range(1, 128) if rate(2.0**k) >= target), math.inf)
        scaled = (f"low={low * factor:.3g}, high={high * factor:.3g}" if isinstance(spec, str)
                  else f"every lambda x {factor:g}")
        share = f"~{accepted:.1g} of its proposals" if accepted > 0 else f"none of {self.TRIAL_PROPOSALS} trial proposals"
        raise ValueError(
            f"AnisotropicNormal with dim={dim}, lambdas={_short(self.lambdas)} and threshold={self.threshold:g} accepts "
            f"{share} (|z + eps|^2 is about 1 + sum(1/lambdas) = "
            f"{1 + (1 / self.lambdas.double()).sum().item():.3g}, the shell asks for |z + eps| within 1 +- "
            f"{self.threshold:g}), under the {self.MIN_ACCEPTANCE:g} that keeps sampling fast. Fix: threshold >= "
            f"{_round_up(threshold)}, or lambdas {factor:g} times larger ({scaled}), or threshold=null (no rejection)."
        )

    def sample(self, mean: Tensor, space: Space, generator: torch.Generator) -> Tensor:
        _require_sphere(space, self)
        if mean.shape[-1] != len(self.lambdas):
            raise ValueError(f"mean has dim {mean.shape[-1]}, lambdas have {len(self.lambdas)}")
        std = self.lambdas.to(mean.device).rsqrt()
        max_deviation = math.inf if self.threshold is None else self.threshold

        def propose(rows: Tensor) -> tuple[Tensor, Tensor]:
            eps = std * torch.randn(len(rows), len(std), generator=generator, device=mean.device)
            x = mean[rows] + eps
            norm = radial_norm(x)
            accepted = (norm.squeeze(-1) - 1).abs() < max_deviation
            return x / norm, accepted

        return sample_by_rejection(propose, len(mean), mean.device)

    def __repr__(self) -> str:
        return f"AnisotropicNormal(lambdas={self.lambdas.tolist()}, threshold={self.threshold})"


def _precisions(dim: int, lambdas: Sequence[float] | str, low: float, high: float) -> Tensor:
    """Ground-truth precisions Lambda: explicit, "bimodal" (first dim // 2 high) or "linspace"."""
    if lambdas == "bimodal":
        values = torch.full((dim,), float(low))
        values[: dim // 2] = high
    elif lambdas == "linspace":
        values = torch.linspace(low, high, dim)
    elif isinstance(lambdas, str):
        raise ValueError(f"lambdas={lambdas!r} is unknown. "
                         f"Fix: lambdas=bimodal, linspace or a list of {dim} positive numbers.")
    else:
        try:
            values = torch.tensor([float(v) for v in lambdas], dtype=torch.float64)
        except (TypeError, ValueError):  # refused below, with the entries as given
            values = torch.full((len(lambdas),), math.nan, dtype=torch.float64)
        if len(values) != dim:
            raise ValueError(f"lambdas={list(lambdas)} has {len(values)} entries, but dim={dim}: one precision per latent. "
                             f"Fix: {dim} values, e.g. lambdas=[{','.join(['10'] * dim)}], or lambdas=bimodal or linspace.")
    tiny, huge = torch.finfo(torch.float32).tiny, torch.finfo(torch.float32).max
    if not ((values >= tiny) & (values <= huge)).all():  # also refuses nan
        shown = list(lambdas) if not isinstance(lambdas, str) else values.tolist()
        raise ValueError(f"lambdas={shown} must all be positive finite numbers within float32's range ({tiny:.2g} to "
                         f"{huge:.2g}). Fix: replace the entries outside it (bimodal and linspace: low=5.0, high=25.0).")
    return values.float()


def _short(values: Tensor) -> str:
    """A tensor of lambdas for a message: all of them, or the distinct ones when there are many."""
    if len(values) <= 10:
        return str([round(v, 6) for v in values.tolist()])
    return f"{len(values)} values in {{{', '.join(f'{v:g}' for v in values.unique().tolist()[:10])}}}"


def _round_up(value: float) -> str:
    """`value` rounded up to two significant digits."""
    if not math.isfinite(value) or value <= 0:
        return f"{value:g}"
    step = 10.0 ** (math.floor(math.log10(value)) - 1)
    return f"{math.ceil(value / step - 1e-9) * step:.2g}"


MAX_NOISE = 1e30
"""Largest noise magnitude a scale may produce: float32 ends at 3.4e38, and positives at such
distances from their mean are uniform over the sphere's orthants anyway."""


class _IIDNoise:
    """Noise drawn i.i.d. per coordinate, added to the mean, then kept in the space."""

    def sample(self, mean: Tensor, space: Space, generator: torch.Generator) -> Tensor:
        return space.perturb(mean, lambda shape: self.noise(shape, generator))

    def noise(self, shape: tuple[int, ...], generator: torch.Generator) -> Tensor:
        raise NotImplementedError


def _require_scale(owner: object, scale: float, tail: float, example: str) -> None:
    """A positive finite scale whose noise, at most about scale * tail, stays below MAX_NOISE."""
    _require_positive(owner, example, scale=scale)
    if scale * tail > MAX_NOISE:
        raise ValueError(f"scale={scale!r} makes {type(owner).__name__} draw noise up to ~{scale * tail:.2g}, beyond the "
                         f"{MAX_NOISE:g} that float32 sampling handles. Fix: scale <= {MAX_NOISE / tail:.2g}, e.g. {example}.")


def _require_positive(owner: object, example: str, **values: float) -> None:
    """Every value a positive finite number: 0, negatives, inf and nan are refused."""
    for name, value in values.items():
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = math.nan
        if not (math.isfinite(number) and number > 0):
            raise ValueError(f"{name}={value!r} must be a positive finite number for {type(owner).__name__}. "
                             f"Fix: e.g. {example}.")


class Normal(_IIDNoise):
    """Gaussian noise with standard deviation `scale`."""

    def __init__(self, scale: float):
        _require_scale(self, scale, tail=10.0, example="scale=0.1")  # |N(0, 1)| < 10 in floating point
        self.scale = float(scale)

    def noise(self, shape: tuple[int, ...], generator: torch.Generator) -> Tensor:
        return self.scale * torch.randn(shape, generator=generator, device=generator.device)

    def __repr__(self) -> str:
        return f"Normal(scale={self.scale})"


class Laplace(_IIDNoise):
    """Laplace noise, density ~ exp(-|x| / scale): an exponential magnitude with a random sign."""

    def __init__(self, scale: float):
        _require_scale(self, scale, tail=110.0, example="scale=0.1")  # Exp(1) < -log(float32 tiny) < 110
        self.scale = float(scale)

    def noise(self, shape: tuple[int, ...], generator: torch.Generator) -> Tensor:
        magnitude = torch.empty(shape, device=generator.device).exponential_(generator=generator)
        return self.scale * magnitude * random_signs(shape, generator)

    def __repr__(self) -> str:
        return f"Laplace(scale={self.scale})"


class GeneralizedNormal(_IIDNoise):
    """Generalized normal noise, density ~ exp(-|x / scale|^beta).

    |x / scale|^beta is Gamma(1 / beta) distributed, and Gamma(a) = Gamma(1 + a) * U^(1 / a) for U
    uniform on (0, 1], so x = scale * Gamma(1 + 1 / beta)^(1 / beta) * U * sign. Drawing Gamma(1 / beta)
    itself would underflow for a large beta (torch clamps such draws to the smallest float), which
    piles |x| onto a wrong minimum. A small beta has tails so heavy that the noise overflows float32:
    the constructor refuses a beta below the one that keeps |x| under MAX_NOISE at the given scale.
    """

    def __init__(self, scale: float, beta: float):
        example = "scale=1.0, beta=2.0 (normal) or 1.0 (Laplace)"
        _require_positive(self, example, scale=scale, beta=beta)
        _require_scale(self, scale, tail=1.0, example="scale=1.0")
        self.scale, self.beta = float(scale), float(beta)
        if _log_largest_noise(self.scale, self.beta) > math.log(MAX_NOISE):
            smallest = _smallest_beta(self.scale)
            raise ValueError(
                f"GeneralizedNormal with scale={scale!r} and beta={beta!r} has tails so heavy that its noise reaches "
                f"~1e{_log_largest_noise(self.scale, self.beta) / math.log(10):.0f}, beyond the {MAX_NOISE:g} that float32 "
                f"sampling handles. Fix: beta >= {_round_up(smallest)} at this scale (e.g. {example}).")

    def noise(self, shape: tuple[int, ...], generator: torch.Generator) -> Tensor:
        dtype = _precise_dtype(generator.device)
        gamma = standard_gamma(1 + 1 / self.beta, shape, generator).to(dtype)
        uniform = 1 - torch.rand(shape, generator=generator, device=generator.device, dtype=dtype)  # (0, 1]
        magnitude = (self.scale * gamma ** (1 / self.beta) * uniform).float()
        return magnitude * random_signs(shape, generator)

    def __repr__(self) -> str:
        return f"GeneralizedNormal(scale={self.scale}, beta={self.beta})"


def _log_largest_noise(scale: float, beta: float) -> float:
    """log of scale * q^(1 / beta), q a point that Gamma(1 + 1 / beta) exceeds with probability < 1e-15
    (Chernoff: P(G > q) <= (q / a)^a e^(a - q) for G ~ Gamma(a))."""
    a = 1 + 1 / beta
    return math.log(scale) + math.log(a + 10 * math.sqrt(a) + 40) / beta


def _smallest_beta(scale: float) -> float:
    """The smallest beta whose noise at `scale` stays below MAX_NOISE (bisection on log beta)."""
    low, high = math.log(1e-6), math.log(1e6)
    for _ in range(100):
        middle = (low + high) / 2
        low, high = (middle, high) if _log_largest_noise(scale, math.exp(middle)) > math.log(MAX_NOISE) else (low, middle)
    return math.exp(high)


class TruncatedLaplace:
    """The CE paper's truncated Laplace (its code's `--c-p 3`): every ambient coordinate is drawn from a
    Laplace(mean_j, scale) truncated to [-bound, bound], by inverting the CDF, then kept in the space.

    The bounds are absolute, as in the paper's code, so a coordinate near a bound has a one-sided
    tail. On the sphere the draw is projected back radially (the paper's code forgot to); in a box the
    interval is intersected with the box instead.
    """

    def __init__(self, scale: float, bound: float):
        _require_positive(self, "scale=1.0, bound=2.0", scale=scale, bound=bound)
        if bound > MAX_NOISE:
            raise ValueError(f"bound={bound!r} is beyond the {MAX_NOISE:g} that float32 sampling handles. "
                             f"Fix: bound <= {MAX_NOISE:g}, e.g. bound=2.0.")
        self.scale, self.bound = float(scale), float(bound)

    def sample(self, mean: Tensor, space: Space, generator: torch.Generator) -> Tensor:
        x = self.ambient(mean, space, generator)
        return onto_sphere(x) if isinstance(space, Sphere) else x

    def ambient(self, mean: Tensor, space: Space, generator: torch.Generator) -> Tensor:
        """The truncated draw in R^d, before the sphere's projection.

        Relative to its mean, a coordinate is drawn on [a, c] = [low - mean, high - mean], mirrored where
        c <= 0 so that c > 0. Its part on [max(a, 0), c] is an exponential truncated to that interval, its
        part on [a, 0] (if a < 0) the mirror image; one uniform picks the part by its mass and then inverts
        that part's CDF. Everything is written with expm1/log1p of distances over the scale, so it stays
        exact whether the scale is tiny or huge next to the interval (no CDF rounding to 0.5 or 1).
        """
        low, high = -self.bound, self.bound
        if not isinstance(space, Sphere):
            low, high = max(low, space.low), min(high, space.high)
            if low > high:
                raise ValueError(f"{self}: [-bound, bound] does not meet {space}; use a bound >= "
                                 f"{min(abs(space.low), abs(space.high)):g}")
        dtype = _precise_dtype(mean.device)
        scale, mu = self.scale, mean.to(dtype)
        a, c = low - mu, high - mu
        mirrored = c <= 0
        a, c = torch.where(mirrored, -c, a), torch.where(mirrored, -a, c)
        start = a.clamp_min(0)  # the right part is [start, c]
        left_mass = torch.where(a < 0, -torch.expm1(a / scale), 0)  # both relative to the density at start
        right_mass = -torch.expm1(-(c - start) / scale)
        u = torch.rand(mean.shape, generator=generator, device=mean.device, dtype=dtype)
        v = u * (left_mass + right_mass)
        left = v < left_mass
        tiny = torch.finfo(dtype).tiny
        u_left = (1 - v / left_mass.clamp_min(tiny)).clamp(0, 1)
        u_right = ((v - left_mass) / right_mass.clamp_min(tiny)).clamp(0, 1)
        y = torch.where(left, -self._exponential(u_left, -a), start + self._exponential(u_right, c - start))
        x = mu + torch.where(mirrored, -y, y)
        return x.clamp(low, high).float()  # the clamp only absorbs float rounding at the bounds

    def _exponential(self, u: Tensor, length: Tensor) -> Tensor:
        """The inverse CDF, at u, of an exponential of this scale truncated to [0, length]."""
        return -self.scale * torch.log1p(u * torch.expm1(-length.clamp_min(0) / self.scale))

    def __repr__(self) -> str:
        return f"TruncatedLaplace(scale={self.scale}, bound={self.bound})"
