"""Frame extraction throughput: Pitlane vs a plain rosbags read-and-decode loop on the same topic.

Run: ``.venv/bin/python bench/frames.py [--frames N]``; writes ``bench/results/frames.json``.

The bag is GENERATED here (nothing large is committed), with rosbags' rosbag1
Writer, into a temp directory deleted afterwards: one camera at 640x480 as raw
``sensor_msgs/Image`` rgb8 and one as ``CompressedImage`` JPEG (smooth
gradients plus sensor-like noise, so PNG compression does real work), N
frames each, 10 Hz.

Per topic, best of 3 runs, page cache warm, both writing one file per frame:

- pitlane: ``toolkit.datasets.extract.extract_bag`` (what ``dataset create``
  runs per bag: sampling, deserialize, decode, PNG via OpenCV on a 2-thread
  encoder pool, manifest entries), without the DVC/Git step, with the bag's
  MD5 known (as for a bag in the data repo, whose sidecar holds it); and
  ``pitlane_hashing_bag``: the same for a bag outside any data repo, whose MD5
  (provenance) is computed on a thread beside the extraction;
- plain loop: ``AnyReader.messages`` -> ``deserialize`` -> numpy reshape ->
  Pillow ``Image.save(png)`` (raw), or the JPEG bytes written as they are
  (compressed): the script one writes without a toolkit; and the same loop
  with OpenCV's PNG encoder (Pitlane's encoder, so the ratio shows overhead
  and parallelism, not a codec setting);
- decode only: the same loop without writing files (an upper bound that does less work).

Target: pitlane frames/s >= 0.9x the plain loop with the same encoder.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image
from rosbags.highlevel import AnyReader
from rosbags.rosbag1 import Writer
from rosbags.typesys import Stores, get_typestore

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from toolkit.datasets.extract import BagJob, bag_md5, extract_bag

RESULTS = Path(__file__).resolve().parent / "results" / "frames.json"
W, H = 640, 480
RAW_TOPIC = "/cam_front/image_raw"
JPEG_TOPIC = "/cam_side/image_raw/compressed"


def _frame(i: int, rng: np.random.Generator) -> np.ndarray:
    yy, xx = np.mgrid[0:H, 0:W]
    base = np.stack([(xx + 3 * i) % 256, (yy + 2 * i) % 256, ((xx + yy) // 2 + i) % 256], axis=2)
    noise = rng.integers(-6, 7, size=(H, W, 3))
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def generate(path: Path, frames: int) -> Path:
    ts = get_typestore(Stores.ROS1_NOETIC)
    Header = ts.types["std_msgs/msg/Header"]
    Time = ts.types["builtin_interfaces/msg/Time"]
    ImageMsg = ts.types["sensor_msgs/msg/Image"]
    Compressed = ts.types["sensor_msgs/msg/CompressedImage"]
    rng = np.random.default_rng(7)
    t0 = 1_700_000_000_000_000_000
    with Writer(path) as writer:
        raw_c = writer.add_connection(RAW_TOPIC, ImageMsg.__msgtype__, typestore=ts)
        jpg_c = writer.add_connection(JPEG_TOPIC, Compressed.__msgtype__, typestore=ts)
        for i in range(frames):
            t = t0 + i * 100_000_000
            header = Header(seq=i, stamp=Time(sec=t // 10**9, nanosec=t % 10**9), frame_id="cam")
            px = _frame(i, rng)
            raw = ImageMsg(
                header=header, height=H, width=W, encoding="rgb8", is_bigendian=0, step=W * 3, data=px.reshape(-1)
            )
            writer.write(raw_c, t, ts.serialize_ros1(raw, ImageMsg.__msgtype__))
            ok, jpg = cv2.imencode(".jpg", px[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 90])
            assert ok
            comp = Compressed(header=header, format="rgb8; jpeg compressed bgr8", data=jpg.reshape(-1))
            writer.write(jpg_c, t + 1, ts.serialize_ros1(comp, Compressed.__msgtype__))
    return path


def plain_loop(bag: Path, topic: str, out: Path | None, encoder: str = "pillow") -> int:
    """What one writes by hand with rosbags + numpy + Pillow (or OpenCV)."""
    n = 0
    with AnyReader([bag]) as reader:
        conns = [c for c in reader.connections if c.topic == topic]
        for conn, t, raw in reader.messages(connections=conns):
            msg = reader.deserialize(raw, conn.msgtype)
            if conn.msgtype.endswith("CompressedImage"):
                if out is not None:
                    (out / f"{t}.jpg").write_bytes(bytes(msg.data))
            else:
                px = np.frombuffer(msg.data, np.uint8).reshape(msg.height, msg.step)[:, : msg.width * 3]
                img = px.reshape(msg.height, msg.width, 3)
                if out is not None and encoder == "pillow":
                    Image.fromarray(img).save(out / f"{t}.png")
                elif out is not None:
                    cv2.imwrite(str(out / f"{t}.png"), img[:, :, ::-1])
            n += 1
    return n


def pitlane(bag: Path, topic: str, out: Path, md5: str | None = None) -> int:
    return len(extract_bag(BagJob(bag, out, (topic,), 0, "npy", md5=md5)).frames)


def timed(fn: Callable[[], int], runs: int = 3) -> tuple[float, int]:
    best, count = float("inf"), 0
    for _ in range(runs):
        start = time.perf_counter()
        count = fn()
        best = min(best, time.perf_counter() - start)
    return best, count


def bench(frames: int) -> dict[str, Any]:
    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="pitlane-bench-frames-") as tmp:
        bag = generate(Path(tmp) / "cameras.bag", frames)
        result["bag_bytes"] = bag.stat().st_size
        md5 = bag_md5(bag)  # as a data repo records it at ingest (and the page cache is warm)
        for name, topic in (("raw_rgb8_to_png", RAW_TOPIC), ("jpeg_passthrough", JPEG_TOPIC)):
            outputs: dict[str, Path] = {}

            def fresh(prefix: str, name: str = name, outputs: dict[str, Path] = outputs) -> Path:
                d = Path(tempfile.mkdtemp(prefix=f"{prefix}-{name}-", dir=tmp))
                outputs.setdefault(prefix, d)  # sizes are measured on the first run's output
                return d

            t_pl, n_pl = timed(lambda: pitlane(bag, topic, fresh("pitlane"), md5))  # noqa: B023
            t_hash, _ = timed(lambda: pitlane(bag, topic, fresh("pitlane_hashing")))  # noqa: B023
            t_plain, n_plain = timed(lambda: plain_loop(bag, topic, fresh("plain")))  # noqa: B023
            t_cv, n_cv = timed(lambda: plain_loop(bag, topic, fresh("plain_cv2"), "opencv"))  # noqa: B023
            t_dec, n_dec = timed(lambda: plain_loop(bag, topic, None))  # noqa: B023
            assert n_pl == n_plain == n_cv == n_dec == frames, (n_pl, n_plain, n_cv, n_dec)
            sizes = {p: sum(f.stat().st_size for f in d.rglob("*") if f.is_file()) for p, d in outputs.items()}
            result[name] = {
                "frames": frames,
                "pitlane_s": round(t_pl, 3),
                "pitlane_hashing_bag_s": round(t_hash, 3),
                "plain_loop_pillow_s": round(t_plain, 3),
                "plain_loop_opencv_s": round(t_cv, 3),
                "decode_only_s": round(t_dec, 3),
                "pitlane_fps": round(frames / t_pl, 1),
                "pitlane_hashing_bag_fps": round(frames / t_hash, 1),
                "plain_loop_pillow_fps": round(frames / t_plain, 1),
                "plain_loop_opencv_fps": round(frames / t_cv, 1),
                "decode_only_fps": round(frames / t_dec, 1),
                "ratio_vs_plain_loop_pillow": round(t_plain / t_pl, 2),
                "ratio_vs_plain_loop_opencv": round(t_cv / t_pl, 2),
                "ratio_vs_decode_only": round(t_dec / t_pl, 2),
                "ratio_hashing_bag_vs_plain_loop_opencv": round(t_cv / t_hash, 2),
                "output_bytes": sizes,
                "target": ">= 0.9x the plain loop with the same encoder (OpenCV)",
                "meets_target": t_cv / t_pl >= 0.9,
            }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=150)
    args = parser.parse_args()
    data = {
        "benchmark": "frames",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "bag": f"generated ROS1 bag, {args.frames} frames per topic, {W}x{H}, rgb8 Image + JPEG CompressedImage",
        **bench(args.frames),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(data, indent=2) + "\n")
    print(json.dumps(data, indent=2))


if __name__ == "__main__":
    main()
