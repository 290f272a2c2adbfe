"""The GAN arms' table (issue 19, item 5) from the records `gan_arms.sh record` copies into ``docs/runs/<name>/<arm>/``.

    python docs/runs/gan_table.py docs/runs/gan-arms-mnist

One row per arm: FID and the classifier score of the generator ``fid.json`` scored (the last
EMA generator, or one epoch's snapshot with ``qrkt gan fid --epoch``), the FID curve's points
(``fid_curve.csv``), parameters and qubits (from ``config.json``), and the critic / generator
steps and train time at the scored epoch (``metrics.csv``).
"""

import csv
import json
import sys
from pathlib import Path

from qrkt_qiskit.training.gan_report import gan_summary
from qrkt_qiskit.training.gan import GANTrainConfig

ARMS = ("transgan", "transgan-rk4_enh", "qrkt-gan")

root = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent / "gan-arms-mnist")
print("| arm | epoch | FID (gen / real) | confident ≥ 0.9 | classes (0–9) | FID curve (epoch: FID) "
      "| generator + critic parameters | qubits (G + D) | critic / generator steps | train time (h) |")
print("|---|---:|---:|---:|---|---|---:|---:|---:|---:|")
for arm in ARMS:
    folder = root / arm
    if not (folder / "metrics.csv").is_file():
        continue
    summary = gan_summary(GANTrainConfig.from_dict(json.loads((folder / "config.json").read_text())).model)
    history = list(csv.DictReader((folder / "metrics.csv").open()))
    fid = json.loads((folder / "fid.json").read_text()) if (folder / "fid.json").is_file() else {}
    row = next((r for r in history if int(r["epoch"]) == fid.get("epoch")), history[-1])  # older fid.json: the last
    curve = list(csv.DictReader((folder / "fid_curve.csv").open())) if (folder / "fid_curve.csv").is_file() else []
    score = (f"{fid['fid']:.1f} ({fid['generated_images']:,} / {fid['real_images']:,})" if fid else "–")
    confident = f"{100 * fid['confident_fraction']:.1f} %" if "confident_fraction" in fid else "–"
    classes = " ".join(str(k) for k in fid.get("class_histogram", [])) or "–"
    points = ", ".join(f"{r['epoch']}: {float(r['fid']):.0f}" for r in curve)
    points = f"{points} ({curve[0]['generated_images']} / {curve[0]['real_images']})" if curve else "–"
    qubits = (f"{summary['generator_qubits']:,} + {summary['critic_qubits']:,}" if "generator_qubits" in summary else "–")
    print(f"| {arm} | {row['epoch']} | {score} | {confident} | {classes} | {points} | "
          f"{summary['generator_parameters']:,} + {summary['critic_parameters']:,} | {qubits} | "
          f"{int(row['critic_steps']):,} / {int(row['generator_steps']):,} | {float(row['train_seconds']) / 3600:.2f} |")
