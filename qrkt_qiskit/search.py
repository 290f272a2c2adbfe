"""Random search of hyperparameters on the classical baseline: the thesis protocol, through Optuna.

A study directory holds ``search.json`` (the base `TrainConfig` and the `SearchSpace`), the
default storage ``study.db`` (SQLite; any SQLAlchemy URL instead, e.g. one PostgreSQL study
that several machines share), one ordinary run directory per trial under ``trials/``, and
what a person reads: ``trials.csv``, ``trials.md``, ``trials.png`` and ``best.json`` (the best
trial's configuration, which ``qrkt train --from-search`` re-uses for the quantum model).

Each trial trains with `train` and reports its validation ROC-AUC after every epoch; a
median pruner stops a trial whose AUC falls below the median of earlier trials at that
epoch. The objective is the best validation AUC of the run. A search stopped by Ctrl-C,
SIGTERM or a crash resumes from its storage: finished trials are kept, never repeated, the
interrupted trial stays in the table as failed (or, after a crash, running), and the search
runs until ``n_trials`` trials have finished (completed or pruned), counted over every
process sharing the storage.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import logging
import math
import os
import socket
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

from .output import figure, markdown_table, save_figure, write_csv, write_text
from .training import TrainConfig, train
from .training.run import RunExistsError

__all__ = ["SearchSpace", "best_config", "read_search", "search", "trials_table"]

logger = logging.getLogger(__name__)

SEARCHED = ("dim", "heads", "blocks", "mlp_dim", "dropout", "lr", "warmup_steps", "batch_size")
STUDY_NAME = "qrkt"
_SCHEMA_ATTEMPTS = 5
HEARTBEAT_SECONDS = 60  # a running trial's heartbeat; one silent for twice this is taken as dead


@dataclass(frozen=True)
class SearchSpace:
    """Where the random sampler draws each hyperparameter (thesis-style: the sizes of its models and around).

    Tuples of values are categorical choices; ``dropout`` is uniform and ``lr`` log-uniform
    between their two bounds; ``warmup_steps`` is an integer between its two bounds.
    """

    dim: tuple[int, ...] = (6, 12, 18, 24)
    heads: tuple[int, ...] = (1, 2, 3, 6)  # each divides every dim above
    blocks: tuple[int, ...] = (1, 2, 3)
    mlp_dim: tuple[int, ...] = (3, 4, 6, 8, 12)
    dropout: tuple[float, float] = (0.0, 0.3)
    lr: tuple[float, float] = (1e-4, 1e-2)
    warmup_steps: tuple[int, int] = (0, 5000)  # the thesis used 5000
    batch_size: tuple[int, ...] = (32, 65, 128)  # the thesis used 65

    def __post_init__(self):
        for name in ("dim", "heads", "blocks", "mlp_dim", "batch_size", "dropout", "lr", "warmup_steps"):
            object.__setattr__(self, name, tuple(getattr(self, name)))  # lists from search.json
        bad = [(d, h) for d in self.dim for h in self.heads if h < 1 or d % h]
        if bad:
            raise ValueError(f"every dim must be a multiple of every heads choice, but dim={bad[0][0]} "
                             f"is not a multiple of heads={bad[0][1]}")
        for name in ("dropout", "lr", "warmup_steps"):
            low, high = getattr(self, name)
            if low > high or (name == "lr" and low <= 0):
                raise ValueError(f"{name} range ({low}, {high}) must be increasing (and positive for lr)")

    def suggest(self, trial) -> dict:
        """One draw for an Optuna ``trial``: `TrainConfig` fields by name."""
        return {
            "dim": trial.suggest_categorical("dim", self.dim),
            "heads": trial.suggest_categorical("heads", self.heads),
            "blocks": trial.suggest_categorical("blocks", self.blocks),
            "mlp_dim": trial.suggest_categorical("mlp_dim", self.mlp_dim),
            "dropout": trial.suggest_float("dropout", *self.dropout),
            "lr": trial.suggest_float("lr", *self.lr, log=True),
            "warmup_steps": trial.suggest_int("warmup_steps", *self.warmup_steps),
            "batch_size": trial.suggest_categorical("batch_size", self.batch_size),
        }


def search(base: TrainConfig, study_dir: str | Path, *, n_trials: int, space: SearchSpace = SearchSpace(),
           storage: str | None = None, resume: bool = False, prune: bool = True, seed: int = 0,
           progress: bool = False):
    """Run (or resume) a random search into ``study_dir`` until ``n_trials`` trials have finished.

    Args:
        base: the run every trial starts from (data, epochs, the classical model); the trial
            replaces the `SEARCHED` fields.
        study_dir: where ``search.json``, the trials' run directories and the reports go.
        n_trials: finished trials (completed or pruned) the study should hold in the end.
        space: the search space.
        storage: an SQLAlchemy URL; ``None`` means ``sqlite:///STUDY_DIR/study.db``.
        resume: continue the search in ``study_dir`` with its own ``search.json``.
        prune: stop hopeless trials early (median of earlier trials' validation AUC per epoch).
        seed: seeds the sampler (offset by the trials already in the storage, so a resumed
            search draws new configurations).
        progress: show Optuna's progress bar over the trials.

    Returns:
        The ``optuna.Study``.

    Raises:
        FileExistsError: ``study_dir`` already holds a search and ``resume`` is False.
        ValueError: ``resume`` with a base or space that differs from the search's, or a
            storage URL that cannot be opened.
    """
    import optuna

    study_dir = Path(study_dir)
    base.check_data_root()  # every trial would fail on it: say so before any study
    spec = json.loads(json.dumps({"base": base.to_dict(), "space": dataclasses.asdict(space)}))  # as read back
    path = study_dir / "search.json"
    if resume:
        read_search(study_dir)  # one sentence if there is none
        if json.loads(path.read_text()) != spec:
            raise ValueError(f"cannot resume the search in {study_dir} with a different base configuration or space")
    elif path.exists():
        raise RunExistsError(f"{study_dir} already holds a search; resume it (--resume) or choose another directory")
    study_dir.mkdir(parents=True, exist_ok=True)
    study = _open_study(study_dir, storage, seed, prune)  # first: a bad storage leaves no search behind
    write_text(path, json.dumps(spec, indent=2))
    finished = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    remaining = n_trials - len(study.get_trials(deepcopy=False, states=finished))
    if remaining > 0:
        study.optimize(lambda trial: _objective(trial, base, space, study_dir), n_trials=remaining,
                       show_progress_bar=progress,  # Optuna's bar over this call's trials
                       callbacks=[optuna.study.MaxTrialsCallback(n_trials, states=finished),
                                  lambda study, trial: write_reports(study, study_dir)])
    write_reports(study, study_dir)
    return study


def read_search(study_dir: str | Path) -> tuple[TrainConfig, SearchSpace]:
    """The base configuration and the space of the search in ``study_dir``."""
    path = Path(study_dir) / "search.json"
    if not path.is_file():
        raise FileNotFoundError(f"{study_dir} holds no search to resume: it has no search.json")
    saved = json.loads(path.read_text())
    return TrainConfig.from_dict(saved["base"]), SearchSpace(**saved["space"])


def _open_study(study_dir: Path, storage: str | None, seed: int, prune: bool):
    import optuna

    url = storage or f"sqlite:///{(study_dir / 'study.db').resolve()}"
    for attempt in range(_SCHEMA_ATTEMPTS):
        try:
            rdb = _storage(url)
            break
        except Exception as exc:  # SQLAlchemy: an unknown dialect, a missing driver, an unreachable server
            # Workers started together on a fresh database race to create optuna's tables: the loser's
            # insert collides with the winner's; its next attempt finds the tables made.
            if attempt + 1 < _SCHEMA_ATTEMPTS and type(exc).__name__ in ("IntegrityError", "ProgrammingError"):
                time.sleep(0.5 * (attempt + 1))
                continue
            raise ValueError(f"cannot open the study storage {url!r} ({type(exc).__name__}: "
                             f"{str(exc).splitlines()[0][:200]}); give an SQLAlchemy URL such as "
                             "sqlite:///study.db or postgresql://user@host/db") from None
    names = optuna.study.get_all_study_names(rdb)
    existing = len(optuna.load_study(study_name=STUDY_NAME, storage=rdb).trials) if STUDY_NAME in names else 0
    # Reproducible draw for draw in one process; workers sharing a storage mix in host and pid, or two started
    # together would draw the same configurations.
    sampler_seed = seed + existing if storage is None else zlib.crc32(f"{seed} {existing} {socket.gethostname()} "
                                                                       f"{os.getpid()}".encode())
    # Judged from the first epoch on, once two trials have finished: a random search can afford it.
    pruner = optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0) if prune else optuna.pruners.NopPruner()
    return optuna.create_study(study_name=STUDY_NAME, storage=rdb, load_if_exists=True, direction="maximize",
                               sampler=optuna.samplers.RandomSampler(seed=sampler_seed), pruner=pruner)


def _storage(url: str):
    """The study's storage, with heartbeats: a worker that dies mid-trial stops beating, and after the grace period
    the next worker to start a trial marks that one failed and queues a copy of it, so no trial is lost."""
    import warnings

    import optuna

    parameters = inspect.signature(optuna.storages.RDBStorage).parameters
    if "heartbeat_stale_trial_callback" in parameters:  # optuna >= 4.9
        retry = {"heartbeat_stale_trial_callback": optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=3)}
    else:
        retry = {"failed_trial_callback": optuna.storages.RetryFailedTrialCallback(max_retry=3)}
    with warnings.catch_warnings():  # heartbeats are "experimental" in optuna's own words, and work
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.storages.RDBStorage(url, heartbeat_interval=HEARTBEAT_SECONDS,
                                          grace_period=2 * HEARTBEAT_SECONDS, **retry)


def _objective(trial, base: TrainConfig, space: SearchSpace, study_dir: Path) -> float:
    import optuna

    config = dataclasses.replace(base, **space.suggest(trial))
    best = -math.inf

    def report(row: dict) -> None:
        nonlocal best
        best = max(best, row["val_auc"])
        trial.report(row["val_auc"], row["epoch"])
        if trial.should_prune():
            raise optuna.TrialPruned(f"validation AUC {row['val_auc']:.4f} after epoch {row['epoch']}")

    run_dir = study_dir / "trials" / f"{trial.number:04d}"
    trial.set_user_attr("run_dir", str(run_dir))
    summary = train(config, run_dir, progress=False, on_epoch=report)
    trial.set_user_attr("test_auc", summary["test_auc"])
    logger.info("trial %d: validation AUC %.4f (%s)", trial.number, best, run_dir)
    return best


def best_config(study_dir: str | Path, *, quantum: bool | None = None, **overrides) -> TrainConfig:
    """The best trial's `TrainConfig` from ``study_dir/best.json``, made quantum or classical, fields overridden."""
    path = Path(study_dir) / "best.json"
    if not path.is_file():
        raise FileNotFoundError(f"{study_dir} holds no finished search trial: it has no best.json")
    values = json.loads(path.read_text())["config"]
    if quantum is not None:
        values["quantum"] = quantum
    return TrainConfig.from_dict({**values, **overrides})


def trials_table(study) -> str:
    """A markdown table of the study's trials, best validation AUC first."""
    cols = ("trial", "state", "val AUC", "epochs") + SEARCHED
    rows = []
    key = lambda t: -(t.value if t.value is not None else -1.0)  # noqa: E731
    for t in sorted(study.get_trials(deepcopy=False), key=key):
        value = t.value if t.value is not None else max(t.intermediate_values.values(), default=None)
        rows.append([t.number, t.state.name.lower(), _fmt(value), len(t.intermediate_values)]
                    + [_fmt(t.params.get(name)) for name in SEARCHED])
    return markdown_table(cols, rows)


def write_reports(study, study_dir: Path) -> None:
    """``trials.md``, ``trials.csv``, ``trials.png`` and (once a trial completed) ``best.json``."""
    import optuna

    trials = study.get_trials(deepcopy=False)
    write_text(study_dir / "trials.md", trials_table(study) + "\n")
    head = ("trial", "state", "value", "epochs", "seconds") + SEARCHED
    rows = []
    for t in trials:
        seconds = (t.datetime_complete - t.datetime_start).total_seconds() if t.datetime_complete else None
        rows.append(dict(zip(head, [t.number, t.state.name.lower(), t.value, len(t.intermediate_values), seconds]
                             + [t.params.get(name) for name in SEARCHED])))
    write_csv(rows, study_dir / "trials.csv", head)
    _plot(study, study_dir / "trials.png")
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if complete:
        best = max(complete, key=lambda t: t.value)
        base, _ = read_search(study_dir)
        config = dataclasses.replace(base, **{k: best.params[k] for k in SEARCHED})
        write_text(study_dir / "best.json", json.dumps({"trial": best.number, "val_auc": best.value,
                                                        "config": config.to_dict()}, indent=2))


def _plot(study, path: Path) -> None:
    """Each trial's validation AUC per epoch (pruned ones dashed), and the best so far per trial."""
    from matplotlib.ticker import MaxNLocator

    fig, (curves, best) = figure(figsize=(11, 4), ncols=2)
    values = []
    for t in study.get_trials(deepcopy=False):
        epochs = sorted(t.intermediate_values)
        curves.plot(epochs, [t.intermediate_values[e] for e in epochs], marker=".",
                    linestyle="--" if t.state.name == "PRUNED" else "-", alpha=0.7,
                    label=f"trial {t.number}" + (" (pruned)" if t.state.name == "PRUNED" else ""))
        if t.value is not None:
            values.append((t.number, t.value))
    curves.set(xlabel="epoch", ylabel="validation ROC-AUC", title="trials (dashed: pruned)")
    if study.get_trials(deepcopy=False):
        curves.legend(fontsize=7, ncol=2)
    if values:
        numbers, aucs = zip(*values)
        best.scatter(numbers, aucs, label="trial")
        best.step(numbers, [max(aucs[: i + 1]) for i in range(len(aucs))], where="post", color="k", label="best so far")
        best.legend()
    best.set(xlabel="trial", ylabel="validation ROC-AUC", title="random search")
    for ax in (curves, best):
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs and trial numbers
    save_figure(fig, path)


def _fmt(value) -> str:
    if value is None:
        return "-"
    return f"{value:.4g}" if isinstance(value, float) else str(value)
