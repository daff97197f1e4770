"""Copy a byte range of one open file to another: what the chunk-level slicers are built on."""

from __future__ import annotations

import os
from typing import BinaryIO

COPY_BLOCK = 1 << 20


def copy_range(src_fd: int, dst: BinaryIO, offset: int, length: int) -> None:
    """Append ``length`` bytes from ``offset`` of *src_fd* at *dst*'s current position.

    1 MiB pread/write blocks, not ``os.copy_file_range``: on ext4 (no reflink, and chunk offsets
    are unaligned anyway) the kernel falls back to splicing, measured 0.25 s against 0.19 s for
    500 MB from a warm page cache (bench/bags.py's slice-vs-copy ratio went from ~0.7 to ~0.9).
    """
    done = 0
    while done < length:
        block = os.pread(src_fd, min(COPY_BLOCK, length - done), offset + done)
        if not block:
            raise OSError(f"source ended {length - done} bytes early")
        dst.write(block)
        done += len(block)
