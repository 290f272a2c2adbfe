"""Zero-noise extrapolation as Runtime's client side does it: gate folding, then per-term fits.

Folding is ``qiskit_mitigation``'s own ``GateFoldingPass`` (each ECR, CX, CY, CZ or SWAP
``U`` becomes ``U (U† U)^n``). The fits replicate ``qiskit_mitigation.zne.extrapolation``
batched in PyTorch (differentiable; ``tests/backends/test_mitigation.py`` compares them with
the original): each measured term's values at the noise factors are fitted by
``scipy.optimize.curve_fit``'s model with weights ``1/σ`` (σ the per-shot standard deviation
``sqrt(1 - v²)``, degenerate ones clamped), its standard error at zero noise is the
delta-method error of the fit with the covariance scaled by the residuals, and the first
extrapolator (in the order given) whose value ± error lies in [-2, 2] with an error ≤ 1 is
taken; if none is, the one of least error.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import torch

__all__ = ["extrapolate", "fold"]

# Levenberg-Marquardt iterations for the exponential fit (a decay converges in under 20; curve_fit allows
# 600 evaluations): a fit that has not met MINPACK's tolerance (1.49e-8) by then has failed.
_LM_STEPS = 50
_TOLERANCE = 1.49012e-8


def fold(circuit, factor: float, method: str = "random"):
    """``circuit`` with its 2-qubit gates folded to noise ``factor``, exactly as Runtime's ZNE folds them."""
    from qiskit.transpiler import PassManager
    from qiskit_mitigation.zne.gate_folding import GateFoldingPass

    return PassManager([GateFoldingPass(factor, method)]).run(circuit)


def extrapolate(values: torch.Tensor, factors: Sequence[float], extrapolators: Sequence[str]):
    """Zero-noise values of terms measured at ``factors``: ``values (..., m)`` -> ``(value (...), chosen (...))``.

    ``chosen`` indexes ``extrapolators``: the fit each term's value came from.
    """
    y = values.double()
    x = torch.tensor(list(factors), dtype=torch.float64, device=y.device)
    sigma, weighted = _fit_sigma(torch.sqrt((1 - y.detach() ** 2).clamp(min=0)))
    fits = [_fit(name, x, y, sigma, weighted) for name in extrapolators]
    value, stderr = torch.stack([f[0] for f in fits]), torch.stack([f[1] for f in fits])
    finite = torch.isfinite(value) & torch.isfinite(stderr)
    accept = finite & (stderr <= 1) & (value - stderr >= -2) & (value + stderr <= 2)
    order = torch.arange(len(fits), device=y.device).view(-1, *[1] * (y.dim() - 1))
    first = torch.where(accept, order, len(fits)).min(dim=0).values
    least = torch.nan_to_num(stderr, nan=torch.inf).argmin(dim=0)
    chosen = torch.where(first < len(fits), first, least)
    picked = value.gather(0, chosen.unsqueeze(0)).squeeze(0)
    return torch.nan_to_num(picked, nan=torch.inf).to(values.dtype), chosen


