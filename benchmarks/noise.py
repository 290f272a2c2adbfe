"""The device's noise, natively vs Aer: samples/s of the demo model's circuits, and a whole digits test set.

Part 1, one QuantumLayer at a time (the digits ViT's circuits: ``qrkt`` at 6 and 3 qubits,
one layer; ``--layers 2`` adds a two-layer 6-qubit circuit, whose weights sit after the
entangler), on ``--device`` (default ``fake-nairobi``), same ISA circuit and noise model:
  * native noisy engine, exact (readout error included), float32: forward and
    forward+backward samples/s at batch 64 and 1024 (median of ``--repeats``);
  * Aer, density matrix, exact (Aer's EstimatorV2 through EstimatorQNN, readout read into
    the observables): forward samples/s on ``--aer-samples`` samples;
  * Aer, 4096 shots (BackendEstimatorV2 on the noisy AerSimulator): the same.
The ratio native / Aer is printed for forward, exact vs exact.

Part 2: seconds per training step of the digits ViT (batch 32, AdamW), exact vs noise-aware.

Part 3: seconds to evaluate the digits ViT (the demo's model, untrained weights: the cost
does not depend on them) on all 359 test images on the device, native noisy (4096 shots);
Aer on ``--aer-images`` images, extrapolated to 359 and marked so.

Part 4 (``--resilience``, or alone with ``--resilience-only``): Runtime's resilience levels 1
and 2 in the native engine against level 0, on the 6- and 3-qubit layers: forward samples/s
at batch 1024 (exact and 4096 shots) and forward+backward at batch 64 (exact), each level
timed in turn within every repeat, so the ratios are taken under the same load.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/noise.py
    .venv/bin/python benchmarks/noise.py --quick
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/noise.py --resilience-only
"""

from __future__ import annotations

import argparse
import platform
import shlex
import statistics
import sys
import time
import warnings

import torch

from qrkt_qiskit.layers import QuantumLayer, to_backend


def per_second(fn, samples: int, repeats: int) -> float:
    fn()  # warm-up: programs built, caches filled
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return samples / statistics.median(times)


def layer_rates(device: str, n: int, layers: int, args) -> dict:
    layer = QuantumLayer(n, layers=layers, backend=device)
    out = {}
    for simulator, shots in (("native", None), ("aer", None), ("aer", 4096)):
        layer.to_backend(device, simulator=simulator, shots=shots, seed=7)
        if simulator == "native":
            for batch in (64, 1024):
                x = torch.rand(batch, n) * 3
                with torch.no_grad():
                    out[f"native fwd b{batch}"] = per_second(lambda: layer(x), batch, args.repeats)
                xg = x.clone().requires_grad_()
                out[f"native fwd+bwd b{batch}"] = per_second(lambda: layer(xg).sum().backward(), batch, args.repeats)
        else:
            x = torch.rand(args.aer_samples, n) * 3
            with torch.no_grad():
                out[f"aer {'exact' if shots is None else shots} fwd"] = per_second(lambda: layer(x), len(x), 1)
    return out


def test_set_seconds(device: str, args) -> tuple[float, float, int]:
    from qrkt_qiskit.data import load_images
    from qrkt_qiskit.training import TrainConfig, evaluate
    from qrkt_qiskit.training.runs import build_model

    warnings.filterwarnings("ignore", message="No positive samples in targets")
    model = build_model(TrainConfig(dataset="digits")).eval()
    x, y = load_images("digits", seed=0).test
    timings = {}
    for simulator, images in (("native", len(y)), ("aer", args.aer_images)):
        to_backend(model, device, simulator=simulator, seed=7)
        start = time.perf_counter()
        evaluate(model, x[:images], y[:images], n_classes=10, batch_size=256)
        timings[simulator] = (time.perf_counter() - start) * len(y) / images
    return timings["native"], timings["aer"], len(y)


def training_step_seconds(device: str, args) -> tuple[float, float]:
    """Seconds per training step (forward, backward, AdamW) of the digits ViT, batch 32: exact vs through the noise."""
    import torch.nn.functional as F

    from qrkt_qiskit.training import TrainConfig
    from qrkt_qiskit.training.runs import build_model

    torch.manual_seed(0)
    model = build_model(TrainConfig(dataset="digits"))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x, y = torch.rand(32, 1, 8, 8), torch.randint(0, 10, (32,))

    def step():
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    out = []
    for backend in ("native", device):
        to_backend(model, backend, **({} if backend == "native" else {"shots": None}))
        out.append(1 / per_second(step, 1, max(args.repeats, 5)))
    return out[0], out[1]


