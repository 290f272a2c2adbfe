"""The backend registry: the same weights on every backend, profiles, and every user error.

Real Qiskit primitives and fake devices throughout (FakeManilaV2-size, small shot counts):
no mocks. Runtime's `ibm` profile runs in its local testing mode on a fake device.
"""

import logging
import math
import pickle

import numpy as np
import pytest
import torch
from qiskit.primitives import StatevectorEstimator
from torch import nn

from qrkt_qiskit import backends
from qrkt_qiskit.backends import BackendJobError, BackendUnavailableError, get_profile, load_profile, profiles
from qrkt_qiskit.backends import BatchingEstimator
from qrkt_qiskit.circuits import Ansatz, make_ansatz
from qrkt_qiskit.errors import QrktError
from qrkt_qiskit.layers import QuantumLayer, QuantumLinear, to_backend


@pytest.fixture(autouse=True)
def _no_user_profiles(monkeypatch):
    """Tests see the shipped profiles only, whatever the developer's environment holds."""
    monkeypatch.delenv(backends.ENV_PATH, raising=False)


def _layer(n_qubits=3, layers=2, seed=0):
    torch.manual_seed(seed)
    return QuantumLayer(n_qubits, ansatz="qrkt", layers=layers).double()


def _inputs(n=12, n_qubits=3, seed=1):
    return torch.rand(n, n_qubits, dtype=torch.float64, generator=torch.Generator().manual_seed(seed)) * 3


def _run(layer, name, x, **overrides):
    layer.to_backend(name, **overrides)
    with torch.no_grad():
        return layer(x)


# --- same weights, same numbers ---------------------------------------------------------------

@pytest.mark.parametrize("name, overrides", [
    ("estimator", {}),
    ("aer", {}),
    # a fake device with its noise scaled to zero: ISA transpilation and observable layout are exact
    ("fake-manila", {"shots": None, "noise_scale": 0.0}),
])
def test_exact_backends_agree_with_native(name, overrides):
    layer, x = _layer(), _inputs()
    native = _run(layer, "native", x)
    assert torch.allclose(_run(layer, name, x, **overrides), native, atol=1e-6, rtol=0)


def test_aer_gradients_agree_with_native():
    layer = _layer()
    x = _inputs(4).requires_grad_()
    grads = []
    for name in ("native", "aer"):
        layer.to_backend(name)
        grads.append(torch.autograd.grad((layer(x) * torch.arange(1.0, 4.0)).sum(), [x, layer.weight]))
    for native, aer in zip(*grads):
        assert torch.allclose(native, aer.to(native.dtype), atol=1e-5)


def test_aer_shots_is_within_five_sigma_of_exact_and_not_exact():
    layer, x, shots = _layer(), _inputs(), 2000
    exact = _run(layer, "native", x)
    sampled = _run(layer, "aer-shots", x, shots=shots, seed=11)
    sigma = torch.sqrt((1 - exact**2).clamp_min(0) / shots)  # a Z expectation from `shots` samples
    assert ((sampled - exact).abs() <= 5 * sigma + 1e-9).all()
    assert (sampled - exact).abs().max() > 0  # it did sample


def test_fake_device_error_is_measured_and_shrinks_with_noise_scale():
    layer, x = _layer(), _inputs()
    exact = _run(layer, "native", x)
    errors = [(_run(layer, "fake-manila", x, shots=None, noise_scale=s, seed=3) - exact).abs().mean().item()
              for s in (2.0, 1.0, 0.5, 0.1, 0.0)]
    assert errors[1] > 1e-3, errors  # the device's own noise is visible
    assert all(a > b for a, b in zip(errors, errors[1:])), errors
    assert errors[-1] < 1e-6, errors


