"""Every refusal of the engine is one sentence naming the culprit, raised before any work."""

import pytest
import torch
from qiskit.circuit import Gate, Parameter, QuantumCircuit

from qrkt_qiskit import Ansatz, UnsupportedCircuitError, compile_ansatz, make_ansatz
from qrkt_qiskit.engine import DeviceNoise


def ansatz_with(build, n=2):
    qc = QuantumCircuit(n, n)
    x, w = Parameter("x"), Parameter("w")
    qc.ry(x, 0)
    qc.rx(w, 1)
    build(qc, x, w)
    return Ansatz(qc, [x], [w])


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda qc, x, w: qc.append(Gate("oracle", 1, []), [1]),
         r"gate 'oracle' on qubits \[1\] is not supported: it has no matrix and no definition"),
        (lambda qc, x, w: qc.measure(0, 0),
         r"the circuit contains a measurement \(on qubits \[0\]\); .* remove it \(QuantumCircuit.remove_final"),
        (lambda qc, x, w: qc.reset(1), r"the circuit contains a reset \(on qubits \[1\]\)"),
    ],
)
def test_unsupported_circuits_are_refused_at_compile_time(build, message):
    with pytest.raises(UnsupportedCircuitError, match=message):
        compile_ansatz(ansatz_with(build))


def test_conditional_blocks_are_refused():
    qc = QuantumCircuit(1, 1)
    with qc.if_test((qc.clbits[0], 1)):
        qc.x(0)
    with pytest.raises(UnsupportedCircuitError, match=r"classically conditioned block \('if_else' on qubits \[0\]\)"):
        compile_ansatz(Ansatz(qc, [], []))


def test_too_wide_a_statevector_is_refused_before_any_work():
    qc = QuantumCircuit(50)
    qc.h(range(50))
    qc.cx(range(49), range(1, 50))
    qc.t(range(50))  # non-Clifford after the entangler: only a statevector can simulate this
    with pytest.raises(UnsupportedCircuitError,
                       match=r"a 50-qubit statevector with its 50 observable\(s\) needs [\d.]+ PiB \(torch.complex64\), "
                             r"more than the .* of memory on cpu; use fewer qubits per circuit"):
        compile_ansatz(Ansatz(qc, [], []))


def test_the_memory_check_counts_the_observable_tables_and_the_batch(monkeypatch):
    import time

    from qrkt_qiskit import make_ansatz
    from qrkt_qiskit.engine import statevector

    # 27 qubits, 2 layers: a 1 GiB state passes a state-only check, but the 27 Z tables need ~87 GiB
    start = time.perf_counter()
    with pytest.raises(UnsupportedCircuitError, match=r"a 27-qubit statevector with its 27 observable\(s\) needs "
                                                      r"[\d.]+ GiB \(torch.complex64\), more than the"):
        compile_ansatz(make_ansatz("qrkt", 27, 2))
    assert time.perf_counter() - start < 5  # refused before allocating anything
    monkeypatch.setattr(statevector, "_memory", lambda device: 64 * 2**20)
    program = compile_ansatz(make_ansatz("qrkt", 16, 2))
    program(torch.rand(2, 16), torch.rand(32))
    with pytest.raises(UnsupportedCircuitError, match=r"^a batch of 100 16-qubit statevectors needs 150.0 MiB "
                                                      r"\(torch.complex64\), more than the 64.0 MiB of memory on cpu; "
                                                      r"evaluate at most 42 samples per call$"):
        program(torch.rand(100, 16), torch.rand(32))


def test_compile_rejects_what_is_not_an_ansatz_or_a_real_dtype():
    with pytest.raises(TypeError, match=r"compile_ansatz expects an Ansatz \(see qrkt_qiskit.make_ansatz\), got QuantumCircuit"):
        compile_ansatz(QuantumCircuit(1))
    with pytest.raises(ValueError, match=r"dtype must be torch.float32 or torch.float64, got torch.float16"):
        compile_ansatz(make_ansatz("qrkt", 2), dtype=torch.float16)


def test_compile_names_options_that_do_not_go_together():
    ansatz = make_ansatz("qrkt", 2)
    with pytest.raises(ValueError, match=r"^shots= samples a device's measurements, so it needs noise= \(DeviceNoise\(\) "
                                         r"for ideal gates\)$"):
        compile_ansatz(ansatz, shots=100)
    with pytest.raises(ValueError, match=r"^method 'sweep' simulates no noise; a circuit compiled with noise= runs as "
                                         r"method='density-matrix' \(or 'auto'\)$"):
        compile_ansatz(ansatz, method="sweep", noise=DeviceNoise())
    with pytest.raises(ValueError, match=r"^block_qubits must be an integer from 0 to 10, got 11$"):
        compile_ansatz(ansatz, block_qubits=11)


@pytest.fixture
def prog():
    return compile_ansatz(make_ansatz("qrkt", 3, layers=2))


def test_call_errors_name_the_bad_value(prog):
    x, w = torch.zeros(4, 3), torch.zeros(6)
    with pytest.raises(ValueError, match=r"inputs must have shape \(\.\.\., 3\) for this circuit's 3 inputs, got \(4, 5\)"):
        prog(torch.zeros(4, 5), w)
    with pytest.raises(ValueError, match=r"^weight has shape \(3,\), but this circuit has 6 weights$"):
        prog(x, torch.zeros(3))
    with pytest.raises(ValueError, match="inputs contain NaN or infinite values; every angle must be finite"):
        prog(torch.full((4, 3), float("nan")), w)
    with pytest.raises(ValueError, match="weights contain NaN or infinite values"):
        prog(x, torch.full((6,), float("inf")))
    with pytest.raises(TypeError, match=r"inputs have dtype torch.float64 but the circuit was compiled for torch.float32"):
        prog(x.double(), w)
    with pytest.raises(TypeError, match="inputs must be a torch.Tensor, got list"):
        prog([[0.0, 0.0, 0.0]], w)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_device_mismatch_is_named(prog):
    with pytest.raises(ValueError, match="inputs are on cuda:0 but the circuit was compiled for cpu"):
        prog(torch.zeros(4, 3, device="cuda"), torch.zeros(6, device="cuda"))


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
@pytest.mark.parametrize("where", [0, 7, -1])
def test_all_finite_finds_one_bad_value_anywhere(bad, where):
    from qrkt_qiskit.engine.validation import all_finite

    x = torch.randn(5, 4) * 1e30  # huge but finite: no sum that overflows is involved
    assert all_finite(x) and all_finite(torch.empty(0, 4))
    x.view(-1)[where] = bad
    assert not all_finite(x)
