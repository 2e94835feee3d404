"""Batched L2 logistic regression: many independent problems solved at once, each to scikit-learn's optimum.

The ImageNet-X probe fits 17 targets × 10 repetitions on up to 46,110 × 2048 features; scikit-learn fits
them one by one with one matrix-vector product per pass over the data. Here all problems of a target
share each pass: their rows are either one (n, D) matrix with a 0/1 weight per problem and row (one
matrix-matrix product, read once from memory) or an (R, n, D) stack (batched products). The solver is a
truncated Newton–CG method (as scikit-learn's `newton-cg`), with per-problem CG coefficients, line search
and stopping, so each problem ends where it would have on its own.

CG is preconditioned with the Hessian's diagonal, which only helps where that diagonal carries the spectrum:
rotate the features onto their principal axes first (`principal_axes`; the L2 problem is unchanged by a
rotation). On ill-conditioned features (eigenvalues decaying as k⁻²) that cuts CG steps ~20-fold.
"""
from __future__ import annotations

from contextlib import contextmanager

import numpy as np
import torch
import torch.nn.functional as F


def fit_logistic(x: torch.Tensor, y: torch.Tensor, C: float = 1.0, max_iter: int = 100, tol: float = 1e-4,
                 weight: torch.Tensor | None = None, max_cg: int = 200) -> tuple[torch.Tensor, torch.Tensor]:
    """Minimise C·Σ_i weight_i·logloss_i + ½‖w‖² (the bias unpenalised) for R problems together.

    x: (R, n, D), or (n, D) rows shared by all problems; y: (R, n) or (n,) labels in {0, 1}; weight:
    (R, n) sample weights (0/1 picks each problem's rows out of shared x), default 1. Stops a problem when
    the largest gradient entry of its objective divided by C·Σweight (scikit-learn's scaling of `tol`) is
    at most `tol`, or after `max_iter` Newton steps. Returns float64 weights (R, D) and bias (R,).

    The products run in x's dtype (float32 features are fast and precise enough for the O(1) residuals);
    parameters, search directions and loss sums are float64, so the line search compares exact losses.
    """
    with _full_precision():
        return _fit(x, y, C, max_iter, tol, weight, max_cg)


