"""What a run directory shows: evaluations.csv kept whole when several evaluations finish at once."""

import csv
import multiprocessing

from qrkt_qiskit.training.report import EVALUATIONS, append_evaluation


def _append(run_dir, writer: int, rows: int) -> None:
    for row in range(rows):
        append_evaluation(run_dir, {"writer": writer, "row": row})


def test_evaluations_appended_by_two_processes_at_once_keep_every_row(tmp_path):
    context = multiprocessing.get_context("fork")  # the children only write files
    writers = [context.Process(target=_append, args=(tmp_path, writer, 200)) for writer in range(2)]
    for w in writers:
        w.start()
    for w in writers:
        w.join(timeout=300)
    assert [w.exitcode for w in writers] == [0, 0]
    with open(tmp_path / EVALUATIONS) as f:
        rows = [(int(r["writer"]), int(r["row"])) for r in csv.DictReader(f)]
    assert sorted(rows) == [(writer, row) for writer in range(2) for row in range(200)]
    assert [row for writer, row in rows if writer == 0] == list(range(200))  # each writer's rows in its order
