"""What the toolkit writes for people and for resuming: files replaced atomically, figures, tables, progress.

Every file a run or a study writes goes through `atomic_path`, so a crash (or a second
process) at any moment leaves the old file or the new one, never half of one: the bytes go
to a temporary file with a unique name beside the target, reach the disk (``fsync``), and
``os.replace`` swaps them in (atomic on POSIX and Windows).
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from tqdm.auto import tqdm
from tqdm.autonotebook import tqdm as widget_or_text  # the notebook's widget in Jupyter, else the text bar
from tqdm.std import tqdm as text_bar

__all__ = ["ProgressBar", "atomic_path", "figure", "markdown_table", "save_figure", "write_csv", "write_text"]


class ProgressBar(tqdm):
    """A tqdm bar (same arguments) on a terminal; where stderr is no terminal, one line as it closes instead.

    A bar redraws its line up to ten times a second: one line on a terminal, thousands in a
    log file (7,699 updates, 571 KB, for one demo). In a log each bar writes what it did
    (``epoch 3/30: 40/40 done in 2.1 s``). A notebook keeps tqdm's own widget.
    """

    def __init__(self, iterable=None, *args, **kwargs):
        self._one_line = not kwargs.get("disable") and widget_or_text is text_bar and not sys.stderr.isatty()
        if self._one_line:
            kwargs["disable"] = True
            self._began, self._desc = time.perf_counter(), kwargs.get("desc")
        super().__init__(iterable, *args, **kwargs)

    def update(self, n=1):
        if self._one_line:
            self.n += n
        return super().update(n)

    def __iter__(self):
        if not self._one_line:
            yield from super().__iter__()
            return
        for item in self.iterable:
            yield item
            self.n += 1

    def close(self):
        if getattr(self, "_one_line", False):
            self._one_line = False  # once
            done = f"{self.n}" if self.total is None else f"{self.n}/{self.total}"
            tqdm.write(f"{self._desc or 'progress'}: {done} done in {time.perf_counter() - self._began:.1f} s",
                       file=sys.stderr)
        super().close()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A fresh temporary path beside ``path`` to write to; on leaving, synced and renamed over ``path``.

    The temporary name keeps ``path``'s suffix (libraries choose a format by it) and is
    unique, so two writers never share one. On an exception the temporary file is removed
    and ``path`` is untouched; an `OSError` about the temporary file (a full disk, a
    read-only directory) names ``path``, the file the user knows.
    """
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}")
    except OSError as exc:
        exc.filename = str(path)
        raise
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.filename in (None, str(tmp)):
            exc.filename, exc.filename2 = str(path), None
        raise


def write_text(path: str | os.PathLike, text: str) -> None:
    """Replace ``path`` with ``text`` (UTF-8) atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_csv(rows: Sequence[dict], path: str | os.PathLike, fieldnames: Sequence[str] | None = None) -> None:
    """``rows`` as CSV (header: ``fieldnames``, else the first row's keys), replacing ``path`` atomically."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(fieldnames if fieldnames is not None else rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    write_text(path, buffer.getvalue())


def markdown_table(head: Sequence[str], rows: Iterable[Sequence], *, numeric: int = 0) -> str:
    """A markdown table; the last ``numeric`` columns are right-aligned."""
    align = ["---"] * (len(head) - numeric) + ["---:"] * numeric
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def figure(*, figsize: tuple[float, float], ncols: int = 1):
    """A matplotlib figure and its axes (one per column), with no pyplot state and no display needed."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    axes = [fig.add_subplot(1, ncols, i + 1) for i in range(ncols)]
    return fig, axes[0] if ncols == 1 else axes


def save_figure(fig, path: str | os.PathLike, *, dpi: int = 100) -> None:
    """Write ``fig`` to ``path`` (format from its suffix) atomically."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi)
