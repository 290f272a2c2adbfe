"""The main job on bundled data: a quantum RK4-enhanced ViT, its classical twin, and its noise-aware twin on digits.

Trains the quantum and the classical model with the same recipe on scikit-learn's 8×8
digits (no download) and prints the thesis-style table. Then the question a user of IBM
hardware asks: the trained quantum weights on a noisy fake IBM device (its noise model, ISA
circuits, readout error, 4096 shots), over the whole test set, in the native noisy engine —
beside a third model, trained with the same recipe *through* the device's noise
(``--noise``). Both are checked on a few random test images against Aer, the independent
simulator.

    python examples/vit_demo.py [--epochs 30] [--device-backend fake-nairobi] [--aer-images 4] [--threads 1]

On a machine other processes share, use one thread (``--threads 1`` or ``QRKT_THREADS=1``, as
for ``qrkt``): with torch's default of one per core, its epochs took 10x longer under load.
"""

import argparse
import os
import shutil
import sys
import warnings
from pathlib import Path

import torch

from qrkt_qiskit.noise_study import noise_study
from qrkt_qiskit.training import TrainConfig, load_model, results_table, train
from qrkt_qiskit.training.runs import load_data


MARK = ".qrkt-demo"  # written into the runs folder, so that only a previous demo is ever deleted


def _replace_previous_demo(runs: Path) -> None:
    if runs.exists():
        if not (runs / MARK).exists():
            raise SystemExit(f"{runs} exists and holds no mark of this demo (older demos left none), so it is not "
                             "deleted; move it away or pass --runs DIR")
        shutil.rmtree(runs)
    runs.mkdir(parents=True)
    (runs / MARK).write_text("written by examples/vit_demo.py; the next demo run replaces this folder\n")


def main() -> None:
    try:
        _demo()
    except KeyboardInterrupt:  # the demo starts over rather than resuming: say so, not train's --resume advice
        print(f"\ndemo interrupted; run it again (make demo, or {' '.join(['python', *sys.argv])}) to start over",
              file=sys.stderr)
        raise SystemExit(130) from None


def _demo() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--runs", type=Path, default=Path("runs/demo"),
                        help="where the runs go; a previous demo there is replaced, anything else is refused")
    parser.add_argument("--device-backend", default="fake-nairobi", help="a fake-<device> profile of ≥ 6 qubits")
    parser.add_argument("--aer-images", type=int, default=4, help="random test images also run through Aer")
    parser.add_argument("--threads", type=int, default=int(os.environ.get("QRKT_THREADS", "0")),
                        help="CPU threads torch may use (default: $QRKT_THREADS, else 0: torch's own choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch uses {torch.get_num_threads()} CPU thread(s) (--threads or QRKT_THREADS to change it)")
    # A few images rarely hold all ten classes; ROC-AUC then warns for the absent ones.
    warnings.filterwarnings("ignore", message="No positive samples in targets")
    _replace_previous_demo(args.runs)

    recipe = dict(dataset="digits", ode="rk4_enh", recipe="digits", epochs=args.epochs)  # batch 32, peak lr 1e-2
    arms = {"quantum": TrainConfig(quantum=True, **recipe), "classical": TrainConfig(quantum=False, **recipe),
            "noise-aware": TrainConfig(quantum=True, noise=args.device_backend, **recipe)}
    for name in ("quantum", "classical"):
        print(f"training the {name} rk4_enh ViT on digits for {args.epochs} epochs ...")
        train(arms[name], args.runs / name)
    print("\n" + results_table([args.runs / "quantum", args.runs / "classical"]))
    print(f"loss and ROC-AUC curves: {args.runs / 'quantum' / 'curves.png'}, {args.runs / 'classical' / 'curves.png'}")

    print(f"\ntraining the noise-aware quantum twin through {args.device_backend}'s noise (same recipe) ...")
    train(arms["noise-aware"], args.runs / "noise-aware")

    lines = [f"| model | exact | {args.device_backend} (4096 shots) | max |native − Aer| |", "|---|---:|---:|---:|"]
    for name in ("quantum", "noise-aware"):
        config, model = load_model(args.runs / name)
        x, y = load_data(config).test
        rows = noise_study(model, x, y, backends=[args.device_backend], shots=[4096], aer_check=args.aer_images,
                           out_dir=args.runs / name / "noise-study")
        exact, device = rows
        check = "—" if device.aer_check is None else f"{device.aer_check:.1e}"
        lines.append(f"| {name} | {exact.metric:.1%} | {device.metric:.1%} ({device.seconds:.1f} s) | {check} |")
    print(f"\nthe same test set ({len(y)} images), exact and on {args.device_backend} "
          f"(native noisy engine; Aer on {args.aer_images} random images as the check):")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