def _fit_sigma(std: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-point σ for the fit (zeros clamped up to the row's least positive σ), and which rows are weighted.

    A row without a positive σ is fitted unweighted (σ = 1).
    """
    positive = std > 0
    low = torch.where(positive, std, torch.inf).min(dim=-1, keepdim=True).values
    high = std.max(dim=-1, keepdim=True).values
    clamped = torch.minimum(torch.maximum(std, low), high)
    weighted = positive.any(dim=-1, keepdim=True)
    return torch.where(weighted, clamped, torch.ones_like(std)), weighted.squeeze(-1)


def _fit(name: str, x, y, sigma, weighted):
    """``(value at 0, its standard error)`` of one extrapolator, NaN where the fit fails."""
    if name == "fallback":
        i = int(x.argmin())
        return y[..., i], torch.sqrt(1 - y[..., i].detach() ** 2)
    if name == "exponential":
        return _exponential(x, y, sigma, weighted)
    degree = 1 if name == "linear" else int(re.fullmatch(r"polynomial_degree_([1-7])", name).group(1))
    return _polynomial(degree, x, y, sigma)


def _covariance_00(jac: torch.Tensor, cost: torch.Tensor, dof: int) -> torch.Tensor:
    """``pcov[0, 0]`` as ``curve_fit`` computes it (absolute_sigma=False): ``inv(JᵀJ) · cost / dof``."""
    if dof <= 0:
        return torch.full_like(cost, torch.inf)
    h = jac.transpose(-1, -2) @ jac
    if h.shape[-1] == 2:  # closed form; a singular fit's variance is infinite (curve_fit's inf covariance)
        det = h[..., 0, 0] * h[..., 1, 1] - h[..., 0, 1] * h[..., 1, 0]
        return torch.where(det > 0, h[..., 1, 1] / det, torch.inf) * cost / dof
    try:
        inverse = torch.linalg.inv(h)
    except RuntimeError:  # a singular fit somewhere in the batch: torch refuses the whole batch
        inverse = torch.linalg.pinv(h)
    return inverse[..., 0, 0] * cost / dof


def _polynomial(degree: int, x, y, sigma):
    """Weighted least squares of ``Σ c_k x^k``; its value at 0 is ``c_0``."""
    vander = x.unsqueeze(-1) ** torch.arange(degree + 1, dtype=x.dtype, device=x.device)  # (m, d+1)
    jac = vander / sigma.unsqueeze(-1)  # (..., m, d+1)
    if degree == 1:  # closed form: a batched lstsq of many 3×2 problems costs 20× more
        slope, intercept = _line(x, y, 1 / sigma)
        coeffs = torch.stack([intercept, slope], dim=-1)
    else:
        normal = jac.transpose(-1, -2)
        coeffs = torch.linalg.solve(normal @ jac, normal @ (y / sigma).unsqueeze(-1)).squeeze(-1)
    cost = (((y - coeffs @ vander.T) / sigma) ** 2).sum(-1).detach()
    var = _covariance_00(jac.detach(), cost, len(x) - degree - 1)
    return coeffs[..., 0], torch.sqrt(var.clamp(min=0))


def _exponential(x, y, sigma, weighted):
    """``a·exp(b·x)`` by Levenberg-Marquardt from ``qiskit_mitigation``'s log-linear seed; its value at 0 is ``a``.

    The fit runs without autograd; its gradient is the implicit one at the optimum (below).
    """
    w = 1 / sigma
    with torch.no_grad():
        (a, b), jac, cost, converged = _levenberg_marquardt(x, y.detach(), w, weighted)
    var = _covariance_00(jac, cost, len(x) - 2)
    if y.requires_grad:
        a = a + _implicit_step(x, y, w, a, b, converged)
    # curve_fit gives up on a fit that does not converge (its maxfev): NaN, never selected
    return torch.where(converged, a, torch.nan), torch.where(converged, torch.sqrt(var.clamp(min=0)), torch.nan)


def _levenberg_marquardt(x, y, w, weighted):
    """``((a, b), weighted Jacobian, cost, converged)`` of the weighted fit of ``a·exp(b·x)`` to ``y``.

    Each iteration updates only the rows still iterating: under shot noise ~1 % of the terms
    (those whose values barely decay or change sign) take the whole budget.
    """
    shape = y.shape[:-1]
    y, w, weighted = y.reshape(-1, len(x)), w.reshape(-1, len(x)), weighted.reshape(-1)
    sign = torch.sign(y[:, int(x.argmin())])
    sign = torch.where(sign == 0, torch.ones_like(sign), sign)
    abs_y = y.abs().clamp(min=1e-15)
    rate, log_amp = _line(x, torch.log(abs_y), torch.where(weighted.unsqueeze(-1), abs_y * w, 1.0))
    a, b = sign * torch.exp(log_amp), rate
    damping = torch.full_like(a, 1e-3)

    def residual_jacobian(a, b, y, w):
        e = torch.exp(b.unsqueeze(-1) * x)
        return (y - a.unsqueeze(-1) * e) * w, torch.stack([e * w, a.unsqueeze(-1) * x * e * w], dim=-1)

    r, jac = residual_jacobian(a, b, y, w)
    cost = (r**2).sum(-1)
    converged = torch.zeros_like(a, dtype=torch.bool)
    rows = torch.arange(len(a), device=a.device)
    for _ in range(_LM_STEPS):
        rows = rows[~converged[rows]]
        if not len(rows):
            break
        ra, rb, rr, rj, rc, rd = a[rows], b[rows], r[rows], jac[rows], cost[rows], damping[rows]
        g = (rj.transpose(-1, -2) @ rr.unsqueeze(-1)).squeeze(-1)
        h = rj.transpose(-1, -2) @ rj
        h = h + rd[:, None, None] * torch.diag_embed(torch.diagonal(h, dim1=-2, dim2=-1).clamp(min=1e-300))
        da, db = _solve_2x2(h, g)
        r_new, jac_new = residual_jacobian(ra + da, rb + db, y[rows], w[rows])
        cost_new = (r_new**2).sum(-1)
        better = (cost_new <= rc) & torch.isfinite(cost_new)
        # MINPACK's tests: a step within xtol of the parameters, or a relative reduction within ftol
        small = (da.abs() + db.abs()) <= _TOLERANCE * (ra.abs() + rb.abs())
        flat = better & (rc - cost_new <= _TOLERANCE * rc)
        a[rows], b[rows] = torch.where(better, ra + da, ra), torch.where(better, rb + db, rb)
        r[rows] = torch.where(better.unsqueeze(-1), r_new, rr)
        jac[rows] = torch.where(better[:, None, None], jac_new, rj)
        cost[rows] = torch.where(better, cost_new, rc)
        damping[rows] = torch.where(better, rd / 10, rd * 10).clamp(1e-12, 1e12)
        converged[rows] = small | flat
    return ((a.reshape(shape), b.reshape(shape)), jac.reshape(*shape, len(x), 2), cost.reshape(shape),
            converged.reshape(shape))


def _implicit_step(x, y, w, a, b, converged):
    """Zero at the optimum, with the optimum's derivative in ``y``: ``H⁻¹ Jᵀ W (y - f)`` (exact Hessian ``H``).

    At the optimum ``Jᵀ W (y - f) = 0``; differentiating it gives ``da/dy`` (the fit weights held fixed).
    """
    e = torch.exp(b.unsqueeze(-1) * x)
    r = y - a.unsqueeze(-1) * e
    jac = torch.stack([e, a.unsqueeze(-1) * x * e], dim=-1)  # d f / d (a, b)
    ww = w**2
    jtw = (jac * ww.unsqueeze(-1)).transpose(-1, -2)  # (..., 2, m)
    h = jtw @ jac
    curvature = (ww * r.detach() * x * e).sum(-1), (ww * r.detach() * a.unsqueeze(-1) * x**2 * e).sum(-1)
    h = h - torch.stack([torch.stack([torch.zeros_like(a), curvature[0]], -1),
                         torch.stack([curvature[0], curvature[1]], -1)], -2)
    ok = converged & torch.isfinite(h).all(-1).all(-1) & torch.isfinite(r.detach()).all(-1)
    g = (jtw @ r.unsqueeze(-1)).squeeze(-1)
    da, _ = _solve_2x2(torch.where(ok[..., None, None], h, torch.eye(2, dtype=h.dtype, device=h.device)),
                       torch.where(ok.unsqueeze(-1), g, 0))
    return da


def _solve_2x2(h, g):
    """``h⁻¹ g`` for batched 2×2 ``h``; zero where ``h`` is singular."""
    det = h[..., 0, 0] * h[..., 1, 1] - h[..., 0, 1] * h[..., 1, 0]
    safe = det.abs() > 0
    det = torch.where(safe, det, torch.ones_like(det))
    return (torch.where(safe, (h[..., 1, 1] * g[..., 0] - h[..., 0, 1] * g[..., 1]) / det, 0),
            torch.where(safe, (h[..., 0, 0] * g[..., 1] - h[..., 1, 0] * g[..., 0]) / det, 0))


def _line(x, y, w):
    """``(slope, intercept)`` of the weighted least-squares line (``numpy.polyfit(x, y, 1, w=w)``)."""
    sw = w**2
    mean_x = (sw * x).sum(-1) / sw.sum(-1)
    mean_y = (sw * y).sum(-1) / sw.sum(-1)
    slope = (sw * (x - mean_x.unsqueeze(-1)) * (y - mean_y.unsqueeze(-1))).sum(-1) / (
        sw * (x - mean_x.unsqueeze(-1)) ** 2).sum(-1)
    return slope, mean_y - slope * mean_x
