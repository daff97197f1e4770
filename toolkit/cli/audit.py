"""`pitlane audit`: read and verify the registry's hash-chained audit log."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from toolkit.cli import output

audit_app = typer.Typer(help="The registry's append-only audit log.", no_args_is_help=True)


@audit_app.command("list")
def list_cmd(
    target: str | None = typer.Option(None, "--target", "-t", help="target prefix, e.g. package:perception/"),
    action: str | None = typer.Option(None, "--action", "-a", help="e.g. channel.set"),
    limit: int = typer.Option(50, "--limit", "-n", min=1, max=10_000),
    json_out: bool = typer.Option(False, "--json", help="print one JSON document"),
) -> None:
    """Newest events first (registry admins)."""
    from toolkit.client import connect

    with connect() as client:
        events = client.audit_events(target=target, action=action, limit=limit)
    if json_out:
        output.print_json(events)
        return
    output.print_table(
        None,
        ["#", "time", "actor", "action", "target", "change"],
        [
            (e.seq, f"{e.time:%Y-%m-%d %H:%M:%S}", e.actor, e.action, e.target, _change(e.before, e.after))
            for e in events
        ],
    )


def _short(value: object) -> str:
    text = json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


def _change(before: object, after: object) -> str:
    if before is None:
        return f"+ {_short(after)}" if after is not None else ""
    if after is None:
        return f"- {_short(before)}"
    return f"{_short(before)} -> {_short(after)}"


@audit_app.command("checkpoint")
def checkpoint_cmd(
    out: Path | None = typer.Option(None, "--out", "-o", help="write the checkpoint here (default: stdout)"),
) -> None:
    """Export the signed head of the audit chain; keep it outside the registry for `audit verify --checkpoint`."""
    from toolkit.client import connect

    with connect() as client:
        cp = client.audit_checkpoint()
    text = cp.model_dump_json() + "\n"
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text)
        output.info(f"checkpoint of event {cp.seq} written to {out}")


@audit_app.command("verify")
def verify_cmd(
    checkpoints: list[Path] = typer.Option(
        [], "--checkpoint", "-c", help="a file from `pitlane audit checkpoint` (repeatable): catches a cut-back log"
    ),
    json_out: bool = typer.Option(False, "--json", help="print one JSON document"),
) -> None:
    """Recompute the keyed hash chain; exit 1 naming the first bad event if any row was edited or deleted."""
    from registry.schemas import AuditCheckpoint
    from toolkit.client import connect
    from toolkit.errors import IntegrityError, UserError

    loaded = []
    for path in checkpoints:
        try:
            loaded.append(AuditCheckpoint.model_validate_json(path.read_text()))
        except (OSError, ValueError) as exc:
            detail = str(exc).splitlines()[0]
            raise UserError(f"{path}: not a checkpoint from `pitlane audit checkpoint` ({detail})") from None
    with connect() as client:
        report = client.audit_verify(loaded)
    if json_out:
        output.print_json(report)
    if not report.ok:
        raise IntegrityError(f"audit log broken at event {report.first_bad_seq}: {report.reason}")
    if not json_out:
        extra = f" and {len(loaded)} checkpoint(s)" if loaded else ""
        output.info(f"audit log intact: {report.checked} events verified{extra}")


def register(app: typer.Typer) -> None:
    app.add_typer(audit_app, name="audit")
