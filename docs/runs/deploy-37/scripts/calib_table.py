"""Issue 37 item 3: a trained digits run on the development devices, one image at a time, with and without calibration.

For each device x noise scale x shots x resilience level: the test accuracy without calibration
(a post-norm model: with the whole test set's batch statistics, which one image at a time
does not have), and with a calibration fitted on K = 32 and 128 training images (the first K
of the permutation `qrkt calibrate --sample-seed 0` draws) on that same setting. A calibrated
model maps each sample on its own, so a batch evaluation equals one image at a time
(tests/test_calibration.py asserts it; checked again here on the first setting at batch size 1).

usage: python calib_table.py RUN_DIR OUT.csv [DEVICE ...]
"""
import csv, sys, time, warnings
from pathlib import Path
import torch
from qrkt_qiskit.calibration import fit_calibration, remove_calibration
from qrkt_qiskit.layers import to_backend
from qrkt_qiskit.training import evaluate, load_model
from qrkt_qiskit.training.runs import load_data

run, out = Path(sys.argv[1]), Path(sys.argv[2])
devices = sys.argv[3:] or ["fake-nairobi", "fake-lagos", "fake-manila", "fake-brisbane", "fake-kyiv", "fake-fez"]
config, model = load_model(run, "best")
data = load_data(config, run)
xtr, _ = data.split("train")
xte, yte = data.split("test")
order = torch.randperm(len(xtr), generator=torch.Generator().manual_seed(0))
import os
N_REF = int(os.environ.get("REFERENCE", "0"))  # qrkt calibrate --reference N: training images on the exact engine
reference = xtr[torch.randperm(len(xtr), generator=torch.Generator().manual_seed(1))[:N_REF]] if N_REF else None
done = set()
if out.exists():
    done = {(r["device"], r["noise_scale"], r["shots"], r["resilience_level"], r["calibration"]) for r in csv.DictReader(open(out))}
fields = ["run", "device", "noise_scale", "shots", "resilience_level", "calibration", "accuracy", "seconds"]
f = open(out, "a", newline="")
w = csv.DictWriter(f, fields)
if not done:
    w.writeheader()
remove_calibration(model)
acc = lambda bs=len(yte): evaluate(model, xte, yte, n_classes=data.n_classes, batch_size=bs)["accuracy"]
print("exact", acc(), flush=True)
first = True
for device in devices:
    try:
        to_backend(model, device, shots=None, simulator="native")
    except ValueError as exc:  # fake-manila has 5 qubits: the digits model's 6-qubit circuits do not fit
        print(device, exc, flush=True)
        continue
    for scale in (1.0, 2.0):
        for shots in (None, 4096):
            for level in (0, 1):
                key = lambda cal: (device, str(scale), "exact" if shots is None else str(shots), str(level), cal)
                t = time.perf_counter()
                to_backend(model, device, shots=shots, noise_scale=scale, resilience_level=level, seed=0, simulator="native")
                for cal, k in (("none", None), ("k32", 32), ("k128", 128)):
                    if key(cal) in done:
                        continue
                    t = time.perf_counter()
                    remove_calibration(model)
                    if k is not None:
                        with torch.no_grad():
                            fit_calibration(model, xtr[order[:k]], indices=order[:k].tolist(), reference=reference).apply(model)
                    a = acc()
                    if first and k is not None and shots is None and reference is None:  # one image at a time: the same accuracy
                        a1 = acc(1)
                        print(f"check: batch {a:.4f} vs one at a time {a1:.4f}", flush=True)
                        assert a1 == a
                        first = False
                    w.writerow(dict(zip(fields, [run.name, *key(cal), f"{a:.4f}", f"{time.perf_counter() - t:.1f}"])))
                    f.flush()
                    print(run.name, *key(cal), f"{a:.4f}", f"{time.perf_counter() - t:.1f}s", flush=True)
                remove_calibration(model)
