"""Verify a release tag before the registry is told about it (the release workflow's gate).

A tag must follow the NAME@VERSION grammar, be annotated with a valid manifest
for the commit it points at, and that commit's dvc.lock / .dvc files must track
every manifest file with the same hash. With ``check_remote`` the files are
fetched from the DVC remote as well, so a tag whose data was never pushed fails here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from toolkit.errors import ReleaseError, TagGrammarError


@dataclass(frozen=True)
class VerifiedRelease:
    tag: str
    name: str
    version: str
    commit: str
    files: list[str]


def verify_release(repo: Path, tag: str, *, check_remote: bool = False) -> VerifiedRelease:
    from toolkit.release.grammar import parse_tag
    from toolkit.release.manifest import PackageManifest, verify_dir_entries
    from toolkit.release.release import tracked_outputs
    from toolkit.release.tags import open_repo, read_tag, tag_refs

    tag = tag.removeprefix("refs/tags/")
    parsed = parse_tag(tag)
    if parsed is None or not parsed.is_version or parsed.action != "register":
        raise TagGrammarError(f"tag {tag!r} is not a release tag NAME@VERSION")
    git = open_repo(repo)
    oid = tag_refs(git).get(tag)
    if oid is None:
        raise ReleaseError(f"tag {tag!r} does not exist in {repo}")
    release_tag = read_tag(git, tag, oid)
    if release_tag is None:
        raise ReleaseError(f"tag {tag!r} is not annotated: release tags carry their manifest")
    manifest = PackageManifest.from_message(release_tag.message)
    if manifest.tag != tag or manifest.commit != release_tag.commit:
        raise ReleaseError(
            f"manifest of {tag!r} describes {manifest.tag} at {manifest.commit[:12]}, "
            f"but the tag points at {release_tag.commit[:12]}"
        )
    if not manifest.files:
        raise ReleaseError(f"{tag}: the manifest lists no files")
    _lock, outs = tracked_outputs(git, release_tag.commit)
    if not outs:
        raise ReleaseError(f"{tag}: commit {release_tag.commit[:12]} has no DVC-tracked outputs (no dvc.lock)")
    for f in manifest.files:
        out = outs.get(f.path)
        if out is None:
            raise ReleaseError(f"{tag}: {f.path} is not tracked by DVC at {release_tag.commit[:12]}")
        if out.md5 != f.md5:
            raise ReleaseError(f"{tag}: {f.path} is {out.md5} at the commit, the manifest says {f.md5}")
        if f.entries is not None and not verify_dir_entries(f):
            raise ReleaseError(f"{tag}: the file list of directory {f.path} does not match its hash {f.md5}")
    if check_remote:
        _fetch(repo, tag, [f.path for f in manifest.files])
    return VerifiedRelease(tag, manifest.name, manifest.version, release_tag.commit, [f.path for f in manifest.files])


def _fetch(repo: Path, tag: str, paths: list[str]) -> None:
    """Fetch the files (a fresh CI checkout has an empty cache), then require cache and remote to agree."""
    import json
    import subprocess

    from toolkit.release.release import dvc_exe

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        # dvc reads the dvc.lock of the checked-out commit: the tag's, in a release job.
        return subprocess.run([dvc_exe(), *args], cwd=repo, capture_output=True, text=True, check=False)

    for proc in (run("fetch", *paths), run("status", "--cloud", "--json", *paths)):
        if proc.returncode != 0:
            last = next((ln for ln in reversed(proc.stderr.splitlines()) if ln.strip()), f"exit {proc.returncode}")
            raise ReleaseError(f"{tag}: files are not in the DVC remote: {last.strip()}")
    try:
        status = json.loads(proc.stdout or "{}")
    except ValueError:
        status = {}
    if status:
        listed = ", ".join(f"{path} ({state})" for path, state in sorted(status.items()))
        raise ReleaseError(f"{tag}: files are not in the DVC remote: {listed}")
