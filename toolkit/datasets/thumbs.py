"""Small PNG previews of dataset frames for the web pages.

Images are scaled down as they are (16-bit depth stretched to its range);
point clouds are drawn top-down (x forward = up, y left = left), coloured by
height. Boxes are not burnt in: pages draw them as SVG over the image, so
they stay crisp and testable.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from toolkit.datasets.manifest import Frame


def _to_8bit(img: Image.Image) -> Image.Image:
    if img.mode in {"I;16", "I;16B", "I;16L", "I", "F"}:
        arr = np.asarray(img, dtype=np.float64)
        valid = arr[arr > 0]
        lo, hi = (float(valid.min()), float(valid.max())) if valid.size else (0.0, 1.0)
        scaled = np.clip((arr - lo) / max(hi - lo, 1e-9) * 255.0, 0, 255).astype(np.uint8)
        return Image.fromarray(scaled, mode="L")
    return img.convert("RGB") if img.mode not in {"RGB", "L"} else img


def image_thumbnail(path: Path, max_size: int) -> bytes:
    with Image.open(path) as img:
        img.draft("RGB", (max_size, max_size))  # JPEG: decode at reduced scale, much faster
        small = _to_8bit(img)
        small.thumbnail((max_size, max_size))
        buf = io.BytesIO()
        small.save(buf, format="PNG")
        return buf.getvalue()


def pointcloud_thumbnail(path: Path, max_size: int, range_m: float = 60.0) -> bytes:
    if path.suffix == ".pcd":
        from pypcd4 import PointCloud

        cloud = PointCloud.from_path(path)
        xyz = cloud.numpy(("x", "y", "z"))
        x, y, z = xyz[:, 0], xyz[:, 1], xyz[:, 2]
    else:
        arr = np.load(path, allow_pickle=False)
        x, y, z = (arr[k].astype(np.float64) for k in ("x", "y", "z"))
    ok = np.isfinite(x) & np.isfinite(y) & np.isfinite(z) & (np.abs(x) < range_m) & (np.abs(y) < range_m)
    x, y, z = x[ok], y[ok], z[ok]
    canvas = np.full((max_size, max_size, 3), 16, dtype=np.uint8)
    if x.size:
        col = np.clip(((range_m - y) / (2 * range_m) * max_size).astype(int), 0, max_size - 1)
        row = np.clip(((range_m - x) / (2 * range_m) * max_size).astype(int), 0, max_size - 1)
        zn = (z - z.min()) / max(float(z.max() - z.min()), 1e-9)
        canvas[row, col] = np.stack([80 + 175 * zn, 220 - 120 * zn, 255 - 200 * zn], axis=1).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(canvas, mode="RGB").save(buf, format="PNG")
    return buf.getvalue()


def frame_thumbnail(dataset_dir: Path, frame: Frame, max_size: int = 256) -> bytes:
    path = dataset_dir / frame.path
    if frame.kind == "pointcloud":
        return pointcloud_thumbnail(path, max_size)
    return image_thumbnail(path, max_size)