def test_fake_device_sampled_includes_shot_and_readout_noise():
    layer, x = _layer(), _inputs()
    exact = _run(layer, "native", x)
    a = _run(layer, "fake-manila", x, shots=256, seed=5)
    b = _run(layer, "fake-manila", x, shots=256, seed=5)
    c = _run(layer, "fake-manila", x, shots=256, seed=6)
    assert torch.equal(a, b) and not torch.equal(a, c)  # the seed decides the samples
    assert (a - exact).abs().mean() > 1e-3


@pytest.mark.parametrize("execution", ["session", "batch"])
def test_ibm_runs_in_runtime_local_testing_mode(execution):
    from qiskit_ibm_runtime import Batch, Session

    layer, x = _layer(), _inputs(8)
    exact = _run(layer, "native", x)
    profile = get_profile("ibm", device="fake-manila", execution=execution, shots=512, seed=7,
                          dynamical_decoupling="XY4", twirling=True)
    out = _run(layer, profile, x)
    assert out.shape == exact.shape and torch.isfinite(out).all()
    assert 0 < (out - exact).abs().mean() < 0.3
    opened = backends.execution._EXECUTIONS[profile]
    assert isinstance(opened.mode, {"session": Session, "batch": Batch}[execution])
    options = opened.primitive.options  # what hardware would receive
    assert options.default_shots == 512 and options.resilience_level == 1
    assert options.dynamical_decoupling.enable and options.dynamical_decoupling.sequence_type == "XY4"
    assert options.twirling.enable_gates and options.simulator.seed_simulator == 7
    backends.close_sessions()
    assert opened.mode is None
    with torch.no_grad():
        again = layer(x)  # the layer reopens its Session or Batch, and the seed holds
    assert torch.equal(again, out) and isinstance(opened.mode, (Session, Batch))
    backends.close_sessions()


def test_state_dict_is_identical_across_backends_and_the_weight_is_the_same_parameter():
    model = nn.Sequential(nn.Linear(4, 3), QuantumLayer(3), QuantumLinear(3, 4, 2))
    weights = [m.weight for m in model.modules() if isinstance(m, QuantumLayer)]
    before = {k: v.clone() for k, v in model.state_dict().items()}
    for name, overrides in [("aer", {}), ("fake-manila", {"shots": 64}), ("native", {})]:
        to_backend(model, name, **overrides)
        model(torch.rand(2, 4))
        assert list(model.state_dict()) == list(before)
        assert all(torch.equal(model.state_dict()[k], v) for k, v in before.items())
    assert [m.weight for m in model.modules() if isinstance(m, QuantumLayer)] == weights


def test_a_model_on_a_backend_pickles_without_its_backend_connection():
    model = nn.Sequential(QuantumLayer(2, backend="aer"))
    model(torch.rand(3, 2))
    copy = pickle.loads(pickle.dumps(model))
    assert copy[0].backend == "aer" and copy[0]._placement._qnn is None and copy[0]._placement._prepared is None
    # the exact program is rebuilt on unpickling (so that torch.compile never meets an uncompiled layer), not copied
    assert set(copy[0]._exact) == set(model[0]._exact)
    assert all(copy[0]._exact[k] is not model[0]._exact[k] for k in model[0]._exact)
    assert torch.allclose(copy(torch.ones(1, 2)), model(torch.ones(1, 2)))


# --- batching ---------------------------------------------------------------------------------

class _Counted:
    """A real StatevectorEstimator that records what each primitive call received."""

    def __init__(self):
        self.calls, self.estimator = [], StatevectorEstimator()

    def __call__(self, pubs):
        self.calls.append([np.broadcast_shapes(p[1].shape, p[2].shape[:-1]) for p in pubs])
        return self.estimator.run(pubs, precision=0.0).result()


