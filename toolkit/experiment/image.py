"""The build stage's image: the experiment's Dockerfile built with podman (or docker), tagged, pushed by digest.

The locked requirements reach the image through a build context of wheels
(``--build-context wheels=DIR``, bind-mounted by one ``RUN``), not through an
index: the wheelhouse is filled once per lock on the host with ``pip download
--require-hashes`` (the host's pip configuration decides where from) and the
image installs from it with ``--no-index --require-hashes``. Pitlane itself
comes as a wheel: built from the checkout the running pitlane was imported
from, or from the ``pitlane @ ...`` line of ``requirements.txt``.

Layer caching keys the slow install layer on the lock's requirement lines
(``LOCK_KEY``), so a comment-only relock reuses it; a change to ``src/``
rebuilds only the last layer.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from toolkit.errors import ExternalToolError, UserError
from toolkit.experiment.container import Engine

BASE_ENV = "PITLANE_BASE_IMAGE"  # overrides image.base of the spec
REGISTRY_ENV = "PITLANE_IMAGE_REGISTRY"  # host[:port][/prefix]: push there after the build
INSECURE_ENV = "PITLANE_IMAGE_REGISTRY_INSECURE"  # "1": plain HTTP / self-signed registry (a local test registry)
# podman: gzip (default: every puller reads it) or zstd (several times faster to push; podman, containerd >= 1.5)
COMPRESSION_ENV = "PITLANE_IMAGE_COMPRESSION"
WHEELHOUSE_ENV = "PITLANE_WHEELHOUSE"
DEFAULT_BASE = "localhost/pitlane-base:bookworm"
_LABEL = "org.pitlane.experiment"
_EPOCH = "315532800"  # 1980-01-01: a wheel built twice from the same source has the same bytes


def cache_dir() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "pitlane"


def lock_key(lock: Path) -> str:
    """Digest of the lock's requirement lines (comments and blank lines dropped): what the install layer holds."""
    lines = [line.split("#", 1)[0].rstrip() for line in lock.read_text().splitlines()]
    return hashlib.sha256("\n".join(line for line in lines if line).encode()).hexdigest()


def _run(cmd: list[str], what: str, timeout: float = 3600, cwd: Path | None = None) -> str:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=cwd)
    if done.returncode != 0:
        lines = [ln for ln in (done.stderr.strip() or done.stdout.strip()).splitlines() if ln.strip()]
        raise ExternalToolError(f"{what} failed (exit {done.returncode}): {lines[-1] if lines else 'no output'}")
    return done.stdout


def wheelhouse(lock: Path) -> Path:
    """Every file the lock pins, hash-checked, downloaded once per lock into the wheelhouse."""
    house = Path(os.environ.get(WHEELHOUSE_ENV) or cache_dir() / "wheels")
    house.mkdir(parents=True, exist_ok=True)
    stamp = house / f".complete-{lock_key(lock)[:16]}"
    if not stamp.exists():
        print(f"build: downloading the locked wheels into {house} (once per lock)", file=sys.stderr)
        pip = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--require-hashes"]
        _run([*pip, "-r", str(lock.resolve()), "-d", str(house)], "pip download of requirements.lock")
        stamp.touch()
    return house


def _checkout() -> Path | None:
    """The source tree of the running pitlane when it is a checkout (an editable or PYTHONPATH install)."""
    import toolkit

    root = Path(toolkit.__file__).resolve().parents[1]
    return root if (root / "pyproject.toml").is_file() and (root / "toolkit").is_dir() else None


_TOPS = ("pyproject.toml", "setup.py", "README.md", "toolkit", "registry", "templates")


def _source_files(root: Path) -> list[Path]:
    files: list[Path] = []
    for top in _TOPS:
        path = root / top
        found = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else []
        files += [f for f in found if "__pycache__" not in f.parts and f.suffix != ".pyc"]
    return files


def _tree_digest(root: Path, files: list[Path]) -> str:
    digest = hashlib.sha256()
    for f in files:
        digest.update(str(f.relative_to(root)).encode() + b"\0" + f.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def _pip_wheel(spec: str, out: Path) -> None:
    env = {**os.environ, "SOURCE_DATE_EPOCH": _EPOCH}
    cmd = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(out), spec]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise ExternalToolError(f"pip wheel of pitlane failed: {last}")


def pitlane_wheel(requirements: Path) -> Path:
    """A directory with one pitlane wheel: of the running checkout (cached by content), else requirements.txt's."""
    root = _checkout()
    files: list[Path] = []
    line = ""
    if root is not None:
        files = _source_files(root)
        out = cache_dir() / "pitlane-wheels" / _tree_digest(root, files)
    else:
        lines = [ln.strip() for ln in requirements.read_text().splitlines() if ln.strip().startswith("pitlane")]
        if not lines:
            raise UserError(f"{requirements}: no `pitlane @ ...` line to install pitlane into the image from")
        line = lines[0]
        out = cache_dir() / "pitlane-wheels" / hashlib.sha256(line.encode()).hexdigest()[:16]
    if list(out.glob("*.whl")):
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        built = Path(tmp) / "wheel"
        if root is not None:
            # Built from a copy: setuptools' build/ directory in the checkout could carry files deleted since.
            copy = Path(tmp) / "src"
            for f in files:
                target = copy / f.relative_to(root)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(f, target)
            _pip_wheel(str(copy), built)
        else:
            _pip_wheel(line, built)
        if not out.exists():  # another build may have finished first: its wheel has the same content
            built.replace(out)
    return out


