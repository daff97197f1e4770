"""`pitlane dataset ...`, `pitlane annotate ...` and `pitlane autolabel`: frame datasets and their labels."""

from __future__ import annotations

from pathlib import Path

import typer

from toolkit.cli import output

dataset_app = typer.Typer(
    help="Frame datasets from bags: create, inspect, version, export/import labels.", no_args_is_help=True
)
annotate_app = typer.Typer(help="Send frames to a labelling tool and bring the labels back.", no_args_is_help=True)

REPO_OPT = typer.Option(None, "--repo", help="Git repository holding the dataset (default: the current one).")
JSON_OPT = typer.Option(False, "--json", help="Print one JSON document.")


@dataset_app.command("create")
def create_cmd(
    name: str = typer.Argument(..., help="Dataset name (lower-case, digits, . _ -)."),
    bags: list[Path] = typer.Argument(None, help="More bags (so `--from a.bag b.bag` works)."),
    from_: list[Path] = typer.Option(None, "--from", help="Bag file or rosbag2 directory (repeatable)."),
    from_search: str | None = typer.Option(
        None, "--from-search", help="Use every bag a data search matches (with event terms: frames inside events only)."
    ),
    pad: str = typer.Option("0s", "--pad", help="With --from-search event terms: widen each event window, e.g. 2s."),
    topics: list[str] = typer.Option(None, "--topics", "-t", help="Topic glob (repeatable), e.g. '/cam*/image*'."),
    every: str = typer.Option("0", "--every", help="Keep at most one frame per topic per interval, e.g. 0.5s."),
    output_dir: Path | None = typer.Option(None, "--output", "-o", help="Dataset directory (default datasets/NAME)."),
    lidar_format: str = typer.Option("npy", "--lidar-format", help="Point clouds as npy or pcd."),
    split: str = typer.Option("80/10/10", "--split", help="train/val/test ratios, assigned per source bag."),
    labels: str = typer.Option("", "--labels", help="Classes to label, comma-separated (e.g. car,person)."),
    workers: int = typer.Option(0, "--workers", help="Parallel bag workers (0: settings / CPU count)."),
    repo: Path | None = REPO_OPT,
    as_json: bool = JSON_OPT,
) -> None:
    """Extract frames from bags into a DVC-tracked dataset tagged NAME@v1."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from toolkit import api
    from toolkit.config import get_settings
    from toolkit.datasets.extract import parse_split
    from toolkit.errors import UsageError

    sources = [*(from_ or []), *(bags or [])]
    if bool(sources) == bool(from_search):
        raise UsageError("give bags with --from BAG... or a query with --from-search (one of them)")
    windows = None
    if from_search:
        from toolkit.bags.timebounds import parse_time_bound
        from toolkit.datasets.create import windows_from_search

        sources, windows = windows_from_search(from_search, repo, pad_ns=parse_time_bound("+" + pad.lstrip("+"), 0))
    with Progress(
        TextColumn("extracting"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("bags"),
        TimeElapsedColumn(),
        console=output.err_console,
        transient=True,
        disable=not output.err_console.is_terminal,
    ) as progress:
        task = progress.add_task("bags", total=len(sources))
        manifest, info, directory = api.create_dataset(
            name,
            sources,
            topics=topics or [],
            every=every,
            output=output_dir,
            repo=repo,
            lidar_format=lidar_format,  # type: ignore[arg-type]  # checked inside
            split=parse_split(split),
            classes=[c.strip() for c in labels.split(",") if c.strip()],
            workers=workers or get_settings().workers,
            on_bag_done=lambda _r: progress.advance(task),
            windows=windows,
        )
    skipped = sum(s.count for s in manifest.skipped)
    if as_json:
        output.print_json(
            {
                "name": name,
                "tag": info.tag,
                "digest": info.digest,
                "path": str(directory),
                "frames": len(manifest.frames),
                "skipped": manifest.skipped,
            }
        )
        return
    output.console.print(
        f"created {info.tag}: {len(manifest.frames)} frames from {len(manifest.sources)} bag(s) in {directory}",
        markup=False,
    )
    for s in manifest.skipped:
        output.info(f"skipped {s.count} on {s.topic}: {s.reason}")
    if skipped:
        output.info(f"{skipped} message(s) skipped in total")


@dataset_app.command("list")
def list_cmd(repo: Path | None = REPO_OPT, as_json: bool = JSON_OPT) -> None:
    """Datasets (from their version tags)."""
    from toolkit import api

    rows = api.list_datasets(repo)
    if as_json:
        output.print_json(rows)
        return
    output.print_table(
        "datasets",
        ["name", "latest", "versions", "frames", "path"],
        [(r.name, r.latest, r.versions, r.frames, r.path) for r in rows],
    )


@dataset_app.command("show")
def show_cmd(
    ref: str = typer.Argument(..., help="NAME or NAME@vN."), repo: Path | None = REPO_OPT, as_json: bool = JSON_OPT
) -> None:
    """A dataset's versions, sources and frames."""
    from toolkit import api
    from toolkit.datasets import versions as vs

    ds, manifest, label = vs.resolve_ref(ref, repo)
    history = vs.list_versions(ds.root, ds.name)
    if as_json:
        doc = manifest.model_dump(mode="json")
        doc["versions"] = [{"tag": v.tag, "commit": v.commit, "digest": v.digest, "date": v.date} for v in history]
        doc["directory"] = str(ds.dir)
        output.print_json(doc)
        return
    st = api.dataset_stats(manifest)
    output.console.print(
        f"{label}: {st.frames} frames ({st.images} images, {st.pointclouds} point clouds), "
        f"{st.labelled_frames} labelled; classes: {', '.join(manifest.all_classes()) or '-'}",
        markup=False,
    )
    output.print_table(
        "versions",
        ["tag", "date", "commit", "digest"],
        [(v.tag, v.date, v.commit[:10], v.digest[:19]) for v in history],
    )
    output.print_table(
        "sources", ["bag", "md5", "split", "frames"], [(s.path, s.md5, s.split, s.frames) for s in manifest.sources]
    )


