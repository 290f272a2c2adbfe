"""Options made from config fields (qrkt_qiskit/cli/options.py): one default, in the config, and checked numbers."""

import dataclasses

import pytest

from qrkt_qiskit.cli import main


@pytest.mark.parametrize("path, config", [(("train",), "TrainConfig"), (("gan", "train"), "GANTrainConfig")])
def test_every_cli_default_is_the_config_default(path, config):
    from qrkt_qiskit.cli import build_parser
    from qrkt_qiskit.training import gan
    from qrkt_qiskit.training.config import TrainConfig

    cls = {"TrainConfig": TrainConfig, "GANTrainConfig": gan.GANTrainConfig}[config]
    defaults = {f.name: f.default for f in dataclasses.fields(cls)}
    parsed = vars(build_parser().parse_args(list(path)))  # every option of the command, at its default
    options = {dest: value for dest, value in parsed.items() if dest in defaults}
    documented = {f.name for f in dataclasses.fields(cls) if "help" in f.metadata}
    assert set(options) == documented and documented >= set(defaults) - {"model", "betas"}
    assert options == {name: defaults[name] for name in options}
    assert cls(**{k: v for k, v in parsed.items() if k in documented}) == cls()


def test_a_non_finite_number_is_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--lr", "inf"])
    assert "argument --lr: expected a finite number, got 'inf'" in capsys.readouterr().err
