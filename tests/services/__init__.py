"""Real services started for tests (and reused by bench/): S3, PostgreSQL, Ray, Label Studio, a browser."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A localhost TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
