"""Seconds per generator step of the three GAN arms before and after issue 35, and QRKT-GAN's share in quantum maps.

The arms: TransGAN, TransGAN with the `rk4_enh` last block (the ODE block without quantum
maps), QRKT-GAN. Three setups of each, all through today's code:

- ``before``: the `cpu` preset as it was until issue 35 (widths 128/32/8, depths 2/2/1, a 1×1
  convolution on the 32×32 token grid, no tanh) with the `thesis` recipe (WGAN-GP, 5 critic
  steps per generator step): what commit 2a6e8f2 trained;
- ``before, cpu recipe``: that network with the `cpu` recipe (ns-r1, one critic step);
- ``after``: today's `cpu` preset (widths 128/32, the upconv decoder, tanh) and `cpu` recipe.

A generator step costs ``n_critic`` critic steps and one generator step; with ns-r1, one
critic step in ``r1_every`` (16) also computes R1, so its cost is (15 plain + 1 R1 step) / 16,
each timed. Times are this process's CPU seconds (one thread), the setups interleaved and
medians taken after one warm-up round, so other processes on the machine change them little.

QRKT-GAN's share in quantum maps: every `QuantumLayer`'s forward and backward (module hooks)
inside one plain step of the `after` setup (a critic step and a generator step).

    python benchmarks/gan.py [--repeats 3] [--threads 1]
"""

import argparse
import dataclasses
import statistics
import time

import torch

from qrkt_qiskit.layers import QuantumLayer
from qrkt_qiskit.models import QuantumSpec
from qrkt_qiskit.models.gan import gan_config
from qrkt_qiskit.training.gan import GANState, GANTrainConfig, build_gan, gan_step

ARMS = {"TransGAN": {}, "TransGAN+rk4_enh": {"ode": "rk4_enh"}, "QRKT-GAN": {"quantum": QuantumSpec()}}
BEFORE = dict(depths=(2, 2, 1), decoder="conv1x1", output_tanh=False)  # the cpu preset until issue 35
SETUPS = {"before": (BEFORE, "thesis"), "before, cpu recipe": (BEFORE, "cpu"), "after": ({}, "cpu")}


def cpu_seconds(fn) -> float:
    start = time.process_time()
    fn()
    return time.process_time() - start


def generator_step_seconds(config: GANTrainConfig, parts, state: GANState, real: torch.Tensor) -> float:
    """CPU seconds of what one generator step costs in training: n_critic critic steps and the generator step."""
    if config.loss == "wgan-gp":
        return cpu_seconds(lambda: [gan_step(config, parts, real, state) for _ in range(config.n_critic)])
    assert config.n_critic == 1

    def step(r1: bool):
        state.d_steps = config.r1_every * (state.d_steps // config.r1_every + 1) - (1 if r1 else 2)
        return cpu_seconds(lambda: gan_step(config, parts, real, state))

    plain, penalised = step(False), step(True)
    return ((config.r1_every - 1) * plain + penalised) / config.r1_every


def quantum_share(config: GANTrainConfig, parts, real: torch.Tensor, repeats: int) -> tuple[float, float, float]:
    """(step s, quantum-map forward s, backward s) of one plain step, medians; hooks time every QuantumLayer."""
    spent = {"forward": 0.0, "backward": 0.0}
    started = {}

    def begin(kind):
        return lambda module, *args: started.__setitem__((id(module), kind), time.process_time())

    def end(kind):
        def hook(module, *args):
            spent[kind] += time.process_time() - started[id(module), kind]
        return hook

    handles = []
    for net in (parts.generator, parts.critic):
        for m in net.modules():
            if isinstance(m, QuantumLayer):
                handles += [m.register_forward_pre_hook(begin("forward")), m.register_forward_hook(end("forward")),
                            m.register_full_backward_pre_hook(begin("backward")),
                            m.register_full_backward_hook(end("backward"))]
    state, rows = GANState(), []
    for i in range(repeats + 1):
        spent.update(forward=0.0, backward=0.0)
        state.d_steps = 0  # a plain step: no R1
        total = cpu_seconds(lambda: gan_step(config, parts, real, state))
        if i:
            rows.append((total, spent["forward"], spent["backward"]))
    for h in handles:
        h.remove()
    return tuple(statistics.median(r[k] for r in rows) for k in range(3))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds per setup, after one warm-up (default: 3)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    real = torch.rand(32, 1, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    cases = {}
    for arm, overrides in ARMS.items():
        for setup, (model, recipe) in SETUPS.items():
            config = GANTrainConfig(model=dataclasses.replace(gan_config("cpu", **overrides), **model), recipe=recipe,
                                    limit=64)
            torch.manual_seed(0)
            cases[arm, setup] = (config, build_gan(config, torch.device("cpu"))[1], GANState())
    times = {key: [] for key in cases}
    for i in range(args.repeats + 1):
        for key, (config, parts, state) in cases.items():
            seconds = generator_step_seconds(config, parts, state, real)
            if i:
                times[key].append(seconds)
    print(f"torch {torch.__version__}, {args.threads} thread(s); batch 32, 32x32x1; CPU seconds per generator step "
          f"(median of {args.repeats}, setups interleaved)")
    print("| arm | before (thesis recipe) | before, cpu recipe | after (cpu preset and recipe) | after / before |")
    print("|---|---:|---:|---:|---:|")
    for arm in ARMS:
        s = {setup: statistics.median(times[arm, setup]) for setup in SETUPS}
        print(f"| {arm} | {s['before']:.3f} | {s['before, cpu recipe']:.3f} | {s['after']:.3f} | "
              f"{s['after'] / s['before']:.2f}x |")
    for setup in ("before, cpu recipe", "after"):
        config, parts, _ = cases["QRKT-GAN", setup]
        total, forward, backward = quantum_share(config, parts, real, args.repeats)
        print(f"\nQRKT-GAN ({setup}), one plain critic + generator step: {total:.3f} s, quantum maps "
              f"{forward:.3f} s forward + {backward:.3f} s backward = {(forward + backward) / total:.0%}")


if __name__ == "__main__":
    main()
