"""One resumable run: a run directory, its stored configuration, its checkpoints and its epoch loop.

Classification (`qrkt_qiskit.training.loop`) and GAN training (`qrkt_qiskit.training.gan`) are
this machinery plus a `Task`: how to take one step and how to close an epoch. Exact
resumption rests on three things: epoch ``e``'s data order is a permutation drawn from
``seed + e`` (so the position ``(epoch, step)`` fixes every batch), ``last.pt`` carries
everything that changes (the task's weights, optimisers and schedules, torch's RNG, the
`RunState`), and nothing else is random.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import fcntl
import json
import math
import os
import signal
import stat
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch

from ..engine import NonFiniteAngleError
from ..errors import Interrupted, QrktError, os_error_sentence
from ..output import ProgressBar, write_text
from .checkpoint import load_checkpoint, save_checkpoint

__all__ = ["NonFiniteLossError", "RunDirectory", "RunExistsError", "RunLockedError", "RunState", "Task", "epoch_batches",
           "preparing", "run_epochs"]

LAST = "last.pt"
LOCK = ".lock"  # held (flock) by the process writing the run; it holds that process's pid


class RunExistsError(QrktError, FileExistsError):
    """The run directory already holds a run, and resuming it was not asked for."""


class RunLockedError(QrktError):
    """Another process is writing the run directory."""


def _lock(path: Path) -> int:
    """An exclusive lock on ``path``, held until the returned descriptor is closed; it records this pid.

    The file is opened without following a symbolic link and must be a plain file of one
    link: whoever can write a shared run directory must not make the next run truncate
    another file through its ``.lock``.
    """
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    except OSError as exc:
        if exc.errno != errno.ELOOP:
            raise
        raise QrktError(f"{path} is a symbolic link, which qrkt never writes through; remove it and run again") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
        os.close(fd)
        raise QrktError(f"{path} is not a plain file of its own (a hard link or a device), which qrkt never "
                        "writes to; remove it and run again")
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise RunLockedError(f"{path.parent} is in use by another run (pid {holder}); wait for it to finish or "
                             "choose another directory") from None
    os.ftruncate(fd, 0)
    os.write(fd, str(os.getpid()).encode())
    return fd


@dataclass
class RunState:
    """Where a run stands: epochs completed, steps into the current one, training time, one row per epoch."""

    epoch: int = 0
    step: int = 0
    train_seconds: float = 0.0
    history: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        """The state as checkpoint data (primitives only, for ``weights_only=True``)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> RunState:
        """A state from `to_dict`'s data (a checkpoint's ``state``)."""
        return cls(**values)


class RunDirectory:
    """A run's directory: it refuses to overwrite a run, and resumes only the configuration it holds.

    ``config`` is a frozen dataclass with ``to_dict`` and ``from_dict``; a saved configuration
    is read back through ``from_dict`` before it is compared, so options added since it was
    written take their defaults and old runs still resume. Under torchrun only the main
    process (``main=True``) writes.

    Use it as a context manager: inside, the main process holds an exclusive lock on the
    directory (a second writer gets one sentence naming this process's pid). A directory it
    created is removed again if the run fails before writing anything into it, so a mistake
    leaves no empty run behind.

    The checks happen on entering (see `__enter__`).
    """

    def __init__(self, path: str | Path, config: Any, *, resume: bool, main: bool = True):
        self.path, self.config, self.resume, self.main = Path(path), config, resume, main
        self._lock: int | None = None
        self._created = False

    def __enter__(self) -> RunDirectory:
        """Hold the directory's lock (main process only), check it, and clear temporary files a crashed writer left.

        Raises:
            ValueError: the path is a file.
            RunLockedError: another process holds the directory.
            RunExistsError: it already holds a run and ``resume`` is False (checked under the lock,
                so two new runs started together cannot both write it).
        """
        if self.path.exists() and not self.path.is_dir():
            raise ValueError(f"{self.path} is a file, not a run directory; choose a directory")
        if self.main:
            self._created = not self.path.exists()
            self.path.mkdir(parents=True, exist_ok=True)
            self._lock = _lock(self.path / LOCK)
        if not self.resume and (self.path / LAST).exists():
            self.__exit__(None, None, None)
            raise RunExistsError(f"{self.path} already holds a run; resume it (--resume) or choose another directory")
        if self.main:
            for orphan in [*self.path.glob(".*.tmp*"), *self.path.glob("*/.*.tmp*")]:
                orphan.unlink(missing_ok=True)
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        if self._lock is None:
            return
        empty = exc_type is not None and self._created and [p.name for p in self.path.iterdir()] == [LOCK]
        if empty:  # unlinked under the lock: a writer that comes after finds no lock of ours to share
            (self.path / LOCK).unlink()
        os.close(self._lock)  # closing the descriptor releases the lock
        self._lock = None
        if empty:
            with contextlib.suppress(OSError):  # a new writer got in first: the directory is its own now
                self.path.rmdir()

    def load(self, map_location: torch.device | str = "cpu", *, may_differ: tuple[str, ...] = ()) -> dict:
        """The run's ``last.pt``, after checking it holds this configuration (but for the fields ``may_differ``).

        Raises:
            ValueError: if the run was trained with a different configuration.
        """
        ckpt = load_checkpoint(self.path / LAST, map_location=map_location)
        saved, mine = type(self.config).from_dict(ckpt["config"]).to_dict(), self.config.to_dict()
        changed = sorted(k for k, v in mine.items() if saved.get(k) != v and k not in may_differ)
        if changed:
            raise ValueError(f"cannot resume {self.path} with a different configuration (changed: {', '.join(changed)})")
        return ckpt

    def write_config(self, payload: dict) -> None:
        """Create the directory and write ``config.json``."""
        if self.main:
            self.path.mkdir(parents=True, exist_ok=True)
            write_text(self.path / "config.json", json.dumps(payload, indent=2))

    def save(self, name: str, payload: dict) -> None:
        """Checkpoint ``payload`` (with the configuration) as ``name``, atomically."""
        if self.main:
            save_checkpoint({"config": self.config.to_dict(), **payload}, self.path / name)


