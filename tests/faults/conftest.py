"""Counts the kill points the fault suite really delivered, per command, and prints them at the end."""

from __future__ import annotations

from collections import Counter

import pytest

KILLS: Counter[str] = Counter()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not KILLS:
        return
    terminalreporter.section("kill points per command")
    for command, n in sorted(KILLS.items()):
        terminalreporter.write_line(f"{command}: {n}")
    terminalreporter.write_line(f"total: {sum(KILLS.values())}")
