"""Mean ± std over seeds of every arm's test accuracy, from run records named ``<arm>-s<seed>/``,
then Welch's t for every pair of arms with two or more seeds each.

    python docs/runs/seeds_table.py [RUNS_DIR]   # default: docs/runs/digits-screen (the issue-18 screen)
    python docs/runs/seeds_table.py docs/runs/mnist-seeds
    python docs/runs/seeds_table.py docs/runs/imdb-seeds
"""

import itertools
import json
import math
import statistics
import sys
from collections import defaultdict
from pathlib import Path

root = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent / "digits-screen")
arms = defaultdict(list)
for summary in sorted(root.glob("*-s*/summary.json")):
    arm = summary.parent.name.rsplit("-s", 1)[0]
    arms[arm].append(json.loads(summary.read_text()))
accuracy = {arm: [100 * r["test_accuracy"] for r in runs] for arm, runs in arms.items()}
print("| arm | seeds | test accuracy (mean ± std) | per seed | test AUC (mean) | parameters | qubits |")
print("|---|---:|---:|---|---:|---:|---:|")
for arm, runs in sorted(arms.items(), key=lambda kv: -statistics.mean(accuracy[kv[0]])):
    acc = accuracy[arm]
    spread = f" ± {statistics.stdev(acc):.1f}" if len(acc) > 1 else ""
    print(f"| {arm} | {len(runs)} | {statistics.mean(acc):.1f}{spread} % | {', '.join(f'{a:.1f}' for a in acc)} "
          f"| {statistics.mean(r['test_auc'] for r in runs):.4f} | {runs[0]['parameters']:,} "
          f"| {runs[0].get('qubits') or '–'} |")

print("\nWelch's t of the test accuracy (first arm minus second):")
for a, b in itertools.combinations(sorted(arm for arm in accuracy if len(accuracy[arm]) > 1), 2):
    x, y = accuracy[a], accuracy[b]
    error = math.sqrt(statistics.variance(x) / len(x) + statistics.variance(y) / len(y))
    difference = statistics.mean(x) - statistics.mean(y)
    print(f"  {a} - {b}: {difference:+.1f} points, t = {difference / error:+.1f}" if error else
          f"  {a} - {b}: {difference:+.1f} points, no spread")