def test_forward_pubs_are_merged_into_one_pub_and_split_by_batch_size(capsys):
    ansatz = make_ansatz("qrkt", 3, 1)
    values = np.random.default_rng(0).random((10, ansatz.n_inputs + ansatz.n_weights))
    circuit = ansatz.circuit
    pubs = [(circuit, obs, values) for obs in ansatz.observables]  # EstimatorQNN's forward layout
    expected = [r.data.evs for r in StatevectorEstimator().run(pubs).result()]
    for batch_size, shapes in [(None, [[(3, 10)]]), (4, [[(3, 4)], [(3, 4)], [(3, 2)]])]:
        counted = _Counted()
        result = BatchingEstimator(counted, batch_size, "test").run(pubs).result()
        assert counted.calls == shapes
        for got, want in zip(result, expected):
            np.testing.assert_allclose(got.data.evs, want, atol=1e-12)
    assert "test" in capsys.readouterr().err  # several calls show a progress bar


def test_single_value_pubs_of_a_gradient_are_stacked_with_their_observables_broadcast():
    ansatz = make_ansatz("basic", 2, 1)
    rows = np.random.default_rng(1).random((6, 4))
    pubs = [(ansatz.circuit, obs, row) for obs in ansatz.observables for row in rows]  # EstimatorQNN's gradient layout
    counted = _Counted()
    result = BatchingEstimator(counted).run(pubs).result()
    assert counted.calls == [[(2, 6)]]  # one PUB: 6 parameter sets, both observables from the same shots
    expected = StatevectorEstimator().run(pubs).result()
    np.testing.assert_allclose([float(r.data.evs) for r in result], [float(r.data.evs) for r in expected],
                               atol=1e-12)


def test_pubs_of_one_circuit_and_observables_concatenate_their_rows():
    ansatz = make_ansatz("qrkt", 3, 1)
    rng = np.random.default_rng(2)
    obs = [[o] for o in ansatz.observables]  # (3, 1): broadcast against the rows
    batches = [rng.random((n, ansatz.n_inputs + ansatz.n_weights)) for n in (2, 5, 3)]  # three layers' calls
    pubs = [(ansatz.circuit, obs, b) for b in batches] + [(ansatz.circuit, ansatz.observables[0], batches[0][0])]
    counted = _Counted()
    result = BatchingEstimator(counted).run(pubs).result()
    assert counted.calls == [[(3, 10), ()]]
    expected = StatevectorEstimator().run(pubs, precision=0.0).result()
    for got, want in zip(result, expected):
        assert got.data.evs.shape == want.data.evs.shape
        np.testing.assert_allclose(got.data.evs, want.data.evs, atol=1e-12)


def test_precision_asks_for_exactly_the_shots():
    assert all(math.ceil(1 / backends.execution._precision(s) ** 2) == s for s in range(1, 5000))


# --- profiles -----------------------------------------------------------------------------------

def test_more_shots_than_a_job_may_execute_are_refused_before_any_simulator_runs(tmp_path):
    for shots in (2**32, 2**63 - 1):
        (tmp_path / "huge.toml").write_text(f'kind = "aer"\nshots = {shots}\n')
        with pytest.raises(ValueError, match=rf"huge.toml: key 'shots' must be an integer from 1 to 10,000,000 "
                                             rf"\(IBM's limit of executions per job\), got {shots}$"):
            backends.load_profile(tmp_path / "huge.toml")
    with pytest.raises(ValueError, match=r"^backend 'fake-manila': key 'shots' must be an integer from 1 to "):
        get_profile("fake-manila", shots=10**8)


def test_a_misspelt_backend_or_device_is_answered_with_the_closest_name():
    with pytest.raises(ValueError, match=r"^unknown fake device 'nairobbi' for backend 'fake-nairobbi' \(did you mean "
                                         r"'fake-nairobi'\?\); choose one of: "):
        get_profile("fake-nairobbi")
    with pytest.raises(ValueError, match=r"^unknown backend 'aer-shot' \(did you mean 'aer-shots'\?\); choose one of"):
        get_profile("aer-shot")