@dataset_app.command("stats")
def stats_cmd(
    ref: str = typer.Argument(..., help="NAME or NAME@vN."), repo: Path | None = REPO_OPT, as_json: bool = JSON_OPT
) -> None:
    """Frame, class, split and topic counts."""
    from toolkit import api
    from toolkit.datasets import versions as vs

    _, manifest, label = vs.resolve_ref(ref, repo)
    st = api.dataset_stats(manifest)
    if as_json:
        output.print_json(st)
        return
    output.console.print(f"{label}: {st.frames} frames, {st.labelled_frames} labelled", markup=False)
    output.print_table(
        "classes",
        ["class", "labels", "predictions"],
        [(c, st.classes.get(c, 0), st.predictions.get(c, 0)) for c in dict.fromkeys([*st.classes, *st.predictions])],
    )
    output.print_table("splits", ["split", "frames"], st.splits.items())
    output.print_table("topics", ["topic", "frames"], st.topics.items())
    if st.skipped:
        output.print_table("skipped", ["topic", "reason", "count"], [(s.topic, s.reason, s.count) for s in st.skipped])


@dataset_app.command("diff")
def diff_cmd(
    a: str = typer.Argument(..., help="NAME@vN (before)."),
    b: str = typer.Argument(..., help="NAME@vM."),
    repo: Path | None = REPO_OPT,
    as_json: bool = JSON_OPT,
) -> None:
    """Labels added, changed and removed between two versions."""
    from toolkit import api
    from toolkit.datasets import versions as vs

    _, ma, la = vs.resolve_ref(a, repo)
    _, mb, lb = vs.resolve_ref(b, repo)
    d = api.diff_datasets(ma, mb, la, lb)
    if as_json:
        output.print_json(d)
        return
    output.console.print(
        f"{la} -> {lb}: {d.count('added')} added, {d.count('changed')} changed, "
        f"{d.count('removed')} removed; frames +{len(d.frames_added)} -{len(d.frames_removed)}",
        markup=False,
    )
    if d.changes:

        def box(lab: object) -> str:
            bbox = getattr(lab, "bbox", None)
            return f"{getattr(lab, 'label', '')} {bbox.rounded(1) if bbox else '(tag)'}" if lab else ""

        output.print_table(
            None,
            ["change", "frame", "before", "after"],
            [(c.kind, c.path, box(c.before), box(c.after)) for c in d.changes],
        )


@dataset_app.command("export")
def export_cmd(
    ref: str = typer.Argument(..., help="NAME or NAME@vN."),
    fmt: str = typer.Option(..., "--format", "-f", help="cvat, datumaro or labelstudio."),
    out: Path = typer.Option(..., "--output", "-o", help="File (cvat .xml, labelstudio .json) or dir (datumaro)."),
    image_url_prefix: str | None = typer.Option(
        None, "--image-url-prefix", help="labelstudio: URL prefix before each frame path (default local-files)."
    ),
    repo: Path | None = REPO_OPT,
) -> None:
    """Write labels and predictions in an annotation tool's format."""
    from toolkit import api

    url = (lambda f: f"{image_url_prefix}{f.path}") if image_url_prefix is not None else None
    manifest, count = api.export_annotations(ref, fmt, out, repo, image_url=url)
    output.console.print(
        f"exported {count} images of {manifest.name}@v{manifest.version} as {fmt} to {out}", markup=False
    )


@dataset_app.command("import")
def import_cmd(
    name: str = typer.Argument(..., help="Dataset name."),
    path: Path = typer.Argument(..., help="CVAT XML, Label Studio JSON export, or Datumaro directory."),
    fmt: str = typer.Option(..., "--format", "-f", help="cvat, datumaro or labelstudio."),
    repo: Path | None = REPO_OPT,
    as_json: bool = JSON_OPT,
) -> None:
    """Import labels as a new version; a file that does not match the dataset is rejected whole."""
    from toolkit import api

    _, info, changed = api.import_annotations(name, fmt, path, repo)
    if as_json:
        output.print_json({"tag": info.tag, "digest": info.digest, "frames_changed": changed})
        return
    output.console.print(f"imported {fmt} labels into {info.tag} ({changed} frame(s) changed)", markup=False)


