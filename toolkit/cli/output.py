"""Rendering helpers shared by every command module.

Commands with ``--json`` print exactly one JSON document on stdout; all
human output goes through Rich; errors go to stderr as one line.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console


@cache
def _console(stderr: bool) -> Console:
    # Rich loads on first use: a command that prints one status line should not pay ~40 ms for it.
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def __getattr__(name: str) -> Console:
    if name == "console":
        return _console(False)
    if name == "err_console":
        return _console(True)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _plain(obj: Any) -> Any:
    if isinstance(obj, list | tuple):
        return [_plain(o) for o in obj]
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if obj is None or isinstance(obj, str | int | float):
        return obj
    from pydantic import BaseModel  # only for what may be a model: not once per list element

    return obj.model_dump(mode="json") if isinstance(obj, BaseModel) else obj


def print_json(obj: Any) -> None:
    """One JSON document on stdout, nothing else (safe for scripts)."""
    sys.stdout.write(json.dumps(_plain(obj), indent=2, default=str, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def print_table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    from rich.table import Table

    table = Table(title=title, show_lines=False)
    for col in columns:
        table.add_column(col, overflow="fold")
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    _console(False).print(table)


def info(message: str) -> None:
    """Progress/status text for humans: stderr, so --json stdout stays clean; printed verbatim (paths may hold [])."""
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def error_line(message: str) -> None:
    sys.stderr.write(f"error: {message}\n")
    sys.stderr.flush()