def resilience_rates(device: str, n: int, args) -> dict:
    """Samples/s per (level, mode), the levels interleaved within each repeat (medians)."""
    layers = {(level, shots): QuantumLayer(n).to_backend(device, simulator="native", resilience_level=level,
                                                         shots=shots, seed=7)
              for level in (0, 1, 2) for shots in (None, 4096)}
    x, xg = torch.rand(1024, n) * 3, (torch.rand(64, n) * 3).requires_grad_()
    runs = {}
    for (level, shots), layer in layers.items():
        with torch.no_grad():
            runs[level, "fwd", shots] = (lambda layer=layer: layer(x), len(x))
        if shots is None:
            runs[level, "fwd+bwd", None] = (lambda layer=layer: layer(xg).sum().backward(), len(xg))
    for fn, _ in runs.values():
        fn()  # warm-up: programs built
    times = {key: [] for key in runs}
    for _ in range(args.repeats):
        for key, (fn, _) in runs.items():
            start = time.perf_counter()
            if key[1] == "fwd":
                with torch.no_grad():
                    fn()
            else:
                fn()
            times[key].append(time.perf_counter() - start)
    return {key: runs[key][1] / statistics.median(t) for key, t in times.items()}


def print_resilience(device: str, args) -> None:
    print(f"\n| circuit on {device}, native | level | fwd b1024 exact | fwd b1024 4096 shots | fwd+bwd b64 exact | "
          "cost vs level 0 (fwd exact, fwd shots, fwd+bwd) |")
    print("|---|---:|---:|---:|---:|---|")
    for n in (6, 3):
        r = resilience_rates(device, n, args)
        for level in (0, 1, 2):
            ratios = [r[0, mode, shots] / r[level, mode, shots]
                      for mode, shots in (("fwd", None), ("fwd", 4096), ("fwd+bwd", None))]
            print(f"| qrkt {n}q × 1 | {level} | {r[level, 'fwd', None]:,.0f} | {r[level, 'fwd', 4096]:,.0f} | "
                  f"{r[level, 'fwd+bwd', None]:,.0f} | {', '.join(f'{q:.1f}×' for q in ratios)} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="fake-nairobi")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--aer-samples", type=int, default=64, help="samples per Aer layer measurement")
    parser.add_argument("--aer-images", type=int, default=4, help="test images evaluated through Aer (extrapolated)")
    parser.add_argument("--layers", action="store_true", help="also a two-layer 6-qubit circuit")
    parser.add_argument("--quick", action="store_true", help="fewer repeats and samples (a smoke run)")
    parser.add_argument("--resilience", action="store_true", help="also Runtime's resilience levels, natively")
    parser.add_argument("--resilience-only", action="store_true", help="only the resilience levels (part 4)")
    args = parser.parse_args()
    if args.quick:
        args.repeats, args.aer_samples, args.aer_images = 1, 8, 1
    warnings.simplefilter("ignore")  # fake devices' deprecation notes
    print(f"# {' '.join(shlex.quote(a) for a in sys.argv)}")
    print(f"# {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, python {platform.python_version()}")
    if args.resilience_only:
        print_resilience(args.device, args)
        return
    circuits = [(6, 1), (3, 1)] + ([(6, 2)] if args.layers else [])
    print(f"\n| circuit on {args.device} | native fwd b64 | native fwd b1024 | native fwd+bwd b64 | "
          "native fwd+bwd b1024 | Aer exact fwd | Aer 4096 shots fwd | native / Aer exact (fwd, b1024) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for n, layers in circuits:
        r = layer_rates(args.device, n, layers, args)
        print(f"| qrkt {n}q × {layers} | {r['native fwd b64']:,.0f} | {r['native fwd b1024']:,.0f} | "
              f"{r['native fwd+bwd b64']:,.0f} | {r['native fwd+bwd b1024']:,.0f} | {r['aer exact fwd']:,.1f} | "
              f"{r['aer 4096 fwd']:,.1f} | {r['native fwd b1024'] / r['aer exact fwd']:,.0f}× |")
    exact_step, noisy_step = training_step_seconds(args.device, args)
    print(f"\ndigits ViT training step, batch 32: exact {exact_step * 1e3:.1f} ms, through {args.device}'s noise "
          f"{noisy_step * 1e3:.1f} ms ({noisy_step / exact_step:.1f}x)")
    native, aer, images = test_set_seconds(args.device, args)
    print(f"\nwhole digits test set ({images} images) on {args.device}, 4096 shots: native noisy {native:.1f} s, "
          f"Aer {aer:.0f} s (extrapolated from {args.aer_images} images), ratio {aer / native:,.0f}×")
    if args.resilience:
        print_resilience(args.device, args)


if __name__ == "__main__":
    main()
