"""Seconds per GAN iteration of the three arms, and the 32×32 stage's share of the generator's time.

The arms of issue 19 at one preset (default `cpu`): TransGAN, TransGAN with the `rk4_enh` last
block (the ODE block without quantum maps) and QRKT-GAN. One iteration is what `qrkt gan train`
does for each generator step: ``n_critic`` critic steps and one generator step (WGAN-GP-ε,
DiffAugment, EMA) on a batch of 32 MNIST-shaped images. Iterations of the arms are interleaved,
so that all see the same machine load; medians after one warm-up iteration.

Then, for each arm with windowed attention (the preset's window) and with full attention
(``window=None``): the generator's forward+backward, and the same for its last (32×32) stage
alone on that stage's input, so the stage's share of the generator is measured, not assumed.

    python benchmarks/gan.py [--preset cpu] [--iterations 5] [--repeats 10] [--threads 1] [--device cpu]

On a CUDA GPU (``--device cuda``, e.g. with ``--preset gpu``) every timing waits for the GPU to finish.
"""

import argparse
import dataclasses
import statistics
import time

import torch

from qrkt_qiskit.models import QuantumSpec
from qrkt_qiskit.models.gan import Generator, gan_config
from qrkt_qiskit.training.distributed import check_device
from qrkt_qiskit.training.gan import GANState, GANTrainConfig, build_gan, gan_step

ARMS = {"TransGAN": {}, "TransGAN+rk4_enh": {"ode": "rk4_enh"}, "QRKT-GAN": {"quantum": QuantumSpec()}}


def clock(device: torch.device) -> float:
    """``time.perf_counter()`` once the work queued on ``device`` has finished."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


def iteration_times(preset: str, iterations: int, device: torch.device) -> dict[str, float]:
    """Median seconds per iteration (n_critic critic steps + 1 generator step) of each arm, interleaved."""
    real = torch.rand(32, 1, 32, 32, device=device) * 2 - 1
    runs = {}
    for name, overrides in ARMS.items():
        config = GANTrainConfig(model=gan_config(preset, **overrides), dataset="digits", limit=64)
        _, parts = build_gan(config, device)
        runs[name] = (config, parts, GANState())
    times = {name: [] for name in runs}
    for i in range(iterations + 1):
        for name, (config, parts, state) in runs.items():
            start = clock(device)
            for _ in range(config.n_critic):  # n_critic calls: n_critic critic steps and one generator step
                gan_step(config, parts, real, state)
            if i:  # the first iteration warms up
                times[name].append(clock(device) - start)
    return {name: statistics.median(ts) for name, ts in times.items()}


def last_stage_input(generator: Generator, z: torch.Tensor) -> torch.Tensor:
    """What the generator's last stage receives for noise ``z`` (captured by a hook, not re-derived)."""
    seen = []
    handle = generator.stages[-1][0].register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    with torch.no_grad():
        generator(z)
    handle.remove()
    return seen[0]


def stage_shares(preset: str, repeats: int, device: torch.device) -> list[tuple[str, str, float, float]]:
    """(arm, attention, generator fwd+bwd ms, last stage fwd+bwd ms), timings of all cases interleaved."""
    z = torch.randn(32, gan_config(preset).latent_dim, device=device)
    cases = {}
    for name, overrides in ARMS.items():
        for attention, window in (("windowed", gan_config(preset).window), ("full", None)):
            torch.manual_seed(0)
            generator = Generator(dataclasses.replace(gan_config(preset, **overrides), window=window)).to(device)
            cases[name, attention] = (generator, last_stage_input(generator, z))

    def whole(generator, x):
        generator(z).square().mean().backward()

    def stage(generator, x):
        x = x.detach().requires_grad_()
        y = x
        for block in generator.stages[-1]:
            y = block(y)
        y.square().mean().backward()

    times = {(key, part): [] for key in cases for part in ("whole", "stage")}
    for i in range(repeats + 1):
        for key, (generator, x) in cases.items():
            for part, run in (("whole", whole), ("stage", stage)):
                start = clock(device)
                run(generator, x)
                if i:
                    times[key, part].append(clock(device) - start)
    return [(name, attention, 1e3 * statistics.median(times[(name, attention), "whole"]),
             1e3 * statistics.median(times[(name, attention), "stage"])) for name, attention in cases]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="cpu", help="the GAN preset of all three arms (default: cpu)")
    parser.add_argument("--iterations", type=int, default=5, help="GAN iterations per arm (default: 5)")
    parser.add_argument("--repeats", type=int, default=10, help="generator fwd+bwd timings per case (default: 10)")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    try:
        check_device(args.device)
    except ValueError as error:
        parser.error(str(error))
    device = torch.device(args.device)
    window = gan_config(args.preset).window
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{args.threads} thread(s)"
    print(f"torch {torch.__version__}, {where}; preset {args.preset} (window {window}), batch 32, 32x32x1")
    iterations = iteration_times(args.preset, args.iterations, device)
    base = iterations["TransGAN"]
    print(f"\nseconds per iteration (median of {args.iterations}, arms interleaved)")
    print("| arm | s / iteration | / TransGAN |\n|---|---:|---:|")
    for name, seconds in iterations.items():
        print(f"| {name} | {seconds:.3f} | {seconds / base:.2f}x |")
    print(f"\ngenerator forward+backward, batch 32 (median of {args.repeats}, cases interleaved)")
    print("| arm | attention | generator ms | 32x32 stage ms | stage share |\n|---|---|---:|---:|---:|")
    for name, attention, whole, stage in stage_shares(args.preset, args.repeats, device):
        print(f"| {name} | {attention} | {whole:.1f} | {stage:.1f} | {stage / whole:.0%} |")


if __name__ == "__main__":
    main()
