"""The shipped ansätze are the circuits SPEC §1.1 describes; `Ansatz` validates its parts."""

import pytest
from qiskit.circuit import Parameter, ParameterVector, QuantumCircuit
from qiskit.quantum_info import SparsePauliOp

from qrkt_qiskit import Ansatz, make_ansatz


def gates(ansatz):
    qc = ansatz.circuit
    return [(i.operation.name, tuple(qc.find_bit(q).index for q in i.qubits),
             tuple(str(p) for p in i.operation.params)) for i in qc.data]


def test_qrkt_is_ry_encoding_then_rx_rz_sharing_a_weight_then_h_and_a_cnot_ring():
    a = make_ansatz("qrkt", 3, layers=2)
    expected = [("ry", (j,), (f"x[{j}]",)) for j in range(3)]
    for layer in range(2):
        for j in range(3):
            w = f"θ[{3 * layer + j}]"
            expected += [("rx", (j,), (w,)), ("rz", (j,), (w,))]
        for j in range(3):
            expected += [("h", (j,), ()), ("cx", (j, (j + 1) % 3), ())]
    assert gates(a) == expected
    assert (a.n_inputs, a.n_weights, a.n_observables) == (3, 6, 3)


def test_qrkt_small_widths_have_one_cnot_or_none():
    two = [g[:2] for g in gates(make_ansatz("qrkt", 2)) if g[0] in ("h", "cx")]
    assert two == [("h", (0,)), ("cx", (0, 1)), ("h", (1,))]
    one = [g[0] for g in gates(make_ansatz("qrkt", 1))]
    assert one == ["ry", "rx", "rz", "h"]


def test_basic_is_rx_encoding_then_rx_weights_and_a_cnot_ring():
    a = make_ansatz("basic", 4)
    assert gates(a) == ([("rx", (j,), (f"x[{j}]",)) for j in range(4)]
                        + [("rx", (j,), (f"w[{j}]",)) for j in range(4)]
                        + [("cx", (j, (j + 1) % 4), ()) for j in range(4)])
    assert [g[0] for g in gates(make_ansatz("basic", 2))].count("cx") == 1


def test_default_observables_are_z_on_each_qubit_in_qubit_order():
    a = make_ansatz("qrkt", 3)
    assert [o.paulis[0].to_label() for o in a.observables] == ["IIZ", "IZI", "ZII"]


@pytest.mark.parametrize("args, error, message", [
    (("ghz", 3), ValueError, "unknown ansatz 'ghz'; choose one of: qrkt, qrkt-2n, qrkt-reupload, basic"),
    (("qrkt", 0), ValueError, "n_qubits must be a positive integer, got 0"),
    (("qrkt", 2.5), ValueError, "n_qubits must be a positive integer, got 2.5"),
    (("qrkt", 2, 0), ValueError, "layers must be a positive integer, got 0"),
])
def test_make_ansatz_errors(args, error, message):
    with pytest.raises(error, match=message):
        make_ansatz(*args)


def test_a_user_built_ansatz_is_accepted_and_checked():
    x, w = ParameterVector("x", 2), Parameter("w")
    qc = QuantumCircuit(2)
    qc.rx(x[0], 0)
    qc.ry(x[1], 1)
    qc.crz(w, 0, 1)
    a = Ansatz(qc, x, [w], [SparsePauliOp("XX")])
    assert (a.n_inputs, a.n_weights, a.n_observables) == (2, 1, 1)
    with pytest.raises(ValueError, match=r"circuit parameters w are neither inputs nor weights"):
        Ansatz(qc, x, [])
    with pytest.raises(ValueError, match=r"parameters w are listed both as inputs and as weights"):
        Ansatz(qc, list(x) + [w], [w])
    with pytest.raises(ValueError, match=r"parameters v do not appear in the circuit"):
        Ansatz(qc, x, [w, Parameter("v")])
    with pytest.raises(ValueError, match="observable 0 acts on 3 qubits but the circuit has 2"):
        Ansatz(qc, x, [w], [SparsePauliOp("XXX")])
    with pytest.raises(ValueError, match=r"observable 0 is not Hermitian \(it has complex coefficients\)"):
        Ansatz(qc, x, [w], [SparsePauliOp("XX", 1j)])
    with pytest.raises(TypeError, match="observable 0 must be a SparsePauliOp, got str"):
        Ansatz(qc, x, [w], ["XX"])
    with pytest.raises(TypeError, match="weights must be qiskit Parameters, got str"):
        Ansatz(qc, x, ["w"])
    with pytest.raises(TypeError, match="circuit must be a qiskit QuantumCircuit, got str"):
        Ansatz("qc", x, [w])
