"""Train a small hybrid classifier on scikit-learn's digits, then run its weights on Qiskit.

Linear(64 → 6) → QuantumLayer(6 qubits, "qrkt", 2 layers) → Linear(6 → 10), trained with the
native engine; the same trained model is then switched to the ``estimator`` backend
(EstimatorQNN on Qiskit's StatevectorEstimator) and evaluated on a handful of test images.

    python examples/digits_demo.py [--epochs 30] [--qubits 6] [--estimator-images 20]
"""

import argparse
import time

import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

from qrkt_qiskit.layers import QuantumLayer, to_backend


def data(seed: int):
    digits = load_digits()
    x = torch.tensor(digits.data, dtype=torch.float32) / 16.0
    y = torch.tensor(digits.target)
    return train_test_split(x, y, test_size=0.2, random_state=seed, stratify=y)


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return (model(x).argmax(-1) == y).float().mean().item()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--qubits", type=int, default=6)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--estimator-images", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    x_train, x_test, y_train, y_test = data(args.seed)
    model = nn.Sequential(nn.Linear(64, args.qubits), QuantumLayer(args.qubits, "qrkt", args.layers),
                          nn.Linear(args.qubits, 10))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x_train, y_train), batch_size=64,
                                         shuffle=True)
    start = time.perf_counter()
    for epoch in range(args.epochs):
        for xb, yb in loader:
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(xb), yb).backward()
            optimizer.step()
        if (epoch + 1) % 10 == 0:
            print(f"epoch {epoch + 1:3d}  test accuracy {accuracy(model, x_test, y_test):.3f}")
    print(f"trained {args.epochs} epochs on {len(x_train)} digits in {time.perf_counter() - start:.1f} s "
          f"with the native engine")

    k = args.estimator_images
    native_all = accuracy(model, x_test, y_test)
    with torch.no_grad():
        native_logits = model(x_test[:k])
    to_backend(model, "estimator")
    start = time.perf_counter()
    with torch.no_grad():
        estimator_logits = model(x_test[:k])
    seconds = time.perf_counter() - start
    native_k = (native_logits.argmax(-1) == y_test[:k]).float().mean().item()
    estimator_k = (estimator_logits.argmax(-1) == y_test[:k]).float().mean().item()
    print()
    print("| backend   | test images | accuracy | seconds |")
    print("|-----------|-------------|----------|---------|")
    print(f"| native    | {len(x_test):11d} | {native_all:8.3f} |         |")
    print(f"| native    | {k:11d} | {native_k:8.3f} |         |")
    print(f"| estimator | {k:11d} | {estimator_k:8.3f} | {seconds:7.2f} |")
    print(f"\nsame trained weights; max |logit difference| native vs EstimatorQNN: "
          f"{(native_logits - estimator_logits).abs().max().item():.2e}")


if __name__ == "__main__":
    main()
