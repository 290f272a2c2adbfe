"""The backend registry: shipped and user profiles, any fake device, and every mistake in one sentence."""

import pytest
from torch import nn

from qrkt_qiskit import backends
from qrkt_qiskit.backends import BackendUnavailableError, get_profile, load_profile, profiles
from qrkt_qiskit.layers import QuantumLayer, QuantumLinear, to_backend


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
