"""`pitlane serve`: run the registry with uvicorn (one worker; run several processes to scale)."""

from __future__ import annotations

import typer

from toolkit.cli import output


def serve_command(
    host: str = typer.Option("127.0.0.1", "--host", help="interface to listen on"),
    port: int = typer.Option(8000, "--port", help="TCP port", min=0, max=65535),
    log_level: str = typer.Option("warning", "--log-level", help="uvicorn log level"),
    processes: int = typer.Option(
        1, "--processes", min=1, max=64, help="single-worker processes sharing the port (SO_REUSEPORT)"
    ),
    forwarded_allow_ips: str | None = typer.Option(
        None,
        "--forwarded-allow-ips",
        help="TLS proxy addresses whose X-Forwarded-Proto/For are trusted (comma-separated; default 127.0.0.1): "
        "session cookies are then Secure",
    ),
) -> None:
    """Serve the registry API and web pages on PITLANE_DATABASE_URL (SQLite in PITLANE_HOME by default).

    On first start it creates a registry admin and prints its token once.
    """
    import uvicorn

    from registry.bootstrap import ensure_admin_token
    from registry.main import create_app

    app = create_app()
    token = ensure_admin_token(app.state.db)
    if token:
        output.info("first start: created registry admin 'admin'; its token (shown once, store it now):")
        typer.echo(token)
    output.info(f"registry on http://{host}:{port} (database: {app.state.db.dialect}, processes: {processes})")
    if processes > 1:
        from registry.serving import serve_processes

        app.state.db.dispose()
        serve_processes(create_app, host, port, processes, log_level, forwarded_allow_ips)
        return
    # One worker per process: uvicorn's multi-worker socket lacks TCP_NODELAY (see docs/registry.md).
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level=log_level,
        workers=1,
        proxy_headers=True,
        forwarded_allow_ips=forwarded_allow_ips,  # None: uvicorn's default (127.0.0.1 or $FORWARDED_ALLOW_IPS)
    )


def register(app: typer.Typer) -> None:
    app.command("serve")(serve_command)
