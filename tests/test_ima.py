"""The IMA contrast's known answers: 0 for orthogonal columns and conformal maps, the closed form of a shear,
≥ 0 always (Hadamard), invariant to rescaling the latents."""
import math

import pytest
import torch

from idexp.metrics.ima import ima_contrast, local_ima_contrast


def test_orthogonal_columns_give_zero_and_any_jacobian_at_least_zero():
    generator = torch.Generator().manual_seed(0)
    rotation, _ = torch.linalg.qr(torch.randn(6, 6, dtype=torch.float64, generator=generator))
    scaled = rotation[:, :4] * torch.tensor([0.1, 2.0, 5.0, 30.0], dtype=torch.float64)  # 6 × 4: D > d
    assert local_ima_contrast(scaled[None]).item() == pytest.approx(0, abs=1e-12)
    generic = torch.randn(500, 5, 5, generator=generator)
    assert (local_ima_contrast(generic) > 0).all()


@pytest.mark.parametrize("shear", [0.3, 1.0, 4.0])
def test_a_linear_shear_has_its_closed_form_everywhere(shear):
    """[[1, s], [0, 1]]: columns of norm 1 and √(1 + s²), determinant 1, so C_IMA = ½ log(1 + s²)."""
    matrix = torch.tensor([[1.0, shear], [0.0, 1.0]], dtype=torch.float64)
    latents = torch.randn(300, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    assert ima_contrast(lambda z: z @ matrix.T, latents) == pytest.approx(0.5 * math.log(1 + shear**2), rel=1e-10)


def test_a_nonlinear_conformal_map_gives_zero_and_a_non_conformal_one_does_not():
    """exp on the complex plane, (x, y) → eˣ(cos y, sin y), is conformal: its Jacobian is a scaled rotation."""
    latents = torch.rand(1000, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(2)) * 2 - 1

    def complex_exp(z):
        return torch.exp(z[..., :1]) * torch.cat([torch.cos(z[..., 1:]), torch.sin(z[..., 1:])], dim=-1)

    assert ima_contrast(complex_exp, latents) == pytest.approx(0, abs=1e-12)
    bent = lambda z: torch.stack([z[..., 0] + z[..., 1] ** 2, z[..., 1]], dim=-1)  # noqa: E731  (column 2 tilts)
    assert ima_contrast(bent, latents) > 0.05


def test_rescaling_the_latents_leaves_the_contrast_unchanged():
    generator = torch.Generator().manual_seed(3)
    mixing = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.Tanh(), torch.nn.Linear(3, 3)).double()
    latents = torch.randn(400, 3, dtype=torch.float64, generator=generator)
    scales = torch.tensor([0.2, 1.0, 7.0], dtype=torch.float64)
    assert ima_contrast(lambda z: mixing(z / scales), latents * scales) == pytest.approx(ima_contrast(mixing, latents), rel=1e-9)
