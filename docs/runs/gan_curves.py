"""The GAN arms' FID and classifier-score curves in one figure, from the ``fid_curve.csv`` records.

    python docs/runs/gan_curves.py docs/runs/gan-arms-mnist   # -> docs/runs/gan-arms-mnist/fid_curves.png
"""

import csv
import sys
from pathlib import Path

from qrkt_qiskit.output import figure, save_figure

ARMS = (("transgan", "TransGAN"), ("transgan-rk4_enh", "TransGAN + rk4_enh"), ("qrkt-gan", "QRKT-GAN"))

root = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent / "gan-arms-mnist")
fig, (ax_fid, ax_confident) = figure(figsize=(10, 4), ncols=2)
for arm, label in ARMS:
    path = root / arm / "fid_curve.csv"
    if not path.is_file():
        continue
    rows = list(csv.DictReader(path.open()))
    steps = [int(r["generator_steps"]) for r in rows]
    ax_fid.plot(steps, [float(r["fid"]) for r in rows], marker="o", label=label)
    ax_confident.plot(steps, [100 * float(r["confident_fraction"]) for r in rows], marker="o", label=label)
ax_fid.set_ylabel(f"FID ({rows[0]['generated_images']} generated / {rows[0]['real_images']} real)")
ax_confident.set_ylabel("samples classified with confidence ≥ 0.9 (%)")
for ax in (ax_fid, ax_confident):
    ax.set_xlabel("generator steps (375 per epoch)")
    ax.grid(alpha=0.3)
    ax.legend()
save_figure(fig, root / "fid_curves.png")
print(f"wrote {root / 'fid_curves.png'}")
