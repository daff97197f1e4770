"""Named fault points for crash tests: an environment hook that only tests set.

``PITLANE_FAULT_POINT=NAME:N`` kills this process with SIGKILL the N-th time
it reaches ``point(NAME)`` (``NAME:N:enospc`` raises "No space left on device"
there instead); ``PITLANE_FAULT_TRACE=FILE`` appends every point reached to
FILE, one name a line, so a test can enumerate the points of an uninterrupted
run. With neither variable set ``point`` costs one dictionary lookup.
"""

from __future__ import annotations

import errno
import os
import signal

_hits: dict[str, int] = {}


def point(name: str) -> None:
    """A place where a crash must leave state that the next run repairs by itself."""
    trace = os.environ.get("PITLANE_FAULT_TRACE")
    spec = os.environ.get("PITLANE_FAULT_POINT")
    if not trace and not spec:
        return
    if trace:
        with open(trace, "a", encoding="utf-8") as fh:
            fh.write(name + "\n")
    if not spec:
        return
    target, _, rest = spec.partition(":")
    if target != name:
        return
    count, _, action = rest.partition(":")
    _hits[name] = _hits.get(name, 0) + 1
    if _hits[name] != int(count or "1"):
        return
    if action == "enospc":
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    os.kill(os.getpid(), signal.SIGKILL)
