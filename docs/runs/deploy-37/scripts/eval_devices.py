"""Issue 37 item 2: a trained digits run's test accuracy, one image at a time, exact and on unseen devices.

usage: python eval_devices.py RUN_DIR OUT.csv [CHECKPOINT [BATCH_SIZE]]
Each row: the run's best.pt (or last.pt) on the native exact engine, then on fake-lagos and
fake-kyiv at noise scales 1 and 2 (exact noisy values, native noisy engine, readout error
included). A model without post-norm or calibration uses no batch statistics, so batches
give each image what it gets alone (checked: batch size 1 and 1024 agree on fake-lagos).
"""
import csv, sys, time
from pathlib import Path
from qrkt_qiskit.layers import to_backend
from qrkt_qiskit.training import evaluate, load_model
from qrkt_qiskit.training.runs import load_data

run, out = Path(sys.argv[1]), Path(sys.argv[2])
checkpoint = sys.argv[3] if len(sys.argv) > 3 else "best"
batch = int(sys.argv[4]) if len(sys.argv) > 4 else 1024
config, model = load_model(run, checkpoint)
data = load_data(config, run)
x, y = data.split("test")
rows = []
for device, scale in [("exact", None), ("fake-lagos", 1.0), ("fake-lagos", 2.0), ("fake-kyiv", 1.0), ("fake-kyiv", 2.0)]:
    if device == "exact":
        to_backend(model, "native")
    else:
        to_backend(model, device, simulator="native", shots=None, noise_scale=scale)
    t = time.perf_counter()
    acc = evaluate(model, x, y, n_classes=data.n_classes, batch_size=batch)["accuracy"]
    rows.append({"run": run.name, "checkpoint": checkpoint, "device": device, "noise_scale": scale, "batch_size": batch, "accuracy": round(acc, 4),
                 "seconds": round(time.perf_counter() - t, 1)})
    print(rows[-1], flush=True)
with open(out, "w", newline="") as f:
    w = csv.DictWriter(f, list(rows[0]))
    w.writeheader()
    w.writerows(rows)