def _fit(x, y, C, max_iter, tol, weight, max_cg):
    shared = x.dim() == 2
    n, D = x.shape[-2:]
    R = x.shape[0] if not shared else (weight.shape[0] if weight is not None else (y.shape[0] if y.dim() == 2 else 1))
    f64 = dict(dtype=torch.float64, device=x.device)
    y = torch.as_tensor(y, **f64).expand(R, n)
    c = C * (torch.ones(R, n, **f64) if weight is None else torch.as_tensor(weight, **f64).expand(R, n))
    scale = c.sum(1).clamp_min(1e-12)  # scikit-learn's objective is ours / (C·Σweight)

    def forward(v: torch.Tensor) -> torch.Tensor:  # (R, D) -> X v per problem, (R, n)
        v = _cast(v, x.dtype)
        return (v @ x.T if shared else torch.bmm(x, v.unsqueeze(2)).squeeze(2)).double()

    def backward(r: torch.Tensor) -> torch.Tensor:  # (R, n) -> Xᵀ r per problem, (R, D)
        r = _cast(r, x.dtype)
        return (r @ x if shared else torch.bmm(r.unsqueeze(1), x).squeeze(1)).double()

    def diagonal(s: torch.Tensor) -> torch.Tensor:  # (R, n) Hessian weights -> diag Xᵀ diag(s) X, (R, D)
        s = _cast(s, x.dtype)
        return (s @ squares if shared else torch.bmm(s.unsqueeze(1), squares).squeeze(1)).double()

    def loss(z: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return (c * (F.softplus(z) - y * z)).sum(1) + 0.5 * (w * w).sum(1)

    squares = x.square()  # for the preconditioner: diag Xᵀ diag(s) X = s @ x²
    w, b = torch.zeros(R, D, **f64), torch.zeros(R, **f64)
    z = torch.zeros(R, n, **f64)  # X w + b, kept in step with w and b
    active = torch.ones(R, dtype=torch.bool, device=x.device)
    for _ in range(max_iter):
        p = torch.sigmoid(z)
        residual = c * (p - y)
        gw, gb = backward(residual) + w, residual.sum(1)
        gmax = torch.maximum(gw.abs().amax(1), gb.abs()) / scale
        active &= gmax > tol
        if not active.any():
            break
        s = c * p * (1 - p)
        dw, db = _newton_direction(gw, gb, s, (diagonal(s) + 1, s.sum(1)), forward, backward, active, gmax, max_cg)
        # Armijo backtracking per problem: the trial losses only need X d, computed once
        zd = forward(dw) + db[:, None]
        f0, slope = loss(z, w), (gw * dw).sum(1) + gb * db
        step = torch.ones(R, **f64)
        for _ in range(40):
            ok = loss(z + step[:, None] * zd, w + step[:, None] * dw) <= f0 + 1e-4 * step * slope
            if ok.all():
                break
            step = torch.where(ok, step, step / 2)
        # no decrease left at float64 precision (or no direction): that problem is as converged as it gets
        step = torch.where(ok & active, step, torch.zeros_like(step))
        active &= ok
        w, b, z = w + step[:, None] * dw, b + step * db, z + step[:, None] * zd
    return w, b


def _newton_direction(gw, gb, s, preconditioner, forward, backward, active, gmax, max_cg):
    """Preconditioned conjugate gradients on H d = -g per problem, H = Xᵀ diag(s) X + I (with the bias
    column, unpenalised), preconditioned by H's diagonal.

    Truncated as in scikit-learn's newton-cg: a problem stops once its residual is below
    min(0.5, √gmax) of its gradient, which is cheap far from the optimum and superlinear near it."""
    def hess(vw, vb):
        q = s * (forward(vw) + vb[:, None])
        return backward(q) + vw, q.sum(1)

    def dot(aw, ab, cw, cb):
        return (aw * cw).sum(1) + ab * cb

    mw, mb = preconditioner[0], preconditioner[1].clamp_min(1e-12)
    dw, db = torch.zeros_like(gw), torch.zeros_like(gb)
    rw, rb = -gw, -gb
    pw, pb = rw / mw, rb / mb
    rz = dot(rw, rb, pw, pb)
    stop = (torch.clamp(gmax.sqrt(), max=0.5) ** 2) * dot(rw, rb, rw, rb)  # squared, as the residual's norm
    todo = active.clone()
    for _ in range(max_cg):
        hw, hb = hess(pw, pb)
        curvature = dot(pw, pb, hw, hb)
        todo &= curvature > 0
        alpha = torch.where(todo, rz / curvature.clamp_min(1e-300), torch.zeros_like(rz))
        dw, db = dw + alpha[:, None] * pw, db + alpha * pb
        rw, rb = rw - alpha[:, None] * hw, rb - alpha * hb
        todo &= dot(rw, rb, rw, rb) > stop
        if not todo.any():
            break
        zw, zb = rw / mw, rb / mb
        rz_new = dot(rw, rb, zw, zb)
        beta = rz_new / rz.clamp_min(1e-300)
        pw, pb = zw + beta[:, None] * pw, zb + beta * pb
        rz = rz_new
    return dw, db


def predict_logistic(x: torch.Tensor, weights: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """(R, n) predicted labels in {0, 1} (decision > 0, as scikit-learn) of rows x: (R, n, D) or shared (n, D)."""
    w = _cast(weights, x.dtype)
    with _full_precision():
        decision = w @ x.T if x.dim() == 2 else torch.bmm(x, w.unsqueeze(2)).squeeze(2)
    return (decision.double() + bias[:, None] > 0).long()


def principal_axes(x: torch.Tensor) -> torch.Tensor:
    """Rows x (n, D) in the basis of their principal axes (uncentred; x is z-scored): an orthogonal rotation,
    so the L2 logistic problem and its predictions are unchanged, while Xᵀ X becomes diagonal."""
    with _full_precision():
        gram = (x.T @ x).double().cpu().numpy()
        # a (D, D) problem, done by numpy's LAPACK: torch's CPU eigh took 6× as long for D = 2048
        axes = torch.as_tensor(np.linalg.eigh(gram)[1], dtype=x.dtype, device=x.device)
        return x @ axes


def _cast(t: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """t in dtype, magnitudes below 1e-30 set to 0: well-classified rows have Hessian weights p(1-p) ~ e^-80,
    which would turn into float32 denormals, and denormal operands make a CPU product ~30× slower."""
    return t.masked_fill(t.abs() < 1e-30, 0).to(dtype)


@contextmanager
def _full_precision():
    """True float32 products: a run that allowed TF32 for training (10-bit mantissas) would blur the gradients
    the stopping rule and line search rely on."""
    before = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("highest")
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(before)
