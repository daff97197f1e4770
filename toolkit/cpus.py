"""How many CPUs this process may run on: what worker pools and parallel copies size themselves by."""

from __future__ import annotations

import os


def usable_cpus() -> int:
    """CPUs in this process's affinity mask (a container or ``taskset`` limit), else all of them."""
    if hasattr(os, "sched_getaffinity"):  # Linux; macOS and Windows have no affinity call
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1
