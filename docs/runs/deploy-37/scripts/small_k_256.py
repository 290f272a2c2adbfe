"""How few images a calibration needs: K = 4, 8, 16 (and 32) on two devices, resilience level 0, one image at a time."""
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
for device in ("fake-lagos", "fake-kyiv"):
    for scale in (1.0,):
        for shots in (256,):
            to_backend(model, device, shots=shots, noise_scale=scale, seed=0, simulator="native")
            accs = []
            for k in (4, 8, 16, 32):
                with torch.no_grad():
                    fit_calibration(model, xtr[order[:k]]).apply(model)
                accs.append(evaluate(model, xte, yte, n_classes=data.n_classes, batch_size=len(yte))["accuracy"])
                remove_calibration(model)
            print(f"| {device} | {scale:g} | {'exact' if shots is None else shots} | " + " | ".join(f"{100 * a:.1f}" for a in accs) + " |", flush=True)
