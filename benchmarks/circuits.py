"""The circuits the engine benchmarks run, built with any version of the package (``pkg``: its module).

``qrkt`` (one layer) takes the closed form; ``qrkt-2`` and ``ring-ry`` take the statevector
path, ``ring-ry`` being issue 16's: per qubit RX(x_j), H, RZ(w_j); a CNOT ring; RY(w_{n+j})
per qubit; ``Z_j`` read out.
"""

from qiskit.circuit import ParameterVector, QuantumCircuit


def ring_ry(pkg, n: int):
    x, w = ParameterVector("x", n), ParameterVector("w", 2 * n)
    qc = QuantumCircuit(n, name="ring-ry")
    for j in range(n):
        qc.rx(x[j], j)
        qc.h(j)
        qc.rz(w[j], j)
    for j in range(n):
        if n > 2 or (n == 2 and j == 0):
            qc.cx(j, (j + 1) % n)
    for j in range(n):
        qc.ry(w[n + j], j)
    return pkg.Ansatz(qc, x, w)


CIRCUITS = {
    "qrkt": lambda pkg, n: pkg.make_ansatz("qrkt", n, layers=1),
    "qrkt-2": lambda pkg, n: pkg.make_ansatz("qrkt", n, layers=2),
    "ring-ry": ring_ry,
}
