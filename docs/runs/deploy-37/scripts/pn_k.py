"""The post-norm model one image at a time: K images' statistics for K = 32, 128, 512, on the exact engine and two devices."""
import sys, torch
from pathlib import Path
from qrkt_qiskit.calibration import fit_calibration, remove_calibration
from qrkt_qiskit.layers import to_backend
from qrkt_qiskit.training import evaluate, load_model
from qrkt_qiskit.training.runs import load_data
run = Path(sys.argv[1])
config, model = load_model(run, "best")
data = load_data(config, run)
xtr, _ = data.split("train"); xte, yte = data.split("test")
order = torch.randperm(len(xtr), generator=torch.Generator().manual_seed(0))
for device, shots in (("native", None), ("fake-lagos", None), ("fake-kyiv", 4096)):
    to_backend(model, device, **({} if device == "native" else dict(shots=shots, seed=0, simulator="native")))
    accs = [evaluate(model, xte, yte, n_classes=data.n_classes, batch_size=len(yte))["accuracy"]]
    for k in (32, 128, 512):
        with torch.no_grad():
            fit_calibration(model, xtr[order[:k]]).apply(model)
        accs.append(evaluate(model, xte, yte, n_classes=data.n_classes, batch_size=len(yte))["accuracy"])
        remove_calibration(model)
    print(f"| {device} | {'exact' if shots is None else shots} | " + " | ".join(f"{100 * a:.1f}" for a in accs) + " |", flush=True)
