"""`qrkt resources`: the hardware cost of a thesis preset and of a trained run."""

from qrkt_qiskit.cli import main


def test_resources_of_a_thesis_preset_and_of_a_run(run_dir, capsys):
    assert main(["resources", "--model", "mnist", "--ode", "rk4"]) == 0
    assert "| qubit total (thesis: Σ width over calls) | 324 |" in capsys.readouterr().out
    assert main(["resources", str(run_dir), "--backend", "fake-nairobi"]) == 0
    out = capsys.readouterr().out
    assert "| qubit total (thesis: Σ width over calls) | 27 |" in out and "device depth" in out
