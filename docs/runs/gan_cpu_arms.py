"""Issue 35's three arms on full MNIST at 32×32, the `cpu` preset and recipe, one budget of CPU-hours each.

TransGAN, TransGAN + the rk4_enh last block, QRKT-GAN: each trains one epoch at a time
(`qrkt gan train --resume --epochs N`, a snapshot of its EMA generator after every epoch), at
most SLOTS (2) processes of one thread at once, always the arm that has spent the least CPU
time next, until each has spent HOURS (4) CPU-hours in training steps. Stop it any time (kill
the driver and its children, or reboot): run `train` again and every arm resumes from its
last.pt (checkpoints every 200 steps).

    nohup python docs/runs/gan_cpu_arms.py train > $OUT/driver.log 2>&1 &   # background, resumable
    python docs/runs/gan_cpu_arms.py status       # epochs, steps and CPU-hours of each arm
    python docs/runs/gan_cpu_arms.py score        # FID 10k/10k with its floor and the classifier score (fid.json)
    python docs/runs/gan_cpu_arms.py curve        # every epoch's snapshot at 2,048 images: fid_curve.csv/png
    python docs/runs/gan_cpu_arms.py record       # the small files into docs/runs/$NAME/<arm>/ (no checkpoints)
    python docs/runs/gan_cpu_arms.py peek         # a grid of each arm's EMA generator in last.pt, mid-epoch

Environment: OUT (/work/gan-runs/final), DATA (../shared/data), HOURS (4), SLOTS (2), SEED (0),
NAME (gan-cpu-arms-mnist), CODE (a folder holding the qrkt_qiskit package to run instead of the
checkout's, e.g. a frozen copy; default: the checkout's), SAMPLES (10000), CURVE_SAMPLES (2048).
"""

import csv
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
OUT = Path(os.environ.get("OUT", "/work/gan-runs/final"))
DATA = os.environ.get("DATA", str(REPO.parent / "shared" / "data"))
HOURS, SLOTS, SEED = float(os.environ.get("HOURS", 4)), int(os.environ.get("SLOTS", 2)), int(os.environ.get("SEED", 0))
NAME = os.environ.get("NAME", "gan-cpu-arms-mnist")
ARMS = {"transgan": ["--classical"], "transgan-rk4_enh": ["--classical", "--ode", "rk4_enh"], "qrkt-gan": ["--quantum"]}
MAX_EPOCHS = 100  # a guard only: the budget ends every arm long before


def qrkt(*args: str) -> list[str]:
    return [sys.executable, "-m", "qrkt_qiskit", "--threads", "1", *args]


def environment() -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    if os.environ.get("CODE"):
        env["PYTHONPATH"] = os.environ["CODE"]
    return env


def position(arm: str) -> tuple[int, float]:
    """Epochs finished and CPU-seconds spent, from the arm's metrics.csv (0, 0 before its first epoch)."""
    path = OUT / arm / "metrics.csv"
    if not path.is_file():
        return 0, 0.0
    rows = list(csv.DictReader(path.open()))
    return (len(rows), float(rows[-1].get("cpu_seconds") or 0)) if rows else (0, 0.0)


def command(arm: str) -> list[str]:
    run_dir = OUT / arm
    epochs = position(arm)[0] + 1
    if (run_dir / "config.json").is_file():
        return qrkt("gan", "train", "--resume", "--run-dir", str(run_dir), "--epochs", str(epochs), "--no-progress")
    return qrkt("gan", "train", *ARMS[arm], "--preset", "cpu", "--recipe", "cpu", "--dataset", "mnist", "--data-root",
                DATA, "--epochs", str(epochs), "--snapshot-every", "1", "--checkpoint-every", "200", "--seed", str(SEED),
                "--run-dir", str(run_dir), "--no-progress")


