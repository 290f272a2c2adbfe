"""docs/noise_aware.png from the committed records: accuracy exact, on fake-nairobi and on fake-lagos (exact values).

    .venv/bin/python docs/runs/noise_aware_plot.py
"""

import csv
from pathlib import Path

from matplotlib.figure import Figure

HERE = Path(__file__).parent
ARMS = [("digits s0", "digits-exact-s0", "digits-nairobi-s0"), ("digits s1", "digits-exact-s1", "digits-nairobi-s1"),
        ("digits s2", "digits-exact-s2", "digits-nairobi-s2"),
        ("digits s0\n--post-norm", "digits-exact-postnorm-s0", "digits-nairobi-postnorm-s0"),
        ("MNIST\n5 epochs", "mnist-exact", "mnist-nairobi")]
WHERE = [("native", "exact (no noise)"), ("fake-nairobi", "fake-nairobi"), ("fake-lagos", "fake-lagos")]


def accuracy(run: str, backend: str) -> float:
    rows = csv.DictReader(open(HERE / f"noise-{run}" / "noise_study.csv"))
    return next(float(r["accuracy"]) for r in rows if r["backend"] == backend and r["shots"] == "")


fig = Figure(figsize=(11, 4.6), layout="constrained")
ax = fig.add_subplot()
width = 0.13
for a, (label, exact_run, aware_run) in enumerate(ARMS):
    for t, (run, hatch) in enumerate(((exact_run, ""), (aware_run, "//"))):
        for b, (backend, name) in enumerate(WHERE):
            x = a + (t * 3 + b - 2.5) * width
            ax.bar(x, accuracy(run, backend), width, color=f"C{b}", hatch=hatch, edgecolor="white",
                   label=f"{name}, {'trained exactly' if t == 0 else 'trained through fake-nairobi'}" if a == 0 else None)
ax.set_xticks(range(len(ARMS)), [label for label, *_ in ARMS])
ax.set_ylabel("test accuracy (whole test set, exact values)")
ax.set_ylim(0, 1)
ax.grid(axis="y", alpha=0.3)
fig.legend(fontsize=8, ncols=3, loc="outside lower center")
ax.set_title("exact-trained (plain) vs noise-aware (hatched) quantum rk4_enh ViTs, native noisy engine")
fig.savefig(HERE.parent / "noise_aware.png", dpi=110)
