"""A failed job is one sentence naming it, and no IBM credential reaches a log, a message or a file."""

import logging

import pytest
import torch
from torch import nn

from qrkt_qiskit import backends
from qrkt_qiskit.backends import BackendJobError, BackendUnavailableError, get_profile
from qrkt_qiskit.layers import QuantumLayer, to_backend


def test_a_failed_job_is_one_sentence_with_its_job_id():
    # A 20-qubit density matrix needs terabytes: Aer accepts the job, then fails it.
    layer = QuantumLayer(20, backend=get_profile("fake-almaden", shots=None))
    with pytest.raises(BackendJobError, match=r"^job [0-9a-f-]{36} on backend 'fake-almaden' failed \(.*memory"):
        layer(torch.rand(1, 20))


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
