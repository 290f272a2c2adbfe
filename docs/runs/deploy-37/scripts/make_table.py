"""The markdown tables of /work/results-37-calib.md from calib_table.py's CSVs."""
import csv, sys
from collections import defaultdict

for path in sys.argv[1:]:
    rows = list(csv.DictReader(open(path)))
    cell = {(r["device"], r["noise_scale"], r["shots"], r["resilience_level"], r["calibration"]): float(r["accuracy"]) * 100
            for r in rows}
    combos = [("exact", "0"), ("exact", "1"), ("4096", "0"), ("4096", "1")]
    devices = list(dict.fromkeys(r["device"] for r in rows))
    print(f"\n{rows[0]['run']}: test accuracy %, no calibration → K = 32 / K = 128\n")
    print("| device | noise scale | " + " | ".join(f"{s}, level {l}" for s, l in combos) + " |")
    print("|---|---:|" + "---:|" * len(combos))
    worst = defaultdict(lambda: 1e9)
    for d in devices:
        for ns in ("1.0", "2.0"):
            cells = []
            for s, l in combos:
                v = [cell.get((d, ns, s, l, c)) for c in ("none", "k32", "k128")]
                if None in v:
                    cells.append("–")
                    continue
                for c, x in zip(("none", "k32", "k128"), v):
                    worst[ns, c] = min(worst[ns, c], x)
                cells.append(f"{v[0]:.1f} → {v[1]:.1f} / {v[2]:.1f}")
            print(f"| {d} | {float(ns):g} | " + " | ".join(cells) + " |")
    print()
    for ns in ("1.0", "2.0"):
        print(f"worst over devices and settings at noise scale {float(ns):g}: none {worst[ns, 'none']:.1f}, K=32 {worst[ns, 'k32']:.1f}, K=128 {worst[ns, 'k128']:.1f}")
