"""Frame extraction: bags -> frame files + manifest entries, one bag per worker process.

Inside a bag, messages are read in time order by ``toolkit.bags.read.BagReader``
(the mcap library for MCAP, so ROS 1-profile MCAP files, ours and others', read
like any other bag) and deserialized by rosbags' ROS 1 / CDR codecs with each
connection's own definition (``toolkit.bags.types``), while PNG encoding and
file writes run on a small thread pool (OpenCV and file I/O release the GIL). Sampling (``every``) is decided from
the bag timestamp before deserializing, so skipped messages cost nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from collections import Counter, deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path, PurePosixPath
from typing import Any

from toolkit.bags import frames as fr
from toolkit.bags.read import BagReader
from toolkit.bags.types import UndecodableError, decode_bytes
from toolkit.cpus import usable_cpus
from toolkit.datasets.manifest import FRAMES_DIR, Calibration, Frame, Split
from toolkit.errors import BagError, PitlaneError, UserError

DEFAULT_SPLIT: tuple[float, float, float] = (0.8, 0.1, 0.1)
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(ns|us|ms|s|m|min)?\s*$")
_UNITS_NS = {"ns": 1, "us": 1_000, "ms": 1_000_000, "s": 1_000_000_000, "m": 60_000_000_000, "min": 60_000_000_000}
_IN_FLIGHT = 16  # decoded frames waiting for the encoder threads: bounds memory on big images


def parse_every(text: str) -> int:
    """'0.5s', '500ms', '2' (seconds), '0' (every message) -> nanoseconds."""
    m = _DURATION_RE.match(text)
    if not m:
        raise UserError(f"--every {text!r}: expected a duration like 0.5s, 200ms or 0")
    return round(float(m.group(1)) * _UNITS_NS[m.group(2) or "s"])


def parse_split(text: str) -> tuple[float, float, float]:
    """'80/10/10' -> (0.8, 0.1, 0.1)."""
    parts = text.split("/")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(values) != 3 or any(v < 0 for v in values) or sum(values) <= 0:
        raise UserError(f"--split {text!r}: expected three non-negative numbers like 80/10/10")
    total = sum(values)
    return (values[0] / total, values[1] / total, values[2] / total)


def split_for(bag_md5: str, ratios: tuple[float, float, float] = DEFAULT_SPLIT) -> Split:
    """Deterministic split by source bag: frames of one drive never straddle train and test."""
    position = int(hashlib.sha256(bag_md5.encode()).hexdigest()[:8], 16) / 2**32
    if position < ratios[0]:
        return "train"
    if position < ratios[0] + ratios[1]:
        return "val"
    return "test"


def storage_files(bag: Path) -> list[Path]:
    if bag.is_dir():
        files = sorted(p for p in bag.iterdir() if p.suffix in {".db3", ".mcap"})
        if not files:
            raise BagError(f"{bag}: no .db3 or .mcap files in this directory")
        return files
    return [bag]


def bag_md5(bag: Path) -> str:
    """MD5 over the storage files in order (the BagSummary convention)."""
    h = hashlib.md5()
    for f in storage_files(bag):
        with f.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def catalogued_md5(bag: Path) -> str | None:
    """The MD5 a data repo recorded at ingest (its sidecar next to the bag), when the size still matches.

    Saves re-reading the whole bag: in a data repo DVC already guards the content.
    """
    from toolkit.data.sidecar import read_sidecar, sidecar_path

    side = sidecar_path(bag)
    if not side.is_file():
        return None
    try:
        summary = read_sidecar(side).summary
        size = sum(f.stat().st_size for f in storage_files(bag))
    except Exception:  # an unreadable sidecar only means: hash the bag ourselves
        return None
    return summary.md5 if summary.md5 and summary.size_bytes == size else None


def quick_key(bag: Path) -> str:
    """A cheap content key (sizes + first and last MiB of each file) for file names and frame ids.

    The full MD5 needs the whole bag read; it runs beside the extraction instead
    of before it, and only the split (known at the end) depends on it.
    """
    h = hashlib.sha256()
    for f in storage_files(bag):
        size = f.stat().st_size
        h.update(str(size).encode())
        with f.open("rb") as fh:
            h.update(fh.read(1 << 20))
            if size > 2 << 20:
                fh.seek(-(1 << 20), os.SEEK_END)
                h.update(fh.read(1 << 20))
    return h.hexdigest()[:12]


def topic_slug(topic: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", topic.strip("/").replace("/", "__")) or "root"


def topic_matches(topic: str, patterns: Sequence[str]) -> bool:
    return not patterns or any(fnmatchcase(topic, p) for p in patterns)


@dataclass(frozen=True)
class BagJob:
    bag: Path
    dataset_dir: Path
    topics: tuple[str, ...]
    every_ns: int
    lidar_format: fr.LidarFormat
    split_ratios: tuple[float, float, float] = DEFAULT_SPLIT
    encode_threads: int = 2
    md5: str | None = None  # known content hash (e.g. from the data repo); computed when None
    # Closed time ranges (ns) frames must lie in, e.g. event windows of a search; () keeps every frame.
    windows: tuple[tuple[int, int], ...] = ()


@dataclass
class BagResult:
    bag: str
    md5: str
    split: Split
    frames: list[Frame] = field(default_factory=list)
    skipped: Counter[tuple[str, str]] = field(default_factory=Counter)  # (topic, reason) -> count
    topics_seen: list[str] = field(default_factory=list)


def _stamp_ns(msg: Any) -> int | None:
    header = getattr(msg, "header", None)
    if header is None:
        return None
    return int(header.stamp.sec) * 1_000_000_000 + int(header.stamp.nanosec)


def _camera_namespaces(topic: str) -> list[str]:
    """Parents of an image topic, nearest first: /a/b/image/compressed -> /a/b/image, /a/b, /a."""
    parts = PurePosixPath(topic).parents
    return [str(p) for p in parts if str(p) != "/"]


def _read_calibrations(reader: BagReader, image_topics: list[str]) -> dict[str, Calibration]:
    """First CameraInfo of each namespace an image topic belongs to."""
    wanted: dict[str, list[str]] = {}
    for topic in image_topics:
        for ns in _camera_namespaces(topic):
            wanted.setdefault(f"{ns}/camera_info", []).append(topic)
    conns = [c for c in reader.connections if c.msgtype == fr.CAMERA_INFO and c.topic in wanted]
    found: dict[str, Calibration] = {}
    if not conns:
        return {}
    for m in reader.messages(conns):
        if m.topic in found:
            if len(found) == len({c.topic for c in conns}):
                break
            continue
        try:
            info = fr.camera_info_dict(decode_bytes(m.connection, m.data))
        except Exception:  # an undecodable CameraInfo costs the calibration, not the dataset
            continue
        found[m.topic] = Calibration(topic=m.topic, **info)
    result: dict[str, Calibration] = {}
    for topic in image_topics:
        for ns in _camera_namespaces(topic):  # nearest namespace wins
            cal = found.get(f"{ns}/camera_info")
            if cal is not None:
                result[topic] = cal
                break
    return result


def _write_frame(
    msgtype: str, msg: Any, lidar_format: fr.LidarFormat, target_stem: Path
) -> tuple[fr.FrameData, Path] | str:
    try:
        data = fr.decode(msgtype, msg, lidar_format)
    except fr.FrameSkip as skip:
        return skip.reason
    except Exception as exc:  # a decoder bug on odd input must cost one frame, not the dataset
        return f"decode error ({exc.__class__.__name__})"
    target = target_stem.with_suffix(data.suffix)
    target.write_bytes(data.payload)
    data.payload = b""  # the bytes are on disk; don't ship them back across processes
    return data, target


def extract_bag(job: BagJob) -> BagResult:
    """Extract every sampled frame of one bag into ``job.dataset_dir/frames``.

    All messages of the frame topics are read (no time bounds: the whole bag, timestamp 0 included);
    ``every`` samples by the bag timestamp, the same one slices select on.
    """
    key = quick_key(job.bag)
    result = BagResult(bag=str(job.bag), md5="", split="train")
    frames_root = job.dataset_dir / FRAMES_DIR
    try:
        reader_cm = BagReader(job.bag)
        reader = reader_cm.__enter__()
    except BagError:
        raise
    except Exception as exc:  # the storage libraries raise several unrelated types for unreadable input
        raise BagError(f"{job.bag}: cannot read bag ({exc})") from None
    hasher = ThreadPoolExecutor(max_workers=1)
    known = job.md5 or catalogued_md5(job.bag)
    # hashlib releases the GIL: hashing overlaps with decoding
    md5_future = hasher.submit(lambda: known) if known else hasher.submit(bag_md5, job.bag)
    try:
        conns = [c for c in reader.connections if c.msgtype in fr.FRAME_TYPES and topic_matches(c.topic, job.topics)]
        result.topics_seen = sorted({c.topic for c in conns})
        image_topics = sorted({c.topic for c in conns if c.msgtype != fr.POINTCLOUD2})
        calibrations = _read_calibrations(reader, image_topics)
        for topic in result.topics_seen:
            (frames_root / topic_slug(topic)).mkdir(parents=True, exist_ok=True)
        last_kept: dict[str, int] = {}
        used: set[Path] = set()
        pending: deque[tuple[Future[tuple[fr.FrameData, Path] | str], dict[str, Any]]] = deque()

        def collect(fut: Future[tuple[fr.FrameData, Path] | str], meta: dict[str, Any]) -> None:
            out = fut.result()
            if isinstance(out, str):
                result.skipped[(meta["topic"], out)] += 1
                return
            data, target = out
            result.frames.append(
                Frame(
                    id=f"{key}_{topic_slug(meta['topic'])}_{meta['t']}{meta['dup']}",
                    path=target.relative_to(job.dataset_dir).as_posix(),
                    kind=data.kind,
                    width=data.width,
                    height=data.height,
                    encoding=data.encoding,
                    extra=data.extra,
                    split="train",  # set below, once the bag's MD5 is known
                    source_bag=str(job.bag),
                    source_md5="",
                    calibration=calibrations.get(meta["topic"]),
                    **{k: meta[k] for k in ("topic", "msgtype", "header_stamp_ns", "frame_id")},
                    timestamp_ns=meta["t"],
                )
            )

        with ThreadPoolExecutor(max_workers=max(job.encode_threads, 1)) as pool:
            for m in reader.messages(conns):
                conn, t = m.connection, m.timestamp_ns
                if job.windows and not any(a <= t <= b for a, b in job.windows):
                    continue
                prev = last_kept.get(conn.topic)
                if prev is not None and job.every_ns and t - prev < job.every_ns:
                    continue
                last_kept[conn.topic] = t
                try:
                    msg = decode_bytes(conn, m.data)
                except UndecodableError as exc:  # no usable definition: every message of the topic says why
                    result.skipped[(conn.topic, f"type cannot be decoded ({exc})")] += 1
                    continue
                except Exception:  # a truncated or foreign payload: count it, keep going
                    result.skipped[(conn.topic, "message does not deserialize")] += 1
                    continue
                stem = frames_root / topic_slug(conn.topic) / f"{key}_{t}"
                dup = ""
                while stem in used:  # two messages on one topic at the same nanosecond
                    dup = f"-{len(dup) + 1}" if not dup else f"-{int(dup[1:]) + 1}"
                    stem = frames_root / topic_slug(conn.topic) / f"{key}_{t}{dup}"
                used.add(stem)
                header = getattr(msg, "header", None)
                meta = {
                    "topic": conn.topic,
                    "msgtype": conn.msgtype,
                    "t": t,
                    "dup": dup,
                    "header_stamp_ns": _stamp_ns(msg),
                    "frame_id": str(header.frame_id) if header is not None else "",
                }
                if conn.msgtype == fr.COMPRESSED_IMAGE:
                    # Passthrough is a plain write: a thread hand-off would cost more than it saves.
                    done: Future[tuple[fr.FrameData, Path] | str] = Future()
                    done.set_result(_write_frame(conn.msgtype, msg, job.lidar_format, stem))
                    pending.append((done, meta))
                else:
                    pending.append((pool.submit(_write_frame, conn.msgtype, msg, job.lidar_format, stem), meta))
                while len(pending) > _IN_FLIGHT:
                    collect(*pending.popleft())
            while pending:
                collect(*pending.popleft())
    except BaseException as exc:
        hasher.shutdown(wait=False, cancel_futures=True)
        if isinstance(exc, Exception) and not isinstance(exc, BagError):
            raise BagError(f"{job.bag}: cannot read bag ({exc.__class__.__name__}: {exc})") from None
        raise
    finally:
        with contextlib.suppress(Exception):  # closing a damaged bag must not hide the first error
            reader_cm.__exit__(None, None, None)
    try:
        result.md5 = md5_future.result()
    finally:
        hasher.shutdown()
    result.split = split_for(result.md5, job.split_ratios)
    for frame in result.frames:
        frame.source_md5, frame.split = result.md5, result.split
    result.frames.sort(key=lambda f: (f.topic, f.timestamp_ns, f.id))
    return result


def extract_bags(
    jobs: Sequence[BagJob],
    workers: int = 0,
    on_done: Callable[[BagResult], None] | None = None,
    ray_address: str | None = None,
) -> list[BagResult]:
    """Extract several bags in parallel (processes, or Ray tasks with ``ray_address``); results in job order."""
    if ray_address:
        return _extract_on_ray(jobs, ray_address, on_done)
    workers = workers or usable_cpus()
    results: dict[int, BagResult] = {}
    if len(jobs) <= 1 or workers <= 1:
        for i, job in enumerate(jobs):
            results[i] = extract_bag(job)
            if on_done:
                on_done(results[i])
    else:
        with ProcessPoolExecutor(max_workers=min(workers, len(jobs))) as pool:
            futures = {pool.submit(extract_bag, job): i for i, job in enumerate(jobs)}
            for fut in as_completed(futures):
                results[futures[fut]] = fut.result()
                if on_done:
                    on_done(results[futures[fut]])
    return [results[i] for i in range(len(jobs))]


def ray_task_address(address: str | None) -> str | None:
    """PITLANE_RAY_ADDRESS as a Ray *task* address; the Jobs dashboard URL (http://...:8265) is not one."""
    if not address or address.startswith(("http://", "https://")):
        return None
    return address


def _stop_ray_tasks(ray: Any, refs: list[Any]) -> None:
    """End the other bags' tasks before the caller removes the dataset dir they are writing into."""
    for ref in refs:
        ray.cancel(ref, force=True)
    if refs:
        ray.wait(refs, num_returns=len(refs), timeout=60)


def _extract_on_ray(
    jobs: Sequence[BagJob], address: str, on_done: Callable[[BagResult], None] | None
) -> list[BagResult]:
    """One Ray task per bag: the same function as the process pool; the dataset dir must be shared storage."""
    import ray
    from ray.exceptions import RayTaskError

    started = not ray.is_initialized()
    if started:
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    try:
        task = ray.remote(extract_bag)
        refs = [task.remote(job) for job in jobs]
        index = {ref: i for i, ref in enumerate(refs)}
        results: dict[int, BagResult] = {}
        pending = list(refs)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            try:
                result = ray.get(done[0])
            except RayTaskError as exc:
                _stop_ray_tasks(ray, pending)
                cause = exc.cause
                if isinstance(cause, PitlaneError):
                    raise cause from None  # the one-line error the worker raised, not Ray's traceback
                raise
            results[index[done[0]]] = result
            if on_done:
                on_done(result)
        return [results[i] for i in range(len(jobs))]
    finally:
        if started:
            ray.shutdown()
