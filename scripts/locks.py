"""The repo's locked environments: compile them (`make lock`), check them (`make test`), prune a venv to its lock.

Every environment this repo installs comes from a committed, hash-pinned lock under ``locks/``:

- ``locks/dev.txt``: the main ``.venv`` (pyproject.toml's dependencies + the ``dev`` extra; torch's CPU wheel);
- ``locks/runtime.txt``: pyproject.toml's dependencies alone, copied into the experiment template as
  ``requirements.lock`` (what an experiment's build stage fingerprints);
- ``locks/labelstudio.txt`` and ``locks/bench.txt``: the Label Studio server and the benchmark baselines, from the
  ``.in`` files beside them.

pyproject.toml keeps version *ranges* for people who install the package into their own environment; the locks
pin exact versions for this repo's environments and CI. Usage:

    python scripts/locks.py compile        # relock what changed, keeping other pins (uv pip compile; uv is in the lock)
    python scripts/locks.py upgrade        # relock everything to the newest versions inside the ranges
    python scripts/locks.py check          # pyproject.toml and the locks agree; the template's copy is current
    python scripts/locks.py prune VENV_PYTHON LOCK   # uninstall what a venv holds beyond its lock
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
LOCKS = ROOT / "locks"
TEMPLATE_LOCK = ROOT / "templates" / "experiment" / "template" / "requirements.lock"
# torch's CPU build lies on this machine's disk (pip's find-links); an index would hand out a multi-GB CUDA build.
FIND_LINKS = "/opt/wheels"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+)")


class LockError(Exception):
    """A lock disagrees with what it locks."""


def pins(lock: Path) -> dict[str, Version]:
    """``name -> version`` of every ``name==version`` line of a lock."""
    found: dict[str, Version] = {}
    for line in lock.read_text().splitlines():
        match = PIN.match(line)
        if match:
            found[canonicalize_name(match.group(1))] = Version(match.group(2))
    return found


def declared(pyproject: Path, extras: tuple[str, ...] = ()) -> list[Requirement]:
    """The requirements pyproject.toml declares: its dependencies plus the named optional extras."""
    project = tomllib.loads(pyproject.read_text())["project"]
    lines = list(project.get("dependencies", []))
    for extra in extras:
        lines += project.get("optional-dependencies", {}).get(extra, [])
    return [Requirement(line) for line in lines]


def disagreements(requirements: list[Requirement], locked: dict[str, Version]) -> list[str]:
    """One line per requirement the lock does not satisfy (missing, or pinned outside the declared range)."""
    problems = []
    for req in requirements:
        if req.marker is not None and not req.marker.evaluate():
            continue
        name = canonicalize_name(req.name)
        if name not in locked:
            problems.append(f"{req.name} is required ({req}) but not in the lock")
        elif not req.specifier.contains(locked[name], prereleases=True):
            problems.append(f"{req.name} is locked at {locked[name]}, outside the required {req.specifier}")
    return problems


def check(root: Path = ROOT) -> list[str]:
    """Every disagreement between pyproject.toml, the locks and the template's copy, as one line each."""
    pyproject = root / "pyproject.toml"
    problems: list[str] = []
    for lock_name, extras in (("dev.txt", ("dev",)), ("runtime.txt", ())):
        lock = root / "locks" / lock_name
        if not lock.is_file():
            problems.append(f"locks/{lock_name} is missing")
            continue
        problems += [f"locks/{lock_name}: {p}" for p in disagreements(declared(pyproject, extras), pins(lock))]
    for name in ("labelstudio", "bench"):
        source, lock = root / "locks" / f"{name}.in", root / "locks" / f"{name}.txt"
        if not lock.is_file():
            problems.append(f"locks/{name}.txt is missing")
            continue
        wanted = [Requirement(line) for line in _requirement_lines(source)]
        problems += [f"locks/{name}.txt: {p}" for p in disagreements(wanted, pins(lock))]
    template = root / TEMPLATE_LOCK.relative_to(ROOT)
    runtime = root / "locks" / "runtime.txt"
    if runtime.is_file() and (not template.is_file() or template.read_bytes() != runtime.read_bytes()):
        problems.append("templates/experiment/template/requirements.lock differs from locks/runtime.txt")
    return problems


def _requirement_lines(path: Path) -> list[str]:
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line]


def _uv() -> str:
    found = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
    if not Path(found).exists():
        raise LockError("uv is not installed: run `make install` first (uv is in the dev lock)")
    return found


def compile_all(root: Path = ROOT, upgrade: bool = False) -> None:
    """Relock every environment; existing pins are kept unless ``upgrade`` (then: newest inside the ranges)."""
    common = ["pip", "compile", "--quiet", "--generate-hashes", "--python-version", "3.11"]
    common += ["--upgrade"] if upgrade else []
    common += ["--find-links", FIND_LINKS, "--no-emit-find-links", "--custom-compile-command", "make lock"]
    jobs: list[tuple[list[str], str]] = [
        (["pyproject.toml", "--extra", "dev"], "locks/dev.txt"),
        # Runtime pins are the dev pins (a subset): an experiment's image and this repo's .venv agree.
        (["pyproject.toml", "--constraint", "locks/dev.txt"], "locks/runtime.txt"),
        (["locks/labelstudio.in"], "locks/labelstudio.txt"),
        (["locks/bench.in"], "locks/bench.txt"),
    ]
    for inputs, output in jobs:
        print(f"locking {output}", file=sys.stderr)
        subprocess.run([_uv(), *common, *inputs, "-o", output], cwd=root, check=True)
    shutil.copyfile(root / "locks" / "runtime.txt", root / TEMPLATE_LOCK.relative_to(ROOT))


def extraneous(python: str, lock: Path) -> list[str]:
    """Distributions installed in the venv of ``python`` that its lock does not list (left from an older lock)."""
    listing = subprocess.run(
        [python, "-m", "pip", "list", "--format=freeze", "--exclude-editable"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    locked = pins(lock)
    keep = {"pip", *locked}
    names = (canonicalize_name(line.split("==", 1)[0]) for line in listing.splitlines() if "==" in line)
    return sorted(name for name in names if name not in keep)


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else "check"
    try:
        if command in ("compile", "upgrade"):
            compile_all(upgrade=command == "upgrade")
        elif command == "check":
            problems = check()
            for problem in problems:
                print(f"error: {problem} (run `make lock`)", file=sys.stderr)
            return 1 if problems else 0
        elif command == "prune" and len(argv) == 4:
            extra = extraneous(argv[2], Path(argv[3]))
            if extra:
                print(f"removing packages no longer in {argv[3]}: {' '.join(extra)}", file=sys.stderr)
                subprocess.run([argv[2], "-m", "pip", "uninstall", "-q", "-y", *extra], check=True)
        else:
            print(__doc__, file=sys.stderr)
            return 2
    except (LockError, subprocess.CalledProcessError, OSError, tomllib.TOMLDecodeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
