"""What a GAN run reports about itself: the networks' sizes, the sample grids and the loss curves.

Reporting lives here, not in `qrkt_qiskit.models.gan` (issue 38: a model module imported
`resources`); the loop (`qrkt_qiskit.training.gan`) and ``qrkt gan info`` call it.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..models.gan import GANConfig, Generator, discriminator
from ..output import figure, save_figure

__all__ = ["gan_summary", "plot_losses", "save_sample_grid"]


def gan_summary(config: GANConfig) -> dict:
    """Parameters of both networks and, for QRKT-GAN, the thesis-style qubit totals.

    The qubit total sums the circuit widths over every circuit run of one forward pass
    (`resource_report`), for the generator and for the critic.
    """
    from ..resources import resource_report

    g, d = Generator(config), discriminator(config)
    summary = {"kind": config.kind, "generator_parameters": sum(p.numel() for p in g.parameters()),
               "critic_parameters": sum(p.numel() for p in d.parameters())}
    if config.quantum is not None:
        g_report = resource_report(g, torch.zeros(1, config.latent_dim))
        d_report = resource_report(d, torch.zeros(1, config.channels, config.image_size, config.image_size))
        summary.update(generator_qubits=g_report.qubit_total, critic_qubits=d_report.qubit_total,
                       widest_circuit=max(g_report.widest_circuit, d_report.widest_circuit),
                       circuit_weights=g_report.quantum_weights + d_report.quantum_weights)
    return summary


@torch.no_grad()
def save_sample_grid(generator: Generator, n: int, path: Path, *, seed: int = 0, title: str = "") -> None:
    """A grid of ``n`` samples from fixed noise (drawn from ``seed``), titled, pixels enlarged, written atomically."""
    from torchvision.utils import make_grid

    was_training = generator.training
    generator.eval()
    images = generator.sample(n, generator=torch.Generator().manual_seed(seed))
    generator.train(was_training)
    grid = make_grid(images.float().cpu(), nrow=max(1, round(n**0.5)), normalize=True, value_range=(-1, 1))
    fig, ax = figure(figsize=(6, 6.4))
    ax.imshow(grid.permute(1, 2, 0).numpy(), interpolation="nearest")  # sharp pixels, not a blur
    ax.set_axis_off()
    ax.set_title(title or f"{n} samples, fixed noise (seed {seed})", fontsize=10)
    save_figure(fig, path, dpi=110)


def plot_losses(history: list[dict], path: Path, title: str) -> None:
    """``curves.png``: critic and generator loss and the score gap per epoch, from ``metrics.csv``'s rows."""
    from matplotlib.ticker import MaxNLocator

    epochs = [row["epoch"] for row in history]
    fig, ax = figure(figsize=(6, 4))
    for key, label in (("d_loss", "critic loss"), ("g_loss", "generator loss"),
                       ("wasserstein", "E[D(x)] − E[D(G(z))]")):
        ax.plot(epochs, [row[key] for row in history], marker=".", label=label)
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("per critic step, averaged over the epoch")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    save_figure(fig, path)
