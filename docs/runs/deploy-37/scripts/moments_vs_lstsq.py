"""Moment matching against least squares for the calibration's device->exact map, at finite shots (issue 37 item 3)."""
import time, torch
from torch import nn
from sklearn.datasets import load_digits
import qrkt_qiskit.calibration as C
from qrkt_qiskit.layers import QuantumLayer, to_backend

def lstsq(device, exact):
    device, exact = device.reshape(-1, device.shape[-1]).double(), exact.reshape(-1, exact.shape[-1]).double()
    dc, ec = device - device.mean(0), exact - exact.mean(0)
    slope = (dc * ec).mean(0) / (dc * dc).mean(0).clamp_min(1e-18)
    return slope, exact.mean(0) - slope * device.mean(0)
moments = C._matching_moments
torch.manual_seed(0)
d = load_digits(); x = torch.tensor(d.data, dtype=torch.float32) / 16; y = torch.tensor(d.target)
xtr, ytr, xte, yte = x[:1200], y[:1200], x[1437:], y[1437:]
model = nn.Sequential(nn.Linear(64, 6), QuantumLayer(6), nn.Linear(6, 6), QuantumLayer(6), nn.Linear(6, 10))
opt = torch.optim.Adam(model.parameters(), lr=0.05)
for step in range(150):
    loss = nn.functional.cross_entropy(model(xtr), ytr); opt.zero_grad(); loss.backward(); opt.step()
model.eval()
acc = lambda: (model(xte).argmax(1) == yte).float().mean().item()
with torch.no_grad():
    print(f"exact {acc():.3f}")
    for device in ("fake-lagos", "fake-manila"):
        for shots in (64, 256, 4096):
            to_backend(model, device, shots=shots, seed=1)
            C.remove_calibration(model)
            base = sum(acc() for _ in range(3)) / 3
            row = [f"{device} shots={shots} uncalibrated {base:.3f}"]
            for k in (32, 128):
                for name, fn in (("moments", moments), ("lstsq", lstsq)):
                    C._matching_moments = fn
                    accs, slopes = [], []
                    for rep in range(3):
                        idx = torch.randperm(1200, generator=torch.Generator().manual_seed(rep))[:k]
                        cal = C.fit_calibration(model, xtr[idx])
                        slopes.append(torch.cat([m.scale.flatten() for m in cal.maps.values()]))
                        cal.apply(model); accs.append(acc()); C.remove_calibration(model)
                    row.append(f"K={k} {name} {sum(accs)/3:.3f} (mean scale {torch.stack(slopes).mean():.3f})")
            C._matching_moments = moments
            print("; ".join(row), flush=True)
    # reference: exact device values (no shot noise)
    for device in ("fake-lagos", "fake-manila"):
        to_backend(model, device, shots=None)
        cal = C.fit_calibration(model, xtr[:128])
        print(device, "exact-values fit, mean scale", f"{torch.cat([m.scale.flatten() for m in cal.maps.values()]).mean():.3f}", flush=True)
