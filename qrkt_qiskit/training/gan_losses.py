"""The GAN objectives, each a function of a critic and image batches: WGAN-GP-ε (the thesis') and ns-r1.

With ``x`` real and ``G(z)`` generated images, both passed through the same DiffAugment policy
before the critic ``D`` sees them (TransGAN's losses, thesis §5.4)::

    d_loss = −E[D(x)] + E[D(G(z))] + λ·GP/φ² + ε·(E[D(x)])²      GP = E[(‖∇D(x̂)‖ − φ)²]
    g_loss = −E[D(G(z))]

``x̂`` interpolates between the augmented real and augmented generated images the critic just
scored. The ns-r1 objective (off the thesis) is ``softplus(D(G(z))) + softplus(−D(x))`` for the
critic with Mescheder et al.'s R1 penalty, and ``softplus(−D(G(z)))`` for the generator.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel

__all__ = ["critic_loss", "generator_loss", "gradient_penalty", "ns_critic_loss", "r1_penalty"]


def gradient_penalty(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor, *, phi: float = 1.0,
                     alpha: torch.Tensor | None = None) -> torch.Tensor:
    """``E[(‖∇D(x̂)‖₂ − φ)²]`` at ``x̂ = α·real + (1−α)·fake``, differentiable in the critic's weights.

    Args:
        critic: images ``(B, ...)`` to scores ``(B, 1)``.
        real, fake: the images the critic scored (``fake`` is detached here).
        phi: the target gradient norm.
        alpha: ``(B,)`` mixing weights; ``None`` draws them uniformly from torch's RNG.
    """
    if alpha is None:
        alpha = torch.rand(real.shape[0], dtype=real.dtype, device=real.device)
    alpha = alpha.view(-1, *([1] * (real.dim() - 1)))
    mixed = (alpha * real + (1 - alpha) * fake.detach()).requires_grad_(True)
    # Fused CPU attention kernels have no double backward; the reference kernel has one.
    with sdpa_kernel([SDPBackend.MATH]):
        scores = critic(mixed)
    (grad,) = torch.autograd.grad(scores.sum(), mixed, create_graph=True)
    return (grad.flatten(1).norm(dim=1) - phi).square().mean()


def critic_loss(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor, *, gp_weight: float = 10.0,
                drift: float = 1e-3, phi: float = 1.0) -> tuple[torch.Tensor, dict[str, float]]:
    """The WGAN-GP-ε critic loss on (already augmented) ``real`` and ``fake`` images.

    Returns:
        The loss, and its parts as floats: ``wasserstein`` (E[D(x)] − E[D(G(z))]) and ``gp``.
    """
    real_score, fake_score = critic(real).mean(), critic(fake.detach()).mean()
    gp = gradient_penalty(critic, real, fake, phi=phi)
    loss = fake_score - real_score + gp_weight * gp / phi**2 + drift * real_score.square()
    return loss, {"d_loss": loss.item(), "wasserstein": (real_score - fake_score).item(), "gp": gp.item()}


def r1_penalty(critic: nn.Module, real: torch.Tensor) -> torch.Tensor:
    """``E[‖∇D(x)‖²]`` at the real images, differentiable in the critic's weights (Mescheder et al.'s R1)."""
    real = real.detach().requires_grad_(True)
    with sdpa_kernel([SDPBackend.MATH]):  # as `gradient_penalty`: a double backward through attention
        scores = critic(real)
    (grad,) = torch.autograd.grad(scores.sum(), real, create_graph=True)
    return grad.flatten(1).square().sum(dim=1).mean()


def ns_critic_loss(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor, *, r1_weight: float
                   ) -> tuple[torch.Tensor, dict[str, float]]:
    """The non-saturating critic loss ``softplus(D(G(z))) + softplus(−D(x))``, plus ``r1_weight · R1`` when it is not 0.

    Returns:
        The loss, and its parts as floats: ``wasserstein`` (the score gap E[D(x)] − E[D(G(z))],
        for the same curve as WGAN-GP's) and ``gp`` (the R1 term, 0 on the lazy steps without it).
    """
    real_scores, fake_scores = critic(real), critic(fake.detach())
    loss = F.softplus(fake_scores).mean() + F.softplus(-real_scores).mean()
    r1 = r1_penalty(critic, real) if r1_weight else torch.zeros((), device=real.device)
    loss = loss + r1_weight * r1
    gap = real_scores.mean() - fake_scores.mean()
    return loss, {"d_loss": loss.item(), "wasserstein": gap.item(), "gp": r1.item()}


def generator_loss(scores: torch.Tensor, loss: str) -> torch.Tensor:
    """The generator's loss from the critic's scores of its (augmented) images: ``−E[D(G(z))]`` for wgan-gp,
    ``E[softplus(−D(G(z)))]`` for ns-r1."""
    return F.softplus(-scores).mean() if loss == "ns-r1" else -scores.mean()
