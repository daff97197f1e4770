"""`pitlane data ...`: the data repo (init, add, rm, tag, reindex), search, slice, lineage."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from toolkit.cli.output import err_console, info, print_json, print_table
from toolkit.errors import UserError

if TYPE_CHECKING:
    from types import ModuleType

    from toolkit.data.repo import DataRepo


def _api() -> ModuleType:
    # toolkit.data.api pulls in SQLAlchemy: import it when a data command runs, not on every `pitlane` start.
    from toolkit.data import api

    return api


data_app = typer.Typer(help="Bag data: a Git+DVC data repo, its catalog and search.", no_args_is_help=True)

REPO_OPT = typer.Option(None, "--repo", "-C", help="Data repo (default: the one containing the current directory).")


def _repo(path: Path | None) -> DataRepo:
    return _api().open_repo(path)


@data_app.command("init")
def init_cmd(
    path: Path = typer.Argument(Path("."), help="Directory of the new data repo."),
    remote: str | None = typer.Option(None, help="DVC remote URL, e.g. s3://bucket/prefix."),
    endpoint: str | None = typer.Option(None, help="S3 endpoint URL (MinIO, SeaweedFS, ...)."),
) -> None:
    """Create a data repo: git init + dvc init (+ default remote)."""
    repo = _api().init_repo(path, remote=remote, endpoint=endpoint)
    info(f"data repo ready at {repo.root}")


@data_app.command("add")
def add_cmd(
    paths: list[Path] = typer.Argument(..., help="Bag files, rosbag2 directories, or directories to search for bags."),
    copy: bool = typer.Option(
        False,
        "--copy",
        help="Copy bags from outside the repo into its bags/ directory (staged: only accepted bags arrive there).",
    ),
    tag: list[str] = typer.Option([], "--tag", "-t", help="key=value tag for every added bag (repeatable)."),
    workers: int = typer.Option(0, "--workers", "-j", help="Index workers (0 = CPU count)."),
    json_out: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    repo_path: Path | None = REPO_OPT,
) -> None:
    """Index, `dvc add` and commit bags; bad bags are reported and skipped."""
    repo = _repo(repo_path)
    tags = _api().parse_tag_args(tag)
    with Progress(
        TextColumn("indexing"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
        console=err_console,
        transient=True,
        disable=json_out,
    ) as bar:
        task = bar.add_task("", total=None)

        def progress(done: int, total: int, path: str) -> None:
            bar.update(task, completed=done, total=total, description=Path(path).name)

        report = _api().add_bags(repo, paths, copy=copy, tags=tags, workers=workers, progress=progress)
    if json_out:
        print_json(
            {
                "added": [{"id": sc.id, "path": sc.path} for sc in report.added],
                "already": [{"path": p, "catalogued_as": c} for p, c in report.already],
                "failed": [{"path": p, "error": e} for p, e in report.failed],
                "commit": report.commit,
            }
        )
    else:
        for sc in report.added:
            info(f"added {sc.path} ({sc.summary.message_count} messages, {len(sc.summary.topics)} topics)")
        for given, existing in report.already:
            alias = "" if Path(given).as_posix().endswith(existing) else f" (as {existing})"
            info(f"already ingested: {given}{alias}")
    for given, reason in report.failed:
        # Index errors already name the bag; do not say the path twice.
        err_console.print(f"error: {reason if given in reason else f'{given}: {reason}'}", markup=False)
    if report.failed:
        raise typer.Exit(1)


@data_app.command("rm")
def rm_cmd(
    bags: list[str] = typer.Argument(..., help="Bag paths or ids."),
    keep_file: bool = typer.Option(False, "--keep-file", help="Keep the bag in the working tree (untracked)."),
    repo_path: Path | None = REPO_OPT,
) -> None:
    """Stop tracking bags (their data stays in Git/DVC history)."""
    for sc in _api().remove_bags(_repo(repo_path), bags, keep_file=keep_file):
        info(f"removed {sc.path}")


@data_app.command("tag")
def tag_cmd(
    bag: str = typer.Argument(..., help="Bag path or id."),
    tags: list[str] = typer.Argument(None, help="key=value pairs."),
    remove: list[str] = typer.Option([], "--remove", "-r", help="Tag key to remove (repeatable)."),
    repo_path: Path | None = REPO_OPT,
) -> None:
    """Set or remove user tags on a bag (sidecar + catalog, committed)."""
    pairs = _api().parse_tag_args(tags or [])
    if not pairs and not remove:
        raise UserError("give key=value tags or --remove KEY")
    sc = _api().tag_bag(_repo(repo_path), bag, pairs, remove)
    info(f"{sc.path}: " + (" ".join(f"{k}={v}" for k, v in sc.all_tags().items()) or "no tags"))


@data_app.command("push")
def push_cmd(repo_path: Path | None = REPO_OPT) -> None:
    """Upload tracked bags to the default DVC remote (`git push` carries the sidecars)."""
    _api().push(_repo(repo_path))
    info("pushed")


@data_app.command("pull")
def pull_cmd(
    bags: list[str] = typer.Argument(None, help="Bag paths or ids (default: all)."),
    repo_path: Path | None = REPO_OPT,
) -> None:
    """Fetch bags from the DVC remote into the working tree."""
    _api().pull(_repo(repo_path), bags or [])
    info("pulled")


@data_app.command("reindex")
def reindex_cmd(
    events: bool = typer.Option(
        False, "--events", help="Recompute derived signals and events with the thresholds in pitlane.events.yaml."
    ),
    repo_path: Path | None = REPO_OPT,
) -> None:
    """Rebuild the catalog from the sidecars."""
    if events:
        from toolkit.data.derive import reindex_events

        rep = reindex_events(_repo(repo_path))
        info(f"events recomputed: {rep.from_bags} bag(s) read, {rep.from_series} from their signal series")
        return
    n = _api().reindex(_repo(repo_path))
    info(f"catalog rebuilt: {n} bags")


@data_app.command("fsck")
def fsck_cmd(
    fix: bool = typer.Option(False, "--fix", help="Remove what it finds (undoing the killed runs' uncommitted work)."),
    json_out: bool = typer.Option(False, "--json", help="Print what was found and fixed as JSON."),
    repo_path: Path | None = REPO_OPT,
) -> None:
    """List leftovers of killed runs (staging, locks, unfinished slices, stale catalog); --fix removes them."""
    report = _api().fsck(_repo(repo_path), fix=fix)
    if json_out:
        print_json({"found": report.found, "fixed": report.fixed})
    else:
        for line in report.found:
            info(f"found: {line}")
        for line in report.fixed:
            info(f"fixed: {line}")
        if not report.found:
            info("clean: nothing left by killed runs")
    if report.found and not fix:
        raise typer.Exit(1)


@data_app.command("search")
def search_cmd(
    query: list[str] = typer.Argument(None, help='Query, e.g. topic:/sensing/lidar/* duration>60 "rain".'),
    limit: int = typer.Option(50, "--limit", "-n", help="At most this many results."),
    json_out: bool = typer.Option(False, "--json", help="Print results as one JSON list."),
    repo_path: Path | None = REPO_OPT,
) -> None:
    """Search the catalog (see docs/data-search.md for the language)."""
    text = " ".join(query or [])
    repo = _repo(repo_path)
    resp = _api().search(repo.catalog, text, limit=limit, root=repo.root)
    if json_out:
        print_json(resp.results)
    elif any(r.events for r in resp.results):
        print_table(
            None,
            ["path", "event", "topic", "from", "to", "value"],
            [
                (
                    r.path,
                    h.kind + (f" {h.detail}" if h.detail else ""),
                    h.topic or "-",
                    f"+{h.offset_s:.1f}s",
                    f"+{h.offset_s + h.duration_s:.1f}s",
                    f"{h.value:.3g}",
                )
                for r in resp.results
                for h in r.events
            ],
        )
    else:
        print_table(
            None,
            ["path", "format", "start", "duration", "messages", "topics", "tags"],
            [
                (
                    r.path,
                    r.format,
                    r.start if r.start is not None else "-",
                    f"{r.duration_s:.1f}s",
                    r.messages,
                    len(r.topics),
                    " ".join(f"{k}={v}" for k, v in r.tags.items()),
                )
                for r in resp.results
            ],
        )
    for hint in resp.hints:
        info(hint)
    if not json_out:
        info(f"{len(resp.results)} bag(s)")


@data_app.command("fleet")
def fleet_cmd(
    query: list[str] = typer.Argument(None, help="Query, e.g. event:hard_brake after:2025-01-01."),
    by: str = typer.Option("vehicle", "--by", help="day, or a tag key: vehicle, route, driver, ..."),
    json_out: bool = typer.Option(False, "--json", help="Print the counts as one JSON list."),
    repo_path: Path | None = REPO_OPT,
) -> None:
    """Count events of the matching bags per vehicle / route / day: where the data has what you need."""
    from toolkit.data.fleet import event_counts

    counts = event_counts(_repo(repo_path).catalog, " ".join(query or []), by=by)
    if json_out:
        print_json(counts)
        return
    print_table(
        None, [by, "event", "events", "bags", "hours"], [(c.group, c.kind, c.events, c.bags, c.hours) for c in counts]
    )


@data_app.command("show")
def show_cmd(
    bag: str = typer.Argument(..., help="Bag path or id."),
    json_out: bool = typer.Option(False, "--json", help="Print the sidecar as JSON."),
    repo_path: Path | None = REPO_OPT,
) -> None:
    """Show a catalogued bag: summary, tags, lineage."""
    sc = _api().resolve_bag(_repo(repo_path), bag)
    if json_out:
        print_json(sc)
        return
    s = sc.summary
    info(f"{sc.path}  id {sc.id}  {s.format.value}  {s.size_bytes} bytes  {s.message_count} messages")
    start = s.start_iso if s.start_iso is not None else "-"
    info(f"start {start}  duration {s.duration_s:.3f}s  compression {s.compression}")
    if sc.all_tags():
        info("tags: " + " ".join(f"{k}={v}" for k, v in sc.all_tags().items()))
    print_table(
        None,
        ["topic", "type", "count", "Hz"],
        [(t.name, t.type, t.count, f"{t.frequency_hz:.2f}" if t.frequency_hz else "") for t in s.topics],
    )


@data_app.command("slice")
def slice_cmd(
    bag: str = typer.Argument(None, help="Bag path or id (or use --from-search)."),
    out: Path = typer.Option(..., "--output", "-o", help="Output bag (or directory with --from-search)."),
    start: str | None = typer.Option(
        None, "--start", help="Start, inclusive: seconds from bag start, an ISO time or epoch ns (default: none)."
    ),
    end: str | None = typer.Option(
        None, "--end", help="End, inclusive: seconds from bag start, -5s from its end, an ISO time (default: none)."
    ),
    topics: list[str] = typer.Option([], "--topics", "-t", help="Topic glob (repeatable); default all."),
    fmt: str | None = typer.Option(None, "--format", "-f", help="ros1, ros2 or mcap (default: the source's)."),
    from_search: str | None = typer.Option(
        None, "--from-search", help="Slice every bag this query matches (every matched event, with event terms)."
    ),
    pad: str | None = typer.Option(None, "--pad", help="With --from-search event terms: widen each event, e.g. 5s."),
    split_size: str | None = typer.Option(
        None,
        "--split-size",
        help="rosbag2 sqlite3 slices of sqlite3 bags: bytes per storage file, e.g. 512MiB (default 256MiB; "
        "0: one file). Larger slices become split bags whose files are written in parallel.",
    ),
    json_out: bool = typer.Option(False, "--json", help="Print the new slices as JSON."),
    repo_path: Path | None = REPO_OPT,
) -> None:
    """Cut a time range / topic set out of a bag into a new DVC-tracked bag with lineage."""
    from toolkit.bags.sqlite_slice import parse_split_size
    from toolkit.bags.summary import BagFormat

    repo = _repo(repo_path)
    if (bag is None) == (from_search is None):
        raise UserError("give a BAG or --from-search QUERY (not both)")
    split = None if split_size is None else parse_split_size(split_size)
    opts = {"start": start, "end": end, "topics": topics, "fmt": fmt, "split_bytes": split}
    if pad is not None and from_search is None:
        raise UserError("--pad goes with --from-search")
    if from_search is not None:
        made = _api().slice_search(repo, from_search, out, pad=pad, **opts)
    else:
        made = [_api().slice_catalogued(repo, bag, out, **opts)]
    if split:
        for sc in made:
            if sc.summary.format != BagFormat.ROS2_SQLITE3:
                info(f"note: {sc.path} is {sc.summary.format.value}; --split-size splits only rosbag2 sqlite3 slices")
    for sc in made:
        left_out = (sc.lineage or {}).get("left_out") or {}
        if left_out:  # on stderr, also with --json: nothing is dropped without a word
            reasons = "; ".join(sorted(set(left_out.values())))
            info(f"note: {sc.path} leaves out {', '.join(sorted(left_out))} ({reasons})")
    if json_out:
        print_json([{"id": sc.id, "path": sc.path, "lineage": sc.lineage} for sc in made])
    else:
        for sc in made:
            info(f"sliced {sc.path} ({sc.summary.message_count} messages)")


@data_app.command("lineage")
def lineage_cmd(
    path: str = typer.Argument(..., help="A slice (path or id)."),
    json_out: bool = typer.Option(False, "--json", help="Print the chain as JSON."),
    repo_path: Path | None = REPO_OPT,
) -> None:
    """Where a slice came from: its chain of sources back to the original bag."""
    chain = _api().lineage_chain(_repo(repo_path), path)
    if json_out:
        print_json(chain)
        return
    for depth, step in enumerate(chain):
        # The range belongs to the slice that was cut with it (the step with a lineage), not its source.
        rng = f" {_range_text(step.get('start'), step.get('end'))}" if step.get("lineage") else ""
        info(f"{'  ' * depth}{'<- ' if depth else ''}{step['path']}{rng}")


def _range_text(start: object, end: object) -> str:
    """``[ISO .. ISO]`` to the nanosecond, both ends inclusive (the one boundary rule)."""
    from toolkit.bags.timebounds import format_ns

    def one(value: object) -> str:
        return format_ns(value) if isinstance(value, int) else "?"

    return f"[{one(start)} .. {one(end)}]"


def _add_bags_info_command() -> None:
    # `pitlane data info` belongs to the bags part; attach it once that module exists.
    try:
        module = importlib.import_module("toolkit.cli.bags_info")
    except ModuleNotFoundError as exc:
        if exc.name != "toolkit.cli.bags_info":
            raise
        return
    if not any(c.name == "info" for c in data_app.registered_commands):
        module.add_info_command(data_app)


def register(app: typer.Typer) -> None:
    _add_bags_info_command()
    app.add_typer(data_app, name="data")