def test_shipped_profiles_and_any_fake_device_resolve():
    names = set(profiles())
    assert {"native", "estimator", "aer", "aer-shots", "aer-gpu", "fake", "ibm"} <= names
    assert get_profile("fake-manila").max_qubits == 5
    assert get_profile("fake_brisbane".replace("_", "-")).max_qubits == 127
    assert len(backends.fake_devices()) > 50
    p = get_profile("fake-manila", shots=100, seed=3, optimization_level=2, noise_scale=0.5)
    assert (p.shots, p.option("seed"), p.option("optimization_level"), p.option("noise_scale")) == (100, 3, 2, 0.5)
    assert get_profile("aer-shots", shots=None).shots is None


def test_user_profiles_from_the_environment_and_a_directory(tmp_path, monkeypatch):
    env_dir, arg_dir = tmp_path / "env", tmp_path / "arg"
    env_dir.mkdir(), arg_dir.mkdir()
    (env_dir / "my-aer.toml").write_text('kind = "aer"\nshots = 100\ndescription = "mine"\n')
    (arg_dir / "my-aer.toml").write_text('kind = "aer"\nshots = 200\n')
    (arg_dir / "lab-manila.toml").write_text('kind = "fake"\ndevice = "manila"\nshots = 50\n')
    monkeypatch.setenv(backends.ENV_PATH, str(env_dir))
    assert get_profile("my-aer").shots == 100
    assert get_profile("my-aer", backends_dir=arg_dir).shots == 200  # the argument is scanned last
    layer = QuantumLayer(2).to_backend("lab-manila", backends_dir=arg_dir)
    assert layer.backend == "lab-manila" and layer.profile.max_qubits == 5


@pytest.mark.parametrize("text, message", [
    ('kind = "aer"\nshots = [1\n', r"bad\.toml is not valid TOML \("),
    ('kind = "aer"\nshotz = 10\n', r"bad\.toml: unknown key 'shotz' for a 'aer' profile; accepted keys: .*shots"),
    ('kind = "aer"\nshots = "many"\n', r"bad\.toml: key 'shots' must be an integer from 1 to 10,000,000 \(IBM's limit of executions per job\), got 'many'"),
    ('kind = "quantum"\n', r"bad\.toml: key 'kind' must be one of native, estimator, aer, fake, ibm, got 'quantum'"),
    ('shots = 10\n', r"bad\.toml: key 'kind' is missing"),
    ('kind = "ibm"\ntoken = "abc"\n', r"bad\.toml: key 'token' looks like a credential"),
    ('kind = "ibm"\nexecution = "batch"\n', r"bad\.toml: key 'shots' is required for an 'ibm' profile"),
    ('kind = "fake"\ndevice = "manila"\nnoise_scale = -1\n', r"bad\.toml: key 'noise_scale' must be a number >= 0, got -1"),
])
def test_malformed_profiles_name_the_file_and_the_key(tmp_path, text, message):
    (tmp_path / "bad.toml").write_text(text)
    with pytest.raises(ValueError, match=message):
        load_profile(tmp_path / "bad.toml")
    with pytest.raises(ValueError, match=message):
        get_profile("aer", backends_dir=tmp_path)  # scanning the directory fails the same way


