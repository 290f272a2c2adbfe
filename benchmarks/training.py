"""Seconds per training epoch of the thesis' 3-block MNIST model, quantum and classical, one run.

The model is the thesis' (patch 14, hidden 6, 2 heads, QMLP 3, 3 rk4_enh blocks: 60 circuit
runs per forward), the step is the training loop's (AdamW, clipping at 1, warmup-cosine),
the batch 65 as the thesis. Step mode times ``--steps`` steps after a warm-up and projects
an epoch of 54,000 images (831 steps); ``--data-root`` adds one real epoch of ``train`` on
MNIST for each model (training time only, evaluation excluded).

    python benchmarks/training.py [--steps 200] [--threads 2] [--data-root ../shared/data]
"""

import argparse
import math
import tempfile
import time

import torch
import torch.nn.functional as F

from qrkt_qiskit.models import VisionTransformer
from qrkt_qiskit.training import TrainConfig, train
from qrkt_qiskit.training.schedule import warmup_cosine

EPOCH_IMAGES, BATCH = 54_000, 65


def seconds_per_step(config: TrainConfig, steps: int, warmup: int = 20) -> float:
    torch.manual_seed(0)
    model = VisionTransformer(config.model_config())
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr)
    scheduler = warmup_cosine(optimizer, 5000, 54_000)
    x, y = torch.randn(BATCH, 1, 28, 28), torch.randint(0, 10, (BATCH,))
    times = []
    for i in range(warmup + steps):
        start = time.perf_counter()
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]  # the median: robust to a stray slow step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--data-root", help="also train one real MNIST epoch of each model")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    steps_per_epoch = math.ceil(EPOCH_IMAGES / BATCH)
    print(f"torch {torch.__version__}, {args.threads} threads; thesis MNIST model, 3 rk4_enh blocks, batch {BATCH}")
    step = {}
    for quantum in (False, True):
        config = TrainConfig(dataset="mnist", quantum=quantum)
        step[quantum] = seconds_per_step(config, args.steps)
        print(f"{'quantum' if quantum else 'classical':>9}: {step[quantum] * 1e3:7.2f} ms/step  "
              f"-> {step[quantum] * steps_per_epoch:6.1f} s per 54k-image epoch (projected)")
    print(f"quantum / classical step: {step[True] / step[False]:.2f}x (target <= 1.5x); "
          f"quantum epoch target <= 54 s: {'met' if step[True] * steps_per_epoch <= 54 else 'NOT met'}")
    if args.data_root:
        for quantum in (False, True):
            with tempfile.TemporaryDirectory() as run_dir:
                config = TrainConfig(dataset="mnist", data_root=args.data_root, quantum=quantum, epochs=1,
                                     warmup_steps=5000)
                summary = train(config, run_dir, progress=False)
                print(f"{'quantum' if quantum else 'classical':>9}: one real MNIST epoch trained in "
                      f"{summary['train_seconds']:.1f} s")


if __name__ == "__main__":
    main()