class Task(Protocol):
    """What a training loop adds to the run machinery."""

    def step(self, batch: torch.Tensor) -> dict[str, float]:
        """One optimiser step on the samples ``batch`` indexes; returns the values the progress bar shows."""

    def end_epoch(self) -> dict:
        """Evaluate and reset the epoch's running sums; returns the epoch's metrics row."""

    def save_epoch(self, row: dict) -> None:
        """The epoch's own files (``best.pt``, a sample grid), before ``last.pt`` is written."""

    def write_history(self, history: list[dict]) -> None:
        """``metrics.csv`` and the curves, from every row so far."""

    def checkpoint(self) -> dict:
        """Everything ``last.pt`` holds besides the run state and torch's RNG (state dicts)."""


def epoch_batches(n: int, batch_size: int, seed: int, epoch: int, *, drop_last: bool = False) -> Sequence[torch.Tensor]:
    """Epoch ``epoch``'s batches of indices into ``n`` samples: a permutation drawn from ``seed + epoch``."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed + epoch))
    if drop_last:
        order = order[: n // batch_size * batch_size]
    return order.split(batch_size)


def run_epochs(task: Task, run: RunDirectory, state: RunState, batches: Callable[[int], Sequence[torch.Tensor]], *,
               epochs: int, checkpoint_every: int = 0, progress: bool = True,
               on_step: Callable[[int], None] | None = None, on_epoch: Callable[[dict], None] | None = None) -> None:
    """Run ``task`` from ``state`` to ``epochs`` epochs, checkpointing ``last.pt`` at every epoch end.

    Args:
        task: the step and the epoch's end.
        run: where checkpoints and history go.
        state: the position to continue from (advanced in place).
        batches: epoch number to that epoch's index batches (`epoch_batches`).
        epochs: the run's length.
        checkpoint_every: also checkpoint every this many steps (0: at epoch ends only).
        progress: show a progress bar per epoch (`ProgressBar`: one line each in a log file).
        on_step: called with the global step after each step.
        on_epoch: called with the epoch's row once it is checkpointed; an exception it raises
            (a search pruning the trial) stops the run there.

    Raises:
        Interrupted: on Ctrl-C, SIGTERM or SIGHUP. One that arrives during a step or the epoch's
            bookkeeping is held until that work is done, then the position is checkpointed;
            a second one stops at once, and the exception says what ``last.pt`` holds.
        NonFiniteLossError: when a step's loss is not finite; ``last.pt`` keeps the last good position.
        QrktError: when a file of the run cannot be written (a full disk, a read-only directory):
            one sentence naming it and saying what ``last.pt`` holds.
    """
    saved = (state.epoch, state.step) if run.resume else None  # the position last.pt holds

    def checkpoint() -> None:
        nonlocal saved
        run.save(LAST, {"rng": torch.get_rng_state(), "state": state.to_dict(), **task.checkpoint()})
        saved = (state.epoch, state.step)

    if run.resume and run.main and state.history:  # a crash after last.pt but before metrics.csv loses no row
        task.write_history(state.history)
    signals, per_epoch = _HeldSignals(), 0
    with signals.installed():
        try:
            while state.epoch < epochs:
                epoch_batches_ = batches(state.epoch)
                per_epoch = len(epoch_batches_)
                bar = ProgressBar(total=per_epoch, initial=state.step, desc=f"epoch {state.epoch + 1}/{epochs}",
                           disable=not (progress and run.main), leave=False)
                start = time.perf_counter()
                for batch in epoch_batches_[state.step:]:
                    with signals.held():
                        global_step = state.epoch * per_epoch + state.step + 1
                        try:
                            shown = task.step(batch)
                        except NonFiniteAngleError:  # the model diverged upstream and NaN reached a circuit
                            shown = {"circuit inputs": math.nan}
                        _check_finite(shown, global_step, run, saved)
                        state.step += 1
                        bar.update()
                        bar.set_postfix({k: f"{v:.4f}" for k, v in shown.items()})
                        if checkpoint_every and global_step % checkpoint_every == 0:
                            now = time.perf_counter()
                            state.train_seconds, start = state.train_seconds + now - start, now
                            checkpoint()
                    if on_step is not None:
                        on_step(global_step)
                bar.close()
                with signals.held():
                    state.train_seconds += time.perf_counter() - start
                    row = {"epoch": state.epoch + 1, "train_seconds": round(state.train_seconds, 3), **task.end_epoch()}
                    state.history.append(row)
                    state.epoch, state.step = state.epoch + 1, 0
                    if run.main:
                        task.save_epoch(row)
                        task.write_history(state.history)
                    checkpoint()
                if on_epoch is not None:
                    on_epoch(row)
        except KeyboardInterrupt as exc:
            if not signals.busy:  # between two pieces of work: the position reached is consistent
                signals.busy = True  # a further signal must not cut this checkpoint short
                checkpoint()
            raise Interrupted(_position(run, saved, per_epoch)) from exc
        except OSError as exc:  # a full disk or a read-only directory while writing the run's files
            if saved is None:
                then = f"start the run again (no checkpoint was written yet, so {run.path} cannot be resumed)"
            else:
                then = (f"continue with --resume --run-dir {run.path} ({run.path / LAST} holds {saved[0]} epoch(s) and "
                        f"{saved[1]} of {per_epoch} steps into the next)")
            raise QrktError(os_error_sentence(exc, then=then)) from exc


@contextlib.contextmanager
def preparing(run: RunDirectory):
    """Inside, a run's preparation (model, noise, data, tokenizer): an interrupt there says nothing was trained.

    Raises:
        Interrupted: on Ctrl-C (or SIGTERM where the caller turns it into one), saying that
            ``last.pt`` is as it was.
    """
    try:
        yield
    except KeyboardInterrupt as exc:
        if isinstance(exc, Interrupted):
            raise
        kept = (f"{run.path / LAST} is as it was; continue with --resume --run-dir {run.path}" if run.resume
                else "nothing was trained, so start the run again")
        raise Interrupted(f"while preparing the run, before its first step: {kept}") from exc


def _position(run: RunDirectory, saved: tuple[int, int] | None, per_epoch: int) -> str:
    """What the run's ``last.pt`` holds, for the interrupt's message."""
    if saved is None:
        return f"no checkpoint was written yet, so {run.path} cannot be resumed"
    return (f"{run.path / LAST} holds {saved[0]} epoch(s) and {saved[1]} of {per_epoch} steps into the next; "
            f"continue with --resume --run-dir {run.path}")


class NonFiniteLossError(QrktError):
    """A step's loss was NaN or infinite: the run stopped before writing anything of it."""