@pytest.mark.parametrize("call, error, message", [
    (lambda: get_profile("aer-cpu"), ValueError, r"unknown backend 'aer-cpu' \(did you mean 'aer-gpu'\?\); choose one of: .*fake-<device>"),
    (lambda: get_profile("fake"), ValueError, r"unknown backend 'fake'; choose one of: "),
    (lambda: get_profile("fake-nowhere"), ValueError,
     r"unknown fake device 'nowhere' for backend 'fake-nowhere'( \(did you mean '[a-z-]+'\?\))?; choose one of: .*fake-manila"),
    (lambda: get_profile("aer", noise_scale=0.5), ValueError,
     r"backend 'aer': unknown key 'noise_scale' for a 'aer' profile; accepted keys: "),
    (lambda: get_profile("fake-manila", optimization_level=4), ValueError,
     r"backend 'fake-manila': key 'optimization_level' must be one of 0, 1, 2, 3, got 4"),
    (lambda: get_profile("ibm", seed=0), ValueError, r"backend 'ibm': key 'seed' must be an integer >= 1, got 0"),
    (lambda: get_profile(3), TypeError, "a backend must be a profile name or a BackendProfile, got int"),
    (lambda: get_profile("aer", backends_dir="/no/such/dir"), FileNotFoundError,
     r"backends directory '/no/such/dir' \(from backends_dir\) does not exist"),
])
def test_registry_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_a_circuit_wider_than_the_device_is_refused_before_any_work():
    model = nn.Sequential(QuantumLayer(3), QuantumLayer(6))
    with pytest.raises(ValueError, match=r"a 6-qubit circuit does not fit backend 'fake-manila', which has 5 qubits; "
                                         r"use a device of at least 6 qubits \(`qrkt backends --devices` lists them\) "
                                         r"or a model whose circuits have at most 5 qubits"):
        to_backend(model, "fake-manila")
    assert {m.backend for m in model.modules() if isinstance(m, QuantumLayer)} == {"native"}
    with pytest.raises(ValueError, match="a 6-qubit circuit does not fit backend 'ibm'"):
        QuantumLayer(6, backend=get_profile("ibm", device="fake-manila"))
    to_backend(nn.Sequential(QuantumLinear(6, 6, 5)), "fake-manila")  # QuantumLinear splits it to fit


@pytest.mark.skipif("GPU" in __import__("qiskit_aer").AerSimulator().available_devices(), reason="Aer has a GPU here")
def test_aer_gpu_without_a_gpu_is_one_sentence():
    with pytest.raises(BackendUnavailableError, match=r"backend 'aer-gpu' needs Aer's GPU device, but "
                                                      r"(torch sees no CUDA GPU|the installed qiskit-aer is the CPU build)"):
        QuantumLayer(2, backend="aer-gpu")


def test_ibm_without_credentials_is_one_sentence(monkeypatch):
    from qiskit_ibm_runtime import QiskitRuntimeService

    if QiskitRuntimeService.saved_accounts():
        pytest.skip("this machine has a saved IBM Quantum account")
    monkeypatch.delenv("QISKIT_IBM_TOKEN", raising=False)
    with pytest.raises(BackendUnavailableError, match=r"backend 'ibm' found no IBM Quantum account: save one with "
                                                      r"QiskitRuntimeService.save_account\(...\) or set QISKIT_IBM_TOKEN"):
        to_backend(nn.Sequential(QuantumLayer(2)), "ibm")


def test_a_failed_job_is_one_sentence_with_its_job_id():
    # A 20-qubit density matrix needs terabytes: Aer accepts the job, then fails it.
    layer = QuantumLayer(20, backend=get_profile("fake-almaden", shots=None))
    with pytest.raises(BackendJobError, match=r"^job [0-9a-f-]{36} on backend 'fake-almaden' failed \(.*memory"):
        layer(torch.rand(1, 20))


def test_a_transpiler_failure_is_one_sentence():
    from qiskit.circuit import Gate, Parameter, QuantumCircuit

    x, w = Parameter("x"), Parameter("w")
    qc = QuantumCircuit(1, name="opaque")
    qc.ry(x, 0)
    qc.append(Gate("mystery", 1, [w]), [0])  # no definition: no basis can express it
    # both simulators transpile when the layer moves to the device, before any data
    for simulator in ("native", "aer"):
        with pytest.raises(QrktError, match=r"Qiskit could not transpile the 1-qubit circuit 'opaque' for fake_manila "
                                            r"\(backend 'fake-manila'\): .*mystery"):
            QuantumLayer(1, ansatz=Ansatz(qc, [x], [w]), backend=get_profile("fake-manila", simulator=simulator))


