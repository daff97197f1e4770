"""`pitlane data info PATH [--json]`: one bag's summary from its index (like `rosbag info`).

No ``register`` here on purpose: the data command group attaches this command
through :func:`add_info_command`, so the bags part owns it without a second
``data`` group. Heavy imports stay inside the command (CLI start-up time).
"""

from __future__ import annotations

from pathlib import Path

import typer

from toolkit.bags.summary import BagSummary
from toolkit.cli.output import console, print_json, print_table


def info_command(
    path: Path = typer.Argument(..., help="A ROS 1 .bag, an .mcap file, a rosbag2 directory or a .db3 file."),
    json_out: bool = typer.Option(False, "--json", help="Print the BagSummary as one JSON document."),
    no_hash: bool = typer.Option(False, "--no-hash", help="Skip md5/sha256 (they read every byte of the bag)."),
) -> None:
    """Show a bag's topics, counts, time range and GNSS extent without ingesting it."""
    from toolkit.bags import index

    summary = index(path.absolute(), hashes=not no_hash)
    if json_out:
        print_json(summary)
        return
    render_summary(summary)


def add_info_command(data_app: typer.Typer) -> None:
    """Attach ``info`` to the ``pitlane data`` group."""
    data_app.command("info")(info_command)


def render_summary(s: BagSummary) -> None:
    rows: list[tuple[str, str]] = [
        ("path", s.path),
        ("format", s.format.value + (f" ({len(s.files)} files)" if len(s.files) > 1 else "")),
        ("size", _size(s.size_bytes)),
        ("duration", f"{s.duration_s:.3f} s"),
        ("start", f"{s.start_iso} ({s.start_ns})" if s.start_ns is not None else "-"),
        ("end", f"{s.end_iso} ({s.end_ns})" if s.end_ns is not None else "-"),
        ("messages", str(s.message_count)),
        ("compression", s.compression),
        ("indexed by", s.indexed_by),
    ]
    if s.md5:
        rows.append(("md5", s.md5))
    if s.gnss is not None:
        lat0, lon0, lat1, lon1 = s.gnss.bbox
        rows.append(
            ("gnss", f"{s.gnss.topic}: {s.gnss.fixes} fixes, bbox {lat0:.6f},{lon0:.6f} .. {lat1:.6f},{lon1:.6f}")
        )
    for key, value in sorted(s.tags.items()):
        rows.append((f"tag {key}", value))
    if s.notes:
        rows.append(("notes", s.notes))
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        console.print(f"{key + ':':<{width + 1}} {value}", markup=False)
    for warning in s.warnings:
        console.print(f"warning: {warning}", markup=False, style="yellow")
    if s.topics:
        print_table(
            None,
            ["topic", "type", "messages", "Hz", "decodable"],
            (
                (
                    t.name,
                    t.type,
                    t.count,
                    f"{t.frequency_hz:.2f}" if t.frequency_hz else "",
                    "yes" if t.decodable else "no",
                )
                for t in s.topics
            ),
        )


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.1f} {unit}" if unit != "B" else f"{n} B"
        value /= 1024
    return f"{n} B"