def _check_finite(shown: dict[str, float], global_step: int, run: RunDirectory, saved: tuple[int, int] | None) -> None:
    bad = {k: v for k, v in shown.items() if not math.isfinite(v)}
    if bad:
        kept = ("no checkpoint was written yet" if saved is None
                else f"{run.path / LAST} keeps {saved[0]} epoch(s) and {saved[1]} step(s)")
        what = ", ".join(f"{k} = {v}" for k, v in bad.items())
        raise NonFiniteLossError(f"training diverged at step {global_step} ({what}); the run stopped and {kept}: "
                                 "lower the learning rate or check the data")


class _HeldSignals:
    """SIGINT, SIGTERM and SIGHUP (a closed terminal) arriving while work is in hand wait until it is done; a second does not."""

    def __init__(self):
        self.busy = False
        self.pending: int | None = None

    def __call__(self, signum, frame):
        if self.busy and self.pending is None:
            self.pending = signum
            print("\nqrkt: finishing the step in hand to checkpoint it (interrupt again to stop now and lose it)",
                  file=sys.stderr, flush=True)
            return
        raise KeyboardInterrupt(f"signal {signum}")

    @contextlib.contextmanager
    def held(self):
        """Signals inside are held; leaving, a held one is raised (the work is done, the position consistent)."""
        self.busy = True
        yield
        self.busy = False
        if self.pending is not None:
            signum, self.pending = self.pending, None
            raise KeyboardInterrupt(f"signal {signum}")

    @contextlib.contextmanager
    def installed(self):
        """This object handles SIGINT, SIGTERM and SIGHUP inside (in the main thread; elsewhere nothing changes)."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.signal(sig, self) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