def train() -> None:
    """Keep SLOTS arms training, one epoch per process, the one with the least CPU time first, until the budget."""
    OUT.mkdir(parents=True, exist_ok=True)
    running: dict[str, subprocess.Popen] = {}
    while True:
        for arm, process in list(running.items()):
            if process.poll() is not None:
                print(f"{time.strftime('%H:%M:%S')} {arm}: exit {process.returncode}, {position(arm)}", flush=True)
                del running[arm]
        waiting = sorted((position(arm)[1], arm) for arm in ARMS if arm not in running
                         and position(arm)[1] < HOURS * 3600 and position(arm)[0] < MAX_EPOCHS)
        if not running and not waiting:
            print("every arm has spent its budget", flush=True)
            return
        for _, arm in waiting[:SLOTS - len(running)]:
            with open(OUT / f"{arm}.log", "a") as log:
                running[arm] = subprocess.Popen(command(arm), cwd=REPO, env=environment(), stdout=log,
                                                stderr=subprocess.STDOUT)
            print(f"{time.strftime('%H:%M:%S')} {arm}: pid {running[arm].pid}: {' '.join(command(arm)[3:])}", flush=True)
        time.sleep(30)


LAST = """
import sys
from qrkt_qiskit.training.checkpoint import load_checkpoint
state = load_checkpoint(sys.argv[1])["state"]
print(f"last.pt: {state['g_steps']} generator steps, {state.get('cpu_seconds', 0) / 3600:.2f} CPU-hours")
"""


def status() -> None:
    """Each arm's finished epochs and CPU-hours (metrics.csv), and where its last.pt is (mid-epoch)."""
    for arm in ARMS:
        epochs, cpu = position(arm)
        last = OUT / arm / "last.pt"
        where = subprocess.run([sys.executable, "-c", LAST, str(last)], cwd=REPO, env=environment(), text=True,
                               capture_output=True).stdout.strip() if last.is_file() else "no last.pt yet"
        print(f"{arm}: {epochs} epoch(s), {cpu / 3600:.2f} of {HOURS:g} CPU-hours; {where}")


def score(curve: bool) -> None:
    runs = [str(OUT / arm) for arm in ARMS if (OUT / arm / "last.pt").is_file()]
    if curve:
        for run in runs:
            subprocess.run(qrkt("gan", "fid", run, "--curve", "--samples", os.environ.get("CURVE_SAMPLES", "2048"),
                                "--no-progress"), cwd=REPO, env=environment(), check=True)
    else:
        subprocess.run(qrkt("gan", "fid", *runs, "--samples", os.environ.get("SAMPLES", "10000"), "--no-progress"),
                       cwd=REPO, env=environment(), check=True)


def record() -> None:
    for arm in ARMS:
        source, target = OUT / arm, REPO / "docs" / "runs" / NAME / arm
        target.mkdir(parents=True, exist_ok=True)
        for name in ("config.json", "metrics.csv", "summary.json", "fid.json", "fid_curve.csv", "fid_curve.png",
                     "curves.png"):
            if (source / name).is_file():
                shutil.copy(source / name, target / name)
        grids = sorted((source / "samples").glob("epoch_*.png"))
        for grid in grids[-1:]:  # the last grid only: the small records, not every epoch's
            shutil.copy(grid, target / grid.name)
    print(json.dumps({arm: position(arm) for arm in ARMS}))


PEEK = """
import sys
from pathlib import Path
from qrkt_qiskit.training.gan_report import save_sample_grid
from qrkt_qiskit.training.gan_snapshots import load_last
config, position, generator = load_last(sys.argv[1])
name = f"step_{position['generator_steps']:06d}.png"
save_sample_grid(generator, 64, Path(sys.argv[2]) / name, seed=config.seed,
                 title=f"{Path(sys.argv[1]).name}: EMA generator after {position['generator_steps']} generator steps "
                       f"({position['cpu_seconds'] / 3600:.2f} CPU-hours)")
print(sys.argv[1], position)
"""


def peek() -> None:
    """A grid of each arm's EMA generator as its last.pt holds it (mid-epoch), into docs/runs/$NAME/<arm>/."""
    for arm in ARMS:
        if (OUT / arm / "last.pt").is_file():
            target = REPO / "docs" / "runs" / NAME / arm
            target.mkdir(parents=True, exist_ok=True)
            subprocess.run([sys.executable, "-c", PEEK, str(OUT / arm), str(target)], cwd=REPO, env=environment(),
                           check=True)


if __name__ == "__main__":
    action = sys.argv[1] if len(sys.argv) > 1 else ""
    actions = {"train": train, "status": status, "score": lambda: score(False), "curve": lambda: score(True),
               "record": record, "peek": peek}
    if action not in actions:
        sys.exit(f"usage: gan_cpu_arms.py {'|'.join(actions)}")
    actions[action]()
