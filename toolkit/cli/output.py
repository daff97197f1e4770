"""Rendering helpers shared by every command module.

Commands with ``--json`` print exactly one JSON document on stdout; all
human output goes through Rich; errors go to stderr as one line.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def _plain(obj: Any) -> Any:
    if isinstance(obj, BaseModel):
        return obj.model_dump(mode="json")
    if isinstance(obj, list | tuple):
        return [_plain(o) for o in obj]
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    return obj


def print_json(obj: Any) -> None:
    """One JSON document on stdout, nothing else (safe for scripts)."""
    sys.stdout.write(json.dumps(_plain(obj), indent=2, default=str, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def print_table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    table = Table(title=title, show_lines=False)
    for col in columns:
        table.add_column(col, overflow="fold")
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    console.print(table)


def info(message: str) -> None:
    """Progress/status text for humans: stderr, so --json stdout stays clean."""
    err_console.print(message)


def error_line(message: str) -> None:
    # Rich markup off: messages carry user paths and brackets verbatim.
    err_console.print(f"error: {message}", markup=False)