def test_credentials_never_reach_logs_output_files_or_checkpoints(tmp_path, monkeypatch, capsys, caplog):
    import argparse

    from qrkt_qiskit.cli import backends as cli_backends

    token = "qrkt-test-token-5f2b9c1e7d"
    monkeypatch.setenv("QISKIT_IBM_TOKEN", token)
    monkeypatch.setenv("QISKIT_IBM_INSTANCE", "crn:v1:bluemix:public:quantum-computing:us-east:a/0::")
    monkeypatch.chdir(tmp_path)
    caplog.set_level(logging.DEBUG)
    model = nn.Sequential(nn.Linear(4, 3), QuantumLayer(3), nn.Linear(3, 2))
    to_backend(model, "ibm", device="fake-manila", shots=128, seed=3)
    with torch.no_grad():
        model(torch.rand(5, 4))
    torch.save(model.state_dict(), tmp_path / "weights.pt")
    torch.save(model, tmp_path / "model.pt")
    parser = argparse.ArgumentParser(prog="qrkt")
    cli_backends.add_parser(parser.add_subparsers())
    args = parser.parse_args(["backends"])
    args.func(args)
    with pytest.raises(BackendUnavailableError, match="could not open IBM Quantum device ibm_nowhere") as info:
        QuantumLayer(2, backend=get_profile("ibm", device="ibm_nowhere"))(torch.rand(1, 2))
    backends.close_sessions()
    out = capsys.readouterr()
    written = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    assert "ibm " in out.out and (tmp_path / "model.pt").exists()
    for where in (out.out, out.err, caplog.text, str(info.value), repr(info.value.__cause__)):
        assert token not in where
    assert token.encode() not in written


def test_layers_of_one_circuit_share_one_transpilation_with_their_own_parameters(monkeypatch):
    from qrkt_qiskit.backends import devices

    profile = get_profile("fake-manila", layout_seed=4321, simulator="aer", shots=None)  # a layout of its own: a fresh setup
    runs = []
    transpile = devices._transpile
    monkeypatch.setattr(devices, "_transpile", lambda *a: runs.append(a) or transpile(*a))
    layers = [QuantumLayer(3, backend=profile) for _ in range(4)]
    assert len(runs) == 1  # transpiled at to_backend, once for all four
    fitted = [backends.fit(profile, layer.ansatz) for layer in layers]
    assert all(f.circuit is fitted[0].circuit for f in fitted)  # one ISA circuit: PUBs of all four merge
    for layer, f in zip(layers, fitted):
        assert set(f.own(layer.ansatz).parameters) == set(layer.ansatz.inputs + layer.ansatz.weights)
    x = torch.rand(2, 3, dtype=torch.float64)
    layer = layers[2].double()  # not the layer whose circuit was transpiled: Aer must bind its own parameters
    assert torch.allclose(layer(x), layer.to_backend(get_profile(profile, simulator="native"))(x), atol=1e-6)


# --- progress ---------------------------------------------------------------------------------

def test_circuit_progress_counts_circuits_and_jobs_off_the_exact_engine(capsys):
    from qrkt_qiskit.backends import circuit_progress

    model = nn.Sequential(QuantumLayer(2), QuantumLayer(2))
    with circuit_progress("exact") as meter:
        model(torch.rand(3, 2))
    assert (meter.circuits, meter.jobs, meter.bar) == (0, 0, None)  # nothing ran off the engine: no bar at all
    model[1].to_backend("estimator")
    with circuit_progress("on the estimator") as meter:
        model(torch.rand(3, 2))
        model(torch.rand(4, 2))
    assert (meter.circuits, meter.jobs) == (7, 2)  # one circuit per sample, one job per layer call
    # the bar, opened by the first call; written as one line where stderr is no terminal
    assert "on the estimator: 7 done in " in capsys.readouterr().err
