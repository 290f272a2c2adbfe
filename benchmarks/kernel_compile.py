"""CPU-seconds of the numba kernel's first call (it compiles), in fresh processes with an empty numba cache.

Each tree (a directory holding a ``qrkt_qiskit`` package, e.g. ``git archive main qrkt_qiskit |
tar -x -C /tmp/main``) is timed in turn, round after round, so a loaded machine slows all
alike: a child process with ``PYTHONPATH=tree`` and ``NUMBA_CACHE_DIR`` an empty directory
compiles ``qrkt`` (6 qubits, 2 layers) with ``method="kernel"`` (or an older tree's
``compile(strategy="statevector")``, which ran the kernel on the CPU) and times, as CPU time of the
process (``time.process_time``), its first forward+backward (the compile) and its second.

    python benchmarks/kernel_compile.py /tmp/main . --rounds 2 --dtype float32
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

CHILD = """
import json, sys, time
import torch
import qrkt_qiskit
torch.set_num_threads(1)
dtype = getattr(torch, sys.argv[1])
ansatz = qrkt_qiskit.make_ansatz("qrkt", 6, 2)
if hasattr(qrkt_qiskit, "compile_ansatz"):
    prog = qrkt_qiskit.compile_ansatz(ansatz, dtype, method="kernel")
else:  # before the one front door (issue 38): the kernel ran on the CPU by default
    prog = qrkt_qiskit.compile(ansatz, dtype, strategy="statevector")
x = torch.rand(8, ansatz.n_inputs, dtype=dtype, requires_grad=True)
w = torch.rand(ansatz.n_weights, dtype=dtype, requires_grad=True)
seconds = []
for _ in range(2):
    start = time.process_time()
    prog(x, w).sum().backward()
    seconds.append(time.process_time() - start)
print(json.dumps(seconds))
"""


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("trees", nargs="+", help="directories that hold a qrkt_qiskit package")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    args = p.parse_args()
    print(f"load average at start {', '.join(f'{v:.2f}' for v in os.getloadavg())}\n")
    print("| round | tree | first call (CPU s) | second call (CPU s) |\n|---:|---|---:|---:|")
    for r in range(1, args.rounds + 1):
        for tree in args.trees:
            with tempfile.TemporaryDirectory() as cache:
                env = {**os.environ, "PYTHONPATH": os.path.abspath(tree), "NUMBA_CACHE_DIR": cache,
                       "OMP_NUM_THREADS": "1"}
                out = subprocess.run([sys.executable, "-c", CHILD, args.dtype], env=env, check=True,
                                     capture_output=True, text=True).stdout
            first, second = json.loads(out.strip().splitlines()[-1])
            print(f"| {r} | {tree} | {first:.1f} | {second:.4f} |", flush=True)
    print(f"\nload average at the end {', '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