def _inspect(engine: Engine, ref: str, fmt: str) -> str:
    return _run(engine.command("image", "inspect", "--format", fmt, ref), f"{engine.name} image inspect").strip()


def push(engine: Engine, image_id: str, name: str, registry: str) -> str:
    """Push to the registry; returns ``REGISTRY/NAME@sha256:...``, the reference a worker pulls by digest."""
    target = f"{registry.rstrip('/')}/pitlane-exp/{name}:{image_id.split(':')[-1][:12]}"
    _run(engine.command("tag", image_id, target), f"{engine.name} tag")
    with tempfile.TemporaryDirectory() as tmp:
        digest_file = Path(tmp) / "digest"
        args = ["push", "--digestfile", str(digest_file)] if engine.name == "podman" else ["push"]
        if engine.name == "podman" and os.environ.get(INSECURE_ENV) == "1":
            args.append("--tls-verify=false")
        if engine.name == "podman" and os.environ.get(COMPRESSION_ENV):
            args += ["--compression-format", os.environ[COMPRESSION_ENV]]
        out = _run(engine.command(*args, target), f"{engine.name} push to {registry}", timeout=3600)
        if digest_file.is_file():
            digest = digest_file.read_text().strip()
        else:  # docker prints "...: digest: sha256:... size: N"
            digest = next(w for line in out.splitlines() for w in line.split() if w.startswith("sha256:"))
    return f"{target.rsplit(':', 1)[0]}@{digest}"


def build(
    engine: Engine, repo: Path, name: str, base: str, dockerfile: Path, lock: Path, requirements: Path
) -> dict[str, Any]:
    """Build the experiment image; returns what build/env.json records under ``image``."""
    base = os.environ.get(BASE_ENV) or base
    exists = subprocess.run(
        engine.command("image", "exists" if engine.name == "podman" else "inspect", base), capture_output=True
    )
    if exists.returncode != 0 and engine.name == "podman" and base.startswith("localhost/"):
        raise UserError(
            f"base image {base} not found: build it from Debian packages with scripts/base-image.sh {base}, "
            f"or set {BASE_ENV} (or image.base in conf/experiment.yaml) to your registry's base"
        )
    key = lock_key(lock)
    wheel_dir = pitlane_wheel(requirements)
    tag = f"localhost/pitlane-exp/{name.lower()}:{key[:12]}"
    with tempfile.TemporaryDirectory() as tmp:
        iid = Path(tmp) / "iid"
        cmd = engine.command(
            "build",
            *engine.container_flags(),
            "--file",
            str(dockerfile),
            "--build-arg",
            f"BASE_IMAGE={base}",
            "--build-arg",
            f"LOCK_KEY={key}",
            "--build-context",
            f"wheels={wheelhouse(lock)}",
            "--build-arg",
            f"PITLANE_WHEEL={wheel_dir.name}",
            "--build-context",
            f"pitlane={wheel_dir}",
            "--label",
            f"{_LABEL}={name}",
            "--iidfile",
            str(iid),
            "--tag",
            tag,
            str(repo),
        )
        # The build's own output goes to the stage's stderr: a slow first build shows what it is doing.
        done = subprocess.run(cmd, stdout=sys.stderr, timeout=7200)
        if done.returncode != 0:
            raise ExternalToolError(f"{engine.name} build failed (exit {done.returncode}); see its output above")
        image_id = iid.read_text().strip()
    record: dict[str, Any] = {
        "status": "built",
        "engine": engine.name,
        "engine_version": _run(engine.command("--version"), f"{engine.name} --version").strip(),
        "base": base,
        "reference": tag,
        "id": image_id if image_id.startswith("sha256:") else f"sha256:{image_id}",
        "digest": _inspect(engine, image_id, "{{.Digest}}") if engine.name == "podman" else None,
        "lock_key": key,
        "pushed": None,
    }
    registry = os.environ.get(REGISTRY_ENV)
    if registry:
        record["pushed"] = push(engine, record["id"], name.lower(), registry)
    return record


def environment_in(engine: Engine, image_id: str) -> dict[str, Any]:
    """The environment fingerprint as the image's Python sees it (what the stages that run in it get)."""
    run = engine.command("run", "--rm", "--network", "none", *engine.container_flags(), image_id)
    out = _run(
        [*run, "python", "-m", "toolkit.experiment.fingerprint"],
        "fingerprint inside the image",
        timeout=600,
    )
    return dict(json.loads(out))
