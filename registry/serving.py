"""Serving: single-worker uvicorn processes sharing a port through SO_REUSEPORT.

Each process creates its own listening socket with ``IPPROTO_TCP`` (so that
accepted sockets get ``TCP_NODELAY``, unlike ``uvicorn --workers N``) and
``SO_REUSEPORT``: the kernel spreads new connections across the processes,
where a single shared socket would leave keep-alive clients piled on one.
"""

from __future__ import annotations

import multiprocessing as mp
import signal
import socket
from collections.abc import Callable
from typing import Any


def listening_socket(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _serve_one(
    factory: Callable[[], Any], host: str, port: int, log_level: str, forwarded_allow_ips: str | None = None
) -> None:
    import uvicorn

    sock = listening_socket(host, port)
    config = uvicorn.Config(
        factory(),
        log_level=log_level,
        access_log=False,
        proxy_headers=True,
        forwarded_allow_ips=forwarded_allow_ips,  # None: uvicorn's default (127.0.0.1 or $FORWARDED_ALLOW_IPS)
    )
    uvicorn.Server(config).run(sockets=[sock])


def serve_processes(
    factory: Callable[[], Any],
    host: str,
    port: int,
    processes: int,
    log_level: str = "warning",
    forwarded_allow_ips: str | None = None,
) -> None:
    """Run ``processes`` single-worker servers on one port until SIGINT/SIGTERM."""
    if processes <= 1:
        _serve_one(factory, host, port, log_level, forwarded_allow_ips)
        return
    ctx = mp.get_context("spawn")
    args = (factory, host, port, log_level, forwarded_allow_ips)
    children = [ctx.Process(target=_serve_one, args=args) for _ in range(processes)]
    for child in children:
        child.start()

    def _stop(_signum: int, _frame: Any) -> None:
        for child in children:
            if child.is_alive():
                child.terminate()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    for child in children:
        child.join()
