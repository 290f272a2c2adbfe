"""The main job on bundled data: a quantum RK4-enhanced ViT and its classical twin on digits.

Trains both with the same recipe on scikit-learn's 8×8 digits (no download), prints the
thesis-style table, leaves loss/AUC curves in each run directory, then runs the trained
quantum model's weights on a noisy fake IBM device (Aer with the device's noise model,
ISA-transpiled, sampled) beside the exact native engine, on the same test images.

    python examples/vit_demo.py [--epochs 30] [--device-backend fake-nairobi] [--device-images 30]
"""

import argparse
import warnings
import shutil
import time
from pathlib import Path

from qrkt_qiskit.data import load_images
from qrkt_qiskit.layers import to_backend
from qrkt_qiskit.training import TrainConfig, evaluate, load_model, results_table, train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--runs", type=Path, default=Path("runs/demo"), help="replaced on every demo run")
    parser.add_argument("--device-backend", default="fake-nairobi", help="a backend profile of ≥ 6 qubits")
    parser.add_argument("--device-images", type=int, default=30, help="test images run on the fake device")
    args = parser.parse_args()
    # A few device images rarely hold all ten classes; ROC-AUC then warns for the absent ones.
    warnings.filterwarnings("ignore", message="No positive samples in targets")
    shutil.rmtree(args.runs, ignore_errors=True)

    runs = []
    for quantum in (True, False):
        config = TrainConfig(dataset="digits", ode="rk4_enh", quantum=quantum, epochs=args.epochs, batch_size=32, lr=1e-2)
        run_dir = args.runs / ("quantum" if quantum else "classical")
        print(f"training the {'quantum' if quantum else 'classical'} rk4_enh ViT on digits for {args.epochs} epochs ...")
        train(config, run_dir)
        runs.append(run_dir)
    print("\n" + results_table(runs))
    print(f"\nloss and ROC-AUC curves: {runs[0] / 'curves.png'}, {runs[1] / 'curves.png'}")

    config, model = load_model(runs[0])
    x, y = load_images("digits", seed=config.seed).test
    x, y = x[: args.device_images], y[: args.device_images]
    print(f"\nthe same trained quantum weights on {len(y)} test images:")
    for backend in ("native", args.device_backend):
        to_backend(model, backend)
        start = time.perf_counter()
        m = evaluate(model, x, y, n_classes=10, progress=True, desc=backend)
        print(f"  {backend:>14}: accuracy {m['accuracy']:.1%}  loss {m['loss']:.4f}  ({time.perf_counter() - start:.1f} s)")


if __name__ == "__main__":
    main()
