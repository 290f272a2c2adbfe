"""Seconds per GAN iteration (5 critic steps + 1 generator step), TransGAN-small vs QRKT-GAN-small, one run.

Batch 32 of 32×32 one-channel images (MNIST-shaped), the `small` presets, the training step of
`qrkt gan train` (WGAN-GP-ε, DiffAugment, EMA); iterations of the two models interleaved so that
both see the same machine load; the median of ``--iterations`` after one warm-up iteration.

    python benchmarks/gan.py [--iterations 5] [--threads 1]
"""

import argparse
import statistics
import time

import torch

from qrkt_qiskit.models import QuantumSpec
from qrkt_qiskit.models.gan import gan_config
from qrkt_qiskit.training.gan import GANState, GANTrainConfig, build_gan, gan_step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    real = torch.rand(32, 1, 32, 32) * 2 - 1
    runs = {}
    for name, quantum in (("TransGAN-small", None), ("QRKT-GAN-small", QuantumSpec())):
        config = GANTrainConfig(model=gan_config("small", quantum=quantum), dataset="digits", limit=64)
        _, parts = build_gan(config, torch.device("cpu"))
        runs[name] = (config, parts, GANState())
    times = {name: [] for name in runs}
    for i in range(args.iterations + 1):
        for name, (config, parts, state) in runs.items():
            start = time.perf_counter()
            for _ in range(config.n_critic):  # n_critic calls: n_critic critic steps and one generator step
                gan_step(config, parts, real, state)
            if i:  # the first iteration warms up
                times[name].append(time.perf_counter() - start)
    print(f"torch {torch.__version__}, {args.threads} thread(s); small presets, batch 32, 32x32x1")
    for name, ts in times.items():
        print(f"{name:>15}: {statistics.median(ts):.2f} s per iteration (median of {len(ts)})")
    ratio = statistics.median(times["QRKT-GAN-small"]) / statistics.median(times["TransGAN-small"])
    print(f"QRKT-GAN / TransGAN: {ratio:.2f}x")


if __name__ == "__main__":
    main()
