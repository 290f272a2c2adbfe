"""The circuits the engine benchmarks run, built with any version of the package (``pkg``: its module).

``qrkt`` (one layer) takes the closed form; ``qrkt-2`` and ``ring-ry`` take the statevector
path, ``ring-ry`` being issue 16's: per qubit RX(x_j), H, RZ(w_j); a CNOT ring; RY(w_{n+j})
per qubit; ``Z_j`` read out. ``reupload`` (issue 34's) is a hardware-efficient circuit that
reads its inputs again after every entangler, the commonest shape in QML: three layers of
per qubit RY(x_j), RZ(w), RY(w), then a CZ ring; ``Z_j`` read out.
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


def reupload(pkg, n: int, layers: int = 3):
    x, w = ParameterVector("x", n), ParameterVector("w", 2 * n * layers)
    qc = QuantumCircuit(n, name="reupload")
    for layer in range(layers):
        for j in range(n):
            qc.ry(x[j], j)
            qc.rz(w[2 * (layer * n + j)], j)
            qc.ry(w[2 * (layer * n + j) + 1], j)
        for j in range(n if n > 2 else n - 1):
            qc.cz(j, (j + 1) % n)
    return pkg.Ansatz(qc, x, w)


CIRCUITS = {
    "qrkt": lambda pkg, n: pkg.make_ansatz("qrkt", n, layers=1),
    "qrkt-2": lambda pkg, n: pkg.make_ansatz("qrkt", n, layers=2),
    "ring-ry": ring_ry,
    "reupload": reupload,
}
