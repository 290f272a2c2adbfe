"""A run directory's config.json read back without torch: a mistaken path is refused before the heavy imports."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["expect_kind", "read_stored_config"]


def expect_kind(run_dir: str | Path, kind: str) -> dict:
    """``run_dir``'s ``config.json``, after checking the directory holds a ``kind`` run (one sentence if not)."""
    data = _config_json(run_dir)
    found = _kind(run_dir, data)
    if found != kind:
        made = {"classification": "qrkt train", "gan": "qrkt gan train"}
        takes = {"classification": "a classification run (qrkt train)", "gan": "a GAN run (qrkt gan train)"}[kind]
        raise ValueError(f"{run_dir} holds a {found} run ({made[found]}), but this takes {takes}")
    return data


def read_stored_config(run_dir: str | Path, kind: str, from_dict: Callable[[dict], Any]) -> Any:
    """The config of ``run_dir``'s ``config.json`` (a ``kind`` run), made by ``from_dict`` from its data.

    Raises:
        FileNotFoundError: if it has no ``config.json``.
        ValueError: if it holds another kind of run, or a value ``from_dict`` refuses (one
            sentence naming the file: it was edited by hand).
    """
    data = expect_kind(run_dir, kind)
    try:
        return from_dict(data["train"] if kind == "classification" else data)
    except ValueError as exc:
        raise ValueError(f"{Path(run_dir) / 'config.json'}: {exc}; was it edited by hand?") from None


def _config_json(run_dir: str | Path):
    path = Path(run_dir) / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"{run_dir} is not a run directory: it has no config.json")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path} is not valid JSON ({str(exc).splitlines()[0]}); was it edited by hand?") from None


def _kind(run_dir: str | Path, data) -> str:
    if isinstance(data, dict) and isinstance(data.get("train"), dict):
        return "classification"
    if isinstance(data, dict) and "n_critic" in data:
        return "gan"
    raise ValueError(f"{Path(run_dir) / 'config.json'} was not written by qrkt train or qrkt gan train")
