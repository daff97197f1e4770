from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from toolkit.errors import TagGrammarError
from toolkit.release import grammar
from toolkit.release.grammar import TagAction, parse_tag

GTO = str(Path(sys.executable).parent / "gto")


@pytest.mark.parametrize(
    ("tag", "name", "action", "version", "stage", "counter"),
    [
        ("detector@v1.0.0", "detector", TagAction.REGISTER, "v1.0.0", None, None),
        ("detector@v1.0.0#3", "detector", TagAction.REGISTER, "v1.0.0", None, 3),
        ("detector@v1.0.0!", "detector", TagAction.DEREGISTER, "v1.0.0", None, None),
        ("detector@v1.0.0!#7", "detector", TagAction.DEREGISTER, "v1.0.0", None, 7),
        ("detector#prod#2", "detector", TagAction.ASSIGN, None, "prod", 2),
        ("detector#prod!#4", "detector", TagAction.UNASSIGN, None, "prod", 4),
        ("detector@deprecated", "detector", TagAction.DEPRECATE, None, None, None),
        ("detector@deprecated#9", "detector", TagAction.DEPRECATE, None, None, 9),
        (
            "models/perception=detector@v2.1.0-rc.1",
            "models/perception:detector",
            TagAction.REGISTER,
            "v2.1.0-rc.1",
            None,
            None,
        ),
        ("detector@2025.11.25-build42", "detector", TagAction.REGISTER, "2025.11.25-build42", None, None),
        ("lidar_seg@nightly", "lidar_seg", TagAction.REGISTER, "nightly", None, None),
    ],
)
def test_parse_every_gto_form(tag, name, action, version, stage, counter) -> None:
    parsed = parse_tag(tag)
    assert parsed is not None
    assert (parsed.name, parsed.action, parsed.version, parsed.stage, parsed.counter) == (
        name,
        action,
        version,
        stage,
        counter,
    )


@pytest.mark.parametrize("tag", ["v1.0.0", "detector", "detector@", "-x@v1", "detector#prod#x", "a@b@c", "det@latest"])
def test_non_release_tags_are_ignored(tag: str) -> None:
    assert parse_tag(tag) is None


def test_writers_match_gto_and_roundtrip() -> None:
    assert grammar.version_tag("detector", "1.2.0") == "detector@v1.2.0"  # GTO's v prefix for semver
    assert grammar.version_tag("detector", "v1.2.0") == "detector@v1.2.0"
    assert grammar.version_tag("dir/sub:detector", "nightly-3") == "dir/sub=detector@nightly-3"
    assert grammar.cancel_tag("detector", "1.2.0") == "detector@v1.2.0!"
    assert grammar.stage_tag("detector", "prod", 3) == "detector#prod#3"
    assert grammar.unassign_tag("detector", "prod", 4) == "detector#prod!#4"
    assert grammar.deprecate_tag("detector") == "detector@deprecated"
    for tag in ["dir/sub=detector@nightly-3", "detector#prod#3", "detector#prod!#4", "detector@v1.2.0!"]:
        parsed = parse_tag(tag)
        assert parsed is not None and parsed.tag == tag


@pytest.mark.parametrize(
    ("name", "version"),
    [
        ("bad name", "1.0"),
        ("x-", "1.0"),
        ("det", "1..0"),
        ("det", "a b"),
        ("det", "latest"),
        ("det", "-1"),
        ("det", "1#2"),
    ],
)
def test_invalid_names_and_versions_raise_one_clear_error(name: str, version: str) -> None:
    with pytest.raises(TagGrammarError, match="invalid"):
        grammar.version_tag(name, version)


def test_counter_rises_per_artifact_across_all_actions() -> None:
    tags = ["det@v1.0.0", "det#prod#1", "det#staging#5", "det@v1.0.0!#2", "other#prod#9", "det=x#prod#12"]
    assert grammar.next_counter(tags, "det") == 6
    assert grammar.next_counter(tags, "other") == 10
    assert grammar.next_counter(tags, "new") == 1


def test_version_order_semver_when_both_parse_else_time() -> None:
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    later = t0 + timedelta(hours=1)
    assert grammar.version_newer("v1.10.0", t0, "v1.9.0", later)  # semver wins over time
    assert not grammar.version_newer("v1.0.0-rc.1", later, "v1.0.0", t0)
    assert grammar.version_newer("nightly", later, "v9.0.0", t0)  # not both semver -> time
    assert not grammar.version_newer("nightly", t0, "build-2", later)
    ordered = sorted([("v1.10.0", t0), ("v1.2.0", later), ("v1.9.0", t0)], key=lambda v: grammar.version_sort_key(*v))
    assert [v for v, _ in ordered] == ["v1.2.0", "v1.9.0", "v1.10.0"]


def _git(repo: Path, *args: str, message: str | None = None) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, input=message, text=True)


def test_gto_show_reads_our_tags(git_repo: Path) -> None:
    """The real gto CLI sees versions and stages exactly as our grammar writes them."""
    (git_repo / "f").write_text("1")
    _git(git_repo, "add", "f")
    _git(git_repo, "commit", "-qm", "one")
    manifest = json.dumps({"schema": "pitlane.package/v1", "files": []})
    _git(git_repo, "tag", "-a", grammar.version_tag("detector", "1.0.0"), "-F", "-", message=manifest)
    (git_repo / "f").write_text("2")
    _git(git_repo, "commit", "-qam", "two")
    _git(git_repo, "tag", "-a", grammar.version_tag("detector", "1.1.0"), "-F", "-", message=manifest)
    _git(git_repo, "tag", "-a", grammar.stage_tag("detector", "prod", 1), "-m", "promote")
    _git(git_repo, "tag", "-a", grammar.version_tag("dir:lidar", "0.3.0"), "-m", "x")
    _git(git_repo, "tag", "lightweight@v9.9.9")  # lightweight: ignored by both
    env = {**os.environ, "GTO_EMOJIS": "false"}
    out = subprocess.run([GTO, "show", "--json"], cwd=git_repo, capture_output=True, text=True, check=True, env=env)
    state = json.loads(out.stdout)
    assert state["detector"]["version"] == "v1.1.0"
    assert state["detector"]["stage"]["prod"] == "v1.1.0"
    assert state["dir:lidar"]["version"] == "v0.3.0"
    assert "lightweight" not in state
    ours = {p.name for t in _tags(git_repo) if (p := parse_tag(t))}
    assert ours == {"detector", "dir:lidar", "lightweight"}  # the grammar alone cannot tell lightweight tags


def _tags(repo: Path) -> list[str]:
    return subprocess.run(["git", "tag"], cwd=repo, capture_output=True, text=True, check=True).stdout.split()
