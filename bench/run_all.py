"""`make bench`: every benchmark in one go, each writing bench/results/<name>.json.

Each script compares Pitlane with the real alternative in the same run
(raw reads/copies, plain rosbags, plain dvc/Lightning, MLflow, gto).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = ["bags.py", "search.py", "frames.py", "pipeline_overhead.py", "sync.py", "registry.py", "ci.py"]


def main() -> int:
    extra = sys.argv[1:]  # e.g. --quick where a script supports it
    failed = []
    for script in SCRIPTS:
        print(f"== bench/{script}", flush=True)
        start = time.monotonic()
        args = [a for a in extra if script in ("bags.py", "pipeline_overhead.py")]
        rc = subprocess.call([sys.executable, str(HERE / script), *args])
        print(f"== bench/{script}: exit {rc} in {time.monotonic() - start:.0f} s", flush=True)
        if rc != 0:
            failed.append(script)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
