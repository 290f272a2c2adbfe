"""Mean ± std over seeds of every arm's test accuracy, from run records named ``<arm>-s<seed>/``.

    python docs/runs/seeds_table.py [RUNS_DIR]   # default: docs/runs/digits-screen (the issue-18 screen)
    python docs/runs/seeds_table.py docs/runs/mnist-seeds
"""

import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path

root = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent / "digits-screen")
arms = defaultdict(list)
for summary in sorted(root.glob("*-s*/summary.json")):
    arm = summary.parent.name.rsplit("-s", 1)[0]
    arms[arm].append(json.loads(summary.read_text()))
print("| arm | seeds | test accuracy (mean ± std) | test AUC (mean) | parameters | qubits |")
print("|---|---:|---:|---:|---:|---:|")
for arm, runs in sorted(arms.items(), key=lambda kv: -statistics.mean(r["test_accuracy"] for r in kv[1])):
    acc = [100 * r["test_accuracy"] for r in runs]
    print(f"| {arm} | {len(runs)} | {statistics.mean(acc):.1f} ± {statistics.stdev(acc) if len(acc) > 1 else 0:.1f} % "
          f"| {statistics.mean(r['test_auc'] for r in runs):.4f} | {runs[0]['parameters']:,} | {runs[0].get('qubits', '-')} |")
