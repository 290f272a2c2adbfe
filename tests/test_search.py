"""Random search: it runs, survives an interruption, resumes from its storage, hands its best config on."""

import json

import optuna
import pytest

from qrkt_qiskit import search as search_module
from qrkt_qiskit.cli import main
from qrkt_qiskit.search import SearchSpace, best_config, search
from qrkt_qiskit.training import TrainConfig, read_config, train

from .text_data import write_csv

SPACE = SearchSpace(dim=(6, 12), heads=(2, 3), blocks=(1,), mlp_dim=(3, 4), dropout=(0.0, 0.1), lr=(3e-3, 3e-2),
                    warmup_steps=(0, 3), batch_size=(64, 128))


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    root = write_csv(tmp_path_factory.mktemp("imdb"), 160, 40)
    return TrainConfig(dataset="imdb", data_root=str(root), quantum=False, epochs=2, max_length=24, vocab_size=500)


def _finished(study):
    return [t for t in study.trials if t.state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)]


def test_interrupted_search_resumes_without_repeating_finished_trials(tmp_path, base, monkeypatch, capsys):
    trained = []

    def interrupted_on_the_third(config, run_dir, **kw):
        trained.append(run_dir.name)
        if len(trained) == 3:
            raise KeyboardInterrupt
        return train(config, run_dir, **kw)

    monkeypatch.setattr(search_module, "train", interrupted_on_the_third)
    with pytest.raises(KeyboardInterrupt):
        search(base, tmp_path, n_trials=4, space=SPACE)
    stored = optuna.load_study(study_name="qrkt", storage=f"sqlite:///{tmp_path}/study.db")
    first = {t.number: t.params for t in _finished(stored)}
    assert sorted(first) == [0, 1]

    study = search(base, tmp_path, n_trials=4, space=SPACE, resume=True)
    assert trained == ["0000", "0001", "0002", "0003", "0004"]  # trial 2 failed; 3 and 4 are new
    finished = _finished(study)
    assert len(finished) == 4 and {t.number: t.params for t in finished if t.number < 2} == first
    assert [t.number for t in study.trials if t.state == optuna.trial.TrialState.FAIL] == [2]
    assert {t.params["lr"] for t in finished[2:]}.isdisjoint({p["lr"] for p in first.values()})  # new draws
    for t in finished:  # validation AUC reported per epoch, which the pruner judges
        complete = t.state == optuna.trial.TrialState.COMPLETE
        assert sorted(t.intermediate_values) == [1, 2][:2 if complete else len(t.intermediate_values)]
    names = {p.name for p in tmp_path.iterdir()}
    assert {"trials.md", "trials.csv", "trials.png", "best.json", "search.json", "study.db"} <= names
    assert search(base, tmp_path, n_trials=4, space=SPACE, resume=True).trials == study.trials  # nothing left to do

    # The thesis protocol: the classical search's best configuration, trained as the quantum model.
    best = json.loads((tmp_path / "best.json").read_text())
    assert best["val_auc"] == study.best_value
    assert main(["train", "--from-search", str(tmp_path), "--quantum", "--epochs", "1", "--no-progress",
                 "--run-dir", str(tmp_path / "quantum")]) == 0
    config = read_config(tmp_path / "quantum")
    assert config.quantum and config.epochs == 1 and config.data_root == base.data_root
    assert {k: getattr(config, k) for k in study.best_params} == study.best_params
    assert "| QRK4_ENH |" in capsys.readouterr().out
    # only the options given apply on top: the search's own epochs stay, --lr given replaces its rate
    assert main(["train", "--from-search", str(tmp_path), "--lr", "0.004", "--no-progress",
                 "--run-dir", str(tmp_path / "given")]) == 0
    config = read_config(tmp_path / "given")
    assert config.quantum and config.epochs == base.epochs and config.lr == 0.004


def test_search_command_prints_the_table(tmp_path, base, capsys):
    assert main(["search", "--study-dir", str(tmp_path / "s"), "--trials", "1", "--dataset", "imdb", "--data-root",
                 base.data_root, "--epochs", "1", "--max-length", "24", "--vocab-size", "300"]) == 0
    captured = capsys.readouterr()
    assert "| trial | state | val AUC | epochs | dim | heads |" in captured.out and "best: trial 0" in captured.out
    assert "1/1" in captured.err  # Optuna's bar over the trials
    assert best_config(tmp_path / "s", quantum=True).quantum


def test_mistakes_are_one_sentence(tmp_path, base, capsys):
    with pytest.raises(ValueError, match=r"every dim must be a multiple of every heads choice, "
                                         r"but dim=6 is not a multiple of heads=4"):
        SearchSpace(dim=(6, 12), heads=(2, 4))
    with pytest.raises(ValueError, match=r"lr range \(0.1, 0.01\) must be increasing \(and positive for lr\)"):
        SearchSpace(lr=(0.1, 0.01))
    with pytest.raises(FileNotFoundError, match=r"holds no finished search trial: it has no best.json"):
        best_config(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"holds no search to resume: it has no search.json"):
        search(base, tmp_path, n_trials=1, resume=True)
    (tmp_path / "search.json").write_text(json.dumps({"base": base.to_dict(), "space": {}}))
    with pytest.raises(FileExistsError, match=r"already holds a search; resume it \(--resume\) or choose another"):
        search(base, tmp_path, n_trials=1)
    with pytest.raises(ValueError, match=r"cannot resume the search in .* with a different base configuration or space"):
        search(base, tmp_path, n_trials=1, resume=True)
    with pytest.raises(SystemExit):
        main(["search", "--study-dir", str(tmp_path), "--trials", "0"])
    assert capsys.readouterr().err.endswith("qrkt search: error: argument --trials: expected an integer of at least 1, "
                                            "got 0\n")


def test_a_search_without_its_data_is_refused_before_a_study_exists(tmp_path, capsys):
    assert main(["search", "--study-dir", str(tmp_path / "s"), "--trials", "1"]) == 2  # imdb, no --data-root
    assert capsys.readouterr().err == ("qrkt search: error: dataset 'imdb' needs a data root (--data-root) holding "
                                       "its files\n")
    assert not (tmp_path / "s").exists()
