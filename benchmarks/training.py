"""Seconds per training epoch of the thesis' 3-block MNIST model and its IMDb pair, quantum and classical.

The model is the thesis' (patch 14, hidden 6, 2 heads, QMLP 3, 3 rk4_enh blocks: 60 circuit
runs per forward), the step is the training loop's (AdamW, clipping at 1, warmup-cosine),
the batch 65 as the thesis. Step mode times ``--steps`` steps after a warm-up and projects
an epoch of 54,000 images (831 steps); ``--data-root`` adds one real epoch of ``train`` on
MNIST for each model (training time only, evaluation excluded).

``--imdb`` times the thesis' IMDb models instead (one rk4_enh block, 512 tokens, batch 65,
an epoch of 22,500 reviews = 347 steps): the classical baseline (hidden 12, 6 heads, MLP 6),
the quantum model (hidden 6, 2 heads, QMLP 4), and the quantum model's classical twin (its
own shape with nn.Linear maps), the like-for-like comparison for the 1.5x target.

``--circuit-layers L`` gives every circuit L variational layers: with 2 or more a circuit has
rotations after its entangler and takes the statevector path, not the closed form.

``--options`` times the circuit options of the digits screen (issue 18) on the same MNIST
model, each against the classical step: the element-wise control, ``qrkt-2n``, re-uploading,
the normal initialisation, the output scale, ``basic``, two circuit layers, and the
``--arch thesis`` pair.

    python benchmarks/training.py [--steps 200] [--threads 2] [--circuit-layers 2] [--data-root ../shared/data]
    python benchmarks/training.py --imdb [--steps 20] [--threads 2]
    python benchmarks/training.py --options [--steps 50] [--threads 1]
    python benchmarks/training.py --kernel-vs-sweep [--steps 30] [--threads 1]

``--kernel-vs-sweep`` times whole steps (forward, backward, AdamW) of MNIST models whose
circuits run the statevector (``--circuit-layers 2``, ``--ansatz qrkt-reupload``) with every
circuit compiled as ``method="kernel"`` and as ``method="sweep"``, interleaved with the
classical step, and prints the ratios (issue 34; `engine.dispatch` picks the kernel for
these calls). The layers compile with ``method="auto"``; this benchmark alone swaps each
layer's exact program for a forced one (`force_method`).
"""

import argparse
import math
import tempfile
import time

import torch

from qrkt_qiskit import QuantumLayer, compile_ansatz
from qrkt_qiskit.training import TrainConfig, train, train_step
from qrkt_qiskit.training.runs import build_model
from qrkt_qiskit.training.schedule import warmup_cosine

EPOCH_IMAGES, EPOCH_REVIEWS, BATCH, TOKENS = 54_000, 22_500, 65, 512
OPTIONS = {  # the digits screen's arms (docs/runs/digits_screen.sh), as TrainConfig fields
    "classical": dict(quantum=False),
    "element-wise control": dict(quantum=False, elementwise=True),
    "quantum (qrkt)": dict(),
    "--weight-init normal": dict(weight_init="normal"),
    "--output-scale": dict(output_scale=True),
    "--ansatz qrkt-2n": dict(ansatz="qrkt-2n"),
    "--ansatz qrkt-reupload": dict(ansatz="qrkt-reupload", weight_init="normal"),
    "--ansatz basic": dict(ansatz="basic"),
    "--circuit-layers 2": dict(circuit_layers=2),
    "--arch thesis, classical": dict(quantum=False, arch="thesis"),
    "--arch thesis, quantum": dict(arch="thesis"),
}


def force_method(model: torch.nn.Module, method: str) -> None:
    """Every `QuantumLayer` of ``model`` runs its exact program compiled with ``method`` (a benchmark's switch)."""
    for layer in model.modules():
        if isinstance(layer, QuantumLayer):
            w = layer.weight
            layer._exact[(w.dtype, w.device)] = compile_ansatz(layer.ansatz, w.dtype, w.device, method=method)


def step_timer(config: TrainConfig, method: str | None = None):
    """A function that runs one timed training step of ``config``'s model (its circuits compiled with
    ``method``, if given) and returns its seconds."""
    torch.manual_seed(0)
    model = build_model(config)
    if method is not None:
        force_method(model, method)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr)
    scheduler = warmup_cosine(optimizer, 5000, 54_000)
    if config.is_text:  # random ids of full length: IMDb's 512-token batches (one long review pads the rest)
        x, y = torch.randint(4, config.vocab_size, (BATCH, TOKENS)), torch.randint(0, 2, (BATCH,))
    else:
        x, y = torch.randn(BATCH, 1, 28, 28), torch.randint(0, 10, (BATCH,))

    def step() -> float:
        start = time.perf_counter()
        train_step(model, optimizer, scheduler, x, y, clip_norm=config.clip_norm)
        return time.perf_counter() - start

    return step


