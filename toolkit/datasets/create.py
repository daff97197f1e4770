"""`dataset create`: bags (paths or a search) -> frames + manifest -> DVC + Git tag NAME@v1."""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

from toolkit.bags import frames as fr
from toolkit.config import get_settings
from toolkit.datasets import manifest as mf
from toolkit.datasets import versions as vs
from toolkit.datasets.extract import DEFAULT_SPLIT, BagJob, BagResult, extract_bags, ray_task_address
from toolkit.errors import BagError, ConflictError, DatasetError, UserError


def bags_from_search(query: str, repo: Path | None = None, limit: int = 1000) -> list[Path]:
    """Bag paths a data-repo search returns (absolute, in the search's order)."""
    from toolkit.data.repo import DataRepo
    from toolkit.data.search import search

    data_repo = DataRepo.find(repo)
    try:
        response = search(data_repo.catalog, query, limit=limit)
    finally:
        data_repo.close()
    paths = [data_repo.abs_path(r.path) for r in response.results]
    if not paths:
        hint = f" ({'; '.join(response.hints)})" if response.hints else ""
        raise DatasetError(f"search {query!r} matched no bags{hint}")
    return paths


def windows_from_search(
    query: str, repo: Path | None = None, pad_ns: int = 0, limit: int = 1000
) -> tuple[list[Path], dict[Path, tuple[tuple[int, int], ...]]]:
    """Bags a search returns and, when the query has event or speed terms, each bag's matched
    time ranges widened by `pad_ns` (frames are then taken only inside them)."""
    from toolkit.data.repo import DataRepo
    from toolkit.data.search import search

    data_repo = DataRepo.find(repo)
    try:
        response = search(data_repo.catalog, query, limit=limit, root=data_repo.root)
    finally:
        data_repo.close()
    if not response.results:
        hint = f" ({'; '.join(response.hints)})" if response.hints else ""
        raise DatasetError(f"search {query!r} matched no bags{hint}")
    paths = [data_repo.abs_path(r.path) for r in response.results]
    windows = {
        data_repo.abs_path(r.path).resolve(): tuple((h.start_ns - pad_ns, h.end_ns + pad_ns) for h in r.events)
        for r in response.results
        if r.events
    }
    return paths, windows


def create_dataset(
    name: str,
    bags: Sequence[Path],
    *,
    topics: Sequence[str] = (),
    every: str = "0",
    output: Path | None = None,
    repo: Path | None = None,
    lidar_format: fr.LidarFormat = "npy",
    split: tuple[float, float, float] = DEFAULT_SPLIT,
    classes: Sequence[str] = (),
    workers: int = 0,
    on_bag_done: Callable[[BagResult], None] | None = None,
    ray_address: str | None = None,
    windows: dict[Path, tuple[tuple[int, int], ...]] | None = None,
) -> tuple[mf.Manifest, vs.VersionInfo, Path]:
    """Extract frames from ``bags`` into a new dataset directory and tag it ``NAME@v1``.

    Bags are extracted in worker processes, or as Ray tasks when ``ray_address``
    (default: PITLANE_RAY_ADDRESS, unless it is a Jobs dashboard URL) is set.
    Nothing is left behind on failure: the new directory is removed and no tag written.
    """
    vs.check_name(name)
    every_ns = _every(every)
    if lidar_format not in ("npy", "pcd"):
        raise UserError(f"--lidar-format {lidar_format!r}: use npy or pcd")
    if not bags:
        raise UserError("no bags given (use --from BAG... or --from-search QUERY)")
    missing = [str(b) for b in bags if not Path(b).exists()]
    if missing:
        raise BagError(f"bag not found: {', '.join(missing)}")
    base = (repo or Path.cwd()).resolve()
    root = vs.repo_root(output.resolve() if output else base)
    dataset_dir = output.resolve() if output else root / vs.DEFAULT_PARENT / name
    try:
        dataset_dir.relative_to(root)
    except ValueError:
        raise DatasetError(f"{dataset_dir} is outside the Git repository {root}") from None
    if vs.list_versions(root, name):
        raise ConflictError(f"dataset {name!r} already exists (add versions with `pitlane dataset version`)")
    if dataset_dir.exists() and any(dataset_dir.iterdir()):
        raise ConflictError(f"{dataset_dir} exists and is not empty")

    jobs = [
        BagJob(
            Path(b).resolve(),
            dataset_dir,
            tuple(topics),
            every_ns,
            lidar_format,
            split,
            windows=(windows or {}).get(Path(b).resolve(), ()),
        )
        for b in dict.fromkeys(Path(b) for b in bags)
    ]
    dataset_dir.mkdir(parents=True, exist_ok=True)
    try:
        address = ray_task_address(ray_address or get_settings().ray_address)
        results = extract_bags(jobs, workers=workers, on_done=on_bag_done, ray_address=address)
        _check_distinct(results)
        manifest = _manifest(name, results, topics, every, lidar_format, split, classes)
        if not manifest.frames:
            reasons = "; ".join(f"{s.topic}: {s.reason} ({s.count})" for s in manifest.skipped)
            seen = sorted({t for r in results for t in r.topics_seen})
            nothing = f"no camera or lidar topic matches {list(topics) or '*'}"
            why = reasons or (nothing if not seen else "no messages on " + ", ".join(seen))
            raise DatasetError(f"no frames extracted: {why}")
        info = vs.commit_version(root, dataset_dir, manifest, "create")
    except BaseException:
        shutil.rmtree(dataset_dir, ignore_errors=True)
        raise
    return manifest, info, dataset_dir


def _check_distinct(results: list[BagResult]) -> None:
    """Reject the same bag content given twice, and (vanishingly rare) frame-key collisions between bags."""
    by_md5: dict[str, str] = {}
    by_key: dict[str, str] = {}
    for r in results:
        if r.md5 in by_md5:
            raise DatasetError(f"{r.bag} and {by_md5[r.md5]} hold the same data (give each bag once)")
        by_md5[r.md5] = r.bag
        for key in {f.id.split("_", 1)[0] for f in r.frames}:
            if by_key.setdefault(key, r.bag) != r.bag:
                raise DatasetError(f"{r.bag} and {by_key[key]} share frame key {key}: extract them separately")


def _every(text: str) -> int:
    from toolkit.datasets.extract import parse_every

    return parse_every(text)


def _manifest(
    name: str,
    results: list[BagResult],
    topics: Sequence[str],
    every: str,
    lidar_format: str,
    split: tuple[float, float, float],
    classes: Sequence[str],
) -> mf.Manifest:
    skipped: Counter[tuple[str, str]] = Counter()
    for r in results:
        skipped.update(r.skipped)
    return mf.Manifest(
        name=name,
        params={"topics": list(topics), "every": every, "lidar_format": lidar_format, "split": list(split)},
        classes=list(dict.fromkeys(classes)),
        sources=[mf.SourceBag(path=r.bag, md5=r.md5, split=r.split, frames=len(r.frames)) for r in results],
        skipped=[mf.SkipCount(topic=t, reason=why, count=n) for (t, why), n in sorted(skipped.items())],
        lineage=[
            mf.LineageEntry(
                action="create",
                at=mf.now_iso(),
                detail={"bags": [{"path": r.bag, "md5": r.md5} for r in results]},
            )
        ],
        frames=[f for r in results for f in r.frames],
    )