@dataset_app.command("version")
def version_cmd(
    name: str = typer.Argument(..., help="Dataset name."), repo: Path | None = REPO_OPT, as_json: bool = JSON_OPT
) -> None:
    """Tag the working copy (manifest.json and frames/) as the next version, when it changed."""
    from toolkit import api

    info = api.version_dataset(name, repo)
    if as_json:
        output.print_json({"tag": info.tag if info else None, "digest": info.digest if info else None})
        return
    output.console.print(
        f"tagged {info.tag} ({info.digest})" if info else f"{name}: nothing changed since the latest version",
        markup=False,
    )


@annotate_app.command("push")
def push_cmd(
    name: str = typer.Argument(..., help="Dataset name (or NAME@vN)."),
    tool: str = typer.Option("labelstudio", "--tool", help="Annotation tool (labelstudio)."),
    url: str = typer.Option(..., "--url", envvar="LABEL_STUDIO_URL", help="Label Studio URL."),
    token: str = typer.Option(..., "--token", envvar="LABEL_STUDIO_API_KEY", help="Label Studio API token."),
    labels: str = typer.Option("", "--labels", help="Classes, comma-separated (default: the dataset's)."),
    document_root: Path | None = typer.Option(
        None,
        "--document-root",
        envvar="LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT",
        help="Label Studio's LOCAL_FILES_DOCUMENT_ROOT (default: the repo root).",
    ),
    title: str | None = typer.Option(None, "--title", help="Project title (default NAME@vN)."),
    repo: Path | None = REPO_OPT,
    as_json: bool = JSON_OPT,
) -> None:
    """Create a Label Studio project with the frames as tasks and predictions as pre-annotations."""
    from toolkit import api

    _tool(tool)
    pushed = api.labelstudio_push(
        name,
        url,
        token,
        labels=[c.strip() for c in labels.split(",") if c.strip()],
        document_root=document_root,
        title=title,
        repo=repo,
    )
    if as_json:
        output.print_json(pushed)
        return
    output.console.print(f"pushed {pushed.tasks} tasks to project {pushed.project_id} ({pushed.url})", markup=False)


@annotate_app.command("pull")
def pull_cmd(
    name: str = typer.Argument(..., help="Dataset name."),
    tool: str = typer.Option("labelstudio", "--tool", help="Annotation tool (labelstudio)."),
    url: str = typer.Option(..., "--url", envvar="LABEL_STUDIO_URL", help="Label Studio URL."),
    token: str = typer.Option(..., "--token", envvar="LABEL_STUDIO_API_KEY", help="Label Studio API token."),
    project: int | None = typer.Option(None, "--project", help="Project id (default: the last push)."),
    repo: Path | None = REPO_OPT,
    as_json: bool = JSON_OPT,
) -> None:
    """Fetch finished annotations into a new dataset version."""
    from toolkit import api

    _tool(tool)
    _, info, changed = api.labelstudio_pull(name, url, token, project_id=project, repo=repo)
    if as_json:
        output.print_json({"tag": info.tag, "digest": info.digest, "frames_changed": changed})
        return
    output.console.print(f"pulled annotations into {info.tag} ({changed} frame(s) changed)", markup=False)


def _tool(tool: str) -> None:
    from toolkit.errors import UserError

    if tool != "labelstudio":
        raise UserError(
            f"--tool {tool}: only labelstudio is live; CVAT needs Docker, use `dataset export "
            "--format cvat` and `dataset import --format cvat`"
        )


def autolabel_cmd(
    name: str = typer.Argument(..., help="Dataset name."),
    model: str | None = typer.Option(None, "--model", help="Released package NAME@VERSION or NAME@CHANNEL."),
    model_dir: Path | None = typer.Option(None, "--model-dir", help="A local package directory instead of --model."),
    min_score: float = typer.Option(0.0, "--min-score", help="Drop predictions scoring below this."),
    device: str = typer.Option("auto", "--device", help="cpu, cuda or auto (passed to the predictor)."),
    repo: Path | None = REPO_OPT,
    as_json: bool = JSON_OPT,
) -> None:
    """Run a released model over the dataset's images; predictions become pre-annotations (a new version)."""
    from toolkit import api
    from toolkit.errors import UsageError

    if (model is None) == (model_dir is None):
        raise UsageError("give --model NAME@CHANNEL or --model-dir DIR (one of them)")
    manifest, info, count = api.autolabel(
        name, model=model, model_dir=model_dir, min_score=min_score, device=device, repo=repo
    )
    if as_json:
        output.print_json(
            {"tag": info.tag, "digest": info.digest, "predictions": count, "lineage": manifest.lineage[-1]}
        )
        return
    output.console.print(
        f"autolabel: {count} predictions on {len(manifest.image_frames())} images -> {info.tag}", markup=False
    )


def register(app: typer.Typer) -> None:
    app.add_typer(dataset_app, name="dataset")
    app.add_typer(annotate_app, name="annotate")
    app.command("autolabel")(autolabel_cmd)