def seconds_per_step(configs: list[TrainConfig], steps: int, warmup: int = 20, methods=None) -> list[float]:
    """Median step time of each config (its circuits compiled with ``methods[i]``, if given); their steps
    interleave, so a busy machine slows all alike."""
    timers = [step_timer(config, method) for config, method in zip(configs, methods or [None] * len(configs))]
    times = [[] for _ in configs]
    for i in range(warmup + steps):
        for timer, kept in zip(timers, times):
            seconds = timer()
            if i >= warmup:
                kept.append(seconds)
    return [sorted(kept)[len(kept) // 2] for kept in times]  # the median: robust to a stray slow step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--data-root", help="also train one real MNIST epoch of each model")
    parser.add_argument("--imdb", action="store_true", help="time the thesis' IMDb models instead")
    parser.add_argument("--circuit-layers", type=int, default=1, metavar="L",
                        help="variational layers per circuit (default 1: the closed form; 2 or more: the statevector path)")
    parser.add_argument("--options", action="store_true", help="time the circuit options against the classical step")
    parser.add_argument("--kernel-vs-sweep", action="store_true",
                        help="time statevector models' steps with the numba kernel and with the torch sweep")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.kernel_vs_sweep:
        return kernel_vs_sweep(args.steps)
    if args.imdb:
        return imdb(args.steps)
    if args.options:
        return options(args.steps)
    steps_per_epoch = math.ceil(EPOCH_IMAGES / BATCH)
    print(f"torch {torch.__version__}, {args.threads} threads; thesis MNIST model, 3 rk4_enh blocks, batch {BATCH}, "
          f"{args.circuit_layers} layer(s) per circuit")
    configs = [TrainConfig(dataset="mnist", quantum=q, circuit_layers=args.circuit_layers) for q in (False, True)]
    step = dict(zip((False, True), seconds_per_step(configs, args.steps)))
    for quantum in (False, True):
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


def options(steps: int) -> None:
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; MNIST model, 3 rk4_enh blocks, batch {BATCH}; "
          f"medians of {steps} interleaved steps")
    configs = {name: TrainConfig(dataset="mnist", **fields) for name, fields in OPTIONS.items()}
    step = dict(zip(configs, seconds_per_step(list(configs.values()), steps, warmup=5)))
    print("| model | parameters | ms/step | ÷ classical |\n|---|---:|---:|---:|")
    for name, config in configs.items():
        parameters = sum(p.numel() for p in build_model(config).parameters())
        print(f"| {name} | {parameters:,} | {step[name] * 1e3:.1f} | {step[name] / step['classical']:.2f} |")


def kernel_vs_sweep(steps: int) -> None:
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; MNIST model, 3 rk4_enh blocks, batch {BATCH}; "
          f"medians of {steps} interleaved steps (forward, backward, AdamW)")
    arms = {"classical": (TrainConfig(dataset="mnist", quantum=False), None)}
    for name, fields in (("--circuit-layers 2", dict(circuit_layers=2)),
                         ("--ansatz qrkt-reupload", dict(ansatz="qrkt-reupload", weight_init="normal"))):
        for method in ("kernel", "sweep"):
            arms[f"{name}, {method}"] = (TrainConfig(dataset="mnist", **fields), method)
    step = dict(zip(arms, seconds_per_step([c for c, _ in arms.values()], steps, warmup=5,
                                           methods=[m for _, m in arms.values()])))
    print("| model | ms/step | ÷ classical | sweep ÷ kernel |\n|---|---:|---:|---:|")
    for name in arms:
        ratio = f"{step[name.replace('kernel', 'sweep')] / step[name]:.2f}" if name.endswith("kernel") else ""
        print(f"| {name} | {step[name] * 1e3:.1f} | {step[name] / step['classical']:.2f} | {ratio} |")


def imdb(steps: int) -> None:
    steps_per_epoch = math.ceil(EPOCH_REVIEWS / BATCH)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; thesis IMDb models, 1 rk4_enh block, "
          f"{TOKENS} tokens, batch {BATCH}")
    models = {
        "classical baseline (12/6/6)": TrainConfig(dataset="imdb", quantum=False),
        "quantum (6/2/4)": TrainConfig(dataset="imdb", quantum=True),
        "classical twin of the quantum (6/2/4)": TrainConfig(dataset="imdb", quantum=False, model="imdb-quantum"),
    }
    step = dict(zip(models, seconds_per_step(list(models.values()), steps, warmup=3)))
    for name in models:
        print(f"{name:>38}: {step[name] * 1e3:8.1f} ms/step  -> {step[name] * steps_per_epoch:6.1f} s per "
              f"22.5k-review epoch (projected)")
    q = step["quantum (6/2/4)"]
    print(f"quantum / its classical twin: {q / step['classical twin of the quantum (6/2/4)']:.2f}x (target <= 1.5x); "
          f"quantum / classical baseline: {q / step['classical baseline (12/6/6)']:.2f}x")


if __name__ == "__main__":
    main()
