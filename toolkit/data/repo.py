"""The data repo: a Git + DVC working tree, driven through the real `git` and `dvc` CLIs.

Bags are `dvc add`ed where they lie inside the repo; their sidecars are
committed to Git. Paths outside the repo are refused (the CLI's ``--copy``
copies them into ``bags/`` first). The catalog DB is a cache in
``.pitlane/catalog.db``, ignored by Git.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from toolkit import faults
from toolkit.data import journal
from toolkit.data.catalog import CATALOG_VERSION, Catalog, sqlite_catalog_version
from toolkit.data.sidecar import SIDECAR_SUFFIX, Sidecar, read_sidecar
from toolkit.errors import DataRepoError, ExternalToolError, NotFoundError

CACHE_DIR = journal.CACHE_DIR
CATALOG_FILE = "catalog.db"
BAGS_DIR = "bags"


def _tool(name: str) -> str:
    # Prefer the tool installed next to this interpreter (the venv's dvc), then PATH.
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if not found:
        raise ExternalToolError(f"`{name}` is not installed")
    return found


def _last_line(text: str) -> str:
    # dvc ends its errors with a support footer; the line worth showing is its last "ERROR: ...".
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip() and "Having any troubles?" not in ln]
    errors = [ln for ln in lines if ln.startswith(("ERROR:", "error:", "fatal:"))]
    return (errors or lines)[-1] if lines else ""


def run_tool(tool: str, args: Sequence[str], cwd: Path) -> str:
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "GIT_TERMINAL_PROMPT": "0"}
    step = f"{tool}.{args[0] if args else ''}"
    faults.point(f"{step}.before")
    # The children inherit the repo lock: one orphaned by a killed parent still holds it until it ends.
    proc = subprocess.run(
        [_tool(tool), *args], cwd=cwd, env=env, capture_output=True, text=True, pass_fds=tuple(journal.held_fds)
    )
    faults.point(f"{step}.after")
    if proc.returncode != 0:
        detail = _last_line(proc.stderr) or _last_line(proc.stdout) or f"exit code {proc.returncode}"
        raise ExternalToolError(f"{tool} {args[0]} failed: {detail}")
    return proc.stdout


class DataRepo:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self._catalog: Catalog | None = None

    # --- locating ---------------------------------------------------------
    @classmethod
    def find(cls, start: Path | None = None) -> DataRepo:
        here = (start or Path.cwd()).resolve()
        for candidate in [here, *here.parents]:
            if (candidate / ".dvc").is_dir() and (candidate / ".git").exists():
                return cls(candidate)
        raise NotFoundError(f"{here} is not inside a pitlane data repo (run `pitlane data init`)")

    def git(self, *args: str) -> str:
        return run_tool("git", args, self.root)

    def dvc(self, *args: str) -> str:
        return run_tool("dvc", args, self.root)

    # --- paths ------------------------------------------------------------
    def abs_path(self, path: str | Path) -> Path:
        p = Path(path)
        return p if p.is_absolute() else self.root / p

    def is_inside(self, path: Path) -> bool:
        try:
            path.resolve().relative_to(self.root)
        except ValueError:
            return False
        return True

    def rel(self, path: Path) -> str:
        """The repo-relative POSIX path of `path`; refuses paths that escape the repo."""
        resolved = path.resolve()
        try:
            rel = resolved.relative_to(self.root)
        except ValueError:
            raise DataRepoError(
                f"{path} is outside the data repo {self.root}; use --copy to copy it into {BAGS_DIR}/"
            ) from None
        if not rel.parts:
            raise DataRepoError(f"{path} is the data repo itself, not a bag")
        if rel.parts[0] in {".git", ".dvc", CACHE_DIR}:
            raise DataRepoError(f"{path} is inside the repo's internal {rel.parts[0]}/ directory")
        return rel.as_posix()

    # --- catalog ----------------------------------------------------------
    @property
    def catalog_path(self) -> Path:
        return self.root / CACHE_DIR / CATALOG_FILE

    @property
    def catalog(self) -> Catalog:
        if self._catalog is None:
            if self.catalog_path.exists() and sqlite_catalog_version(self.catalog_path) != CATALOG_VERSION:
                for suffix in ("", "-wal", "-shm"):  # written by an older pitlane: rebuild the cache
                    Path(f"{self.catalog_path}{suffix}").unlink(missing_ok=True)
            fresh = not self.catalog_path.exists()
            self._catalog = Catalog.open(self.catalog_path)
            if fresh:
                # A clone has sidecars but no catalog yet: the cache rebuilds itself.
                self._catalog.rebuild(self.sidecars())
        return self._catalog

    def rebuild_catalog(self) -> int:
        """Rebuild the catalog cache from the sidecars in the working tree."""
        return self.catalog.rebuild(self.sidecars())

    def sidecar_files(self) -> list[Path]:
        """Sidecars tracked by Git or present in the tree (never inside .git/.dvc/.pitlane)."""
        found: list[Path] = []
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames[:] = [d for d in dirnames if d not in {".git", ".dvc", CACHE_DIR}]
            found.extend(Path(dirpath) / f for f in filenames if f.endswith(SIDECAR_SUFFIX))
        return sorted(found)

    def sidecars(self) -> list[Sidecar]:
        return [read_sidecar(p) for p in self.sidecar_files()]

    def close(self) -> None:
        if self._catalog is not None:
            self._catalog.close()
            self._catalog = None


def init_repo(path: Path, remote: str | None = None, endpoint: str | None = None) -> DataRepo:
    """Create (or complete) a data repo at `path`: git init, dvc init, ignore the catalog cache, commit."""
    if endpoint and not remote:
        raise DataRepoError("--endpoint needs --remote")
    if remote and not remote.startswith(("s3://", "gs://", "azure://", "ssh://", "http://", "https://", "/")):
        if "://" in remote:
            raise DataRepoError(f"unsupported remote URL {remote!r}")
        remote = str(Path(remote).resolve())  # a local directory remote
    path.mkdir(parents=True, exist_ok=True)
    root = path.resolve()
    if not (root / ".git").exists():
        run_tool("git", ["init", "-q"], root)
    if not (root / ".dvc").is_dir():
        run_tool("dvc", ["init", "-q"], root)
    repo = DataRepo(root)
    (root / BAGS_DIR).mkdir(exist_ok=True)
    gitignore = root / ".gitignore"
    lines = gitignore.read_text().splitlines() if gitignore.exists() else []
    if f"/{CACHE_DIR}/" not in lines:
        gitignore.write_text("\n".join([*lines, f"/{CACHE_DIR}/"]) + "\n")
    if remote:
        repo.dvc("remote", "add", "-f", "-d", "storage", remote)
        if endpoint:
            repo.dvc("remote", "modify", "storage", "endpointurl", endpoint)
            repo.dvc("remote", "modify", "storage", "region", "us-east-1")
    paths = [".gitignore", ".dvc/.gitignore", ".dvc/config", ".dvcignore"]
    existing = [p for p in paths if (root / p).exists()]
    repo.git("add", "--", *existing)
    if repo.git("status", "--porcelain", "--", *existing).strip():
        repo.git("commit", "-q", "-m", "pitlane: init data repo", "--", *existing)
    return repo
