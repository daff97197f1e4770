"""Git tags -> registry versions: real git repos, real dvc, pygit2 mirror, SQLite."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pygit2
import pytest
from sqlalchemy import func, select

from registry.core.db import Database
from registry.core.migrate import upgrade
from registry.models import AuditEvent, Channel, PackageFile, PackageVersion
from registry.models_links import BagSource, SyncedTag, VersionDep
from registry.services import access
from registry.services import packages as pkgs
from registry.services.remotes import register_remote
from registry.services.storage import open_stream
from registry.sync import registry_package_name, sync_remote
from tests.release.experiment import SECOND_BAG, Experiment, copy_experiment, md5, run
from toolkit.release.manifest import PackageManifest
from toolkit.release.release import release

ADMIN = pkgs.system_principal("test-admin")


def md5_prefix(path: Path, size: int) -> str:
    return hashlib.md5(path.read_bytes()[:size]).hexdigest()


@pytest.fixture
def db(tmp_path: Path):
    database = Database(f"sqlite:///{tmp_path / 'registry.db'}")
    upgrade(database.engine)
    with database.transaction() as s:
        access.create_project(s, ADMIN, "perception")
    yield database
    database.dispose()


@pytest.fixture
def exp(tmp_path: Path) -> Experiment:
    return copy_experiment(tmp_path)


def _remote(db: Database, exp: Experiment) -> int:
    with db.transaction() as s:
        return register_remote(s, ADMIN, "perception", str(exp.remote)).id


def _versions(db: Database) -> dict[str, PackageVersion]:
    with db.transaction(write=False) as s:
        return {v.version: v for v in s.execute(select(PackageVersion)).scalars()}


def test_sync_records_versions_files_channels_and_lineage(db: Database, exp: Experiment, tmp_path: Path) -> None:
    rid = _remote(db, exp)
    release("detector", "1.0.0", repo=exp.path, channel="staging")
    report = sync_remote(db, rid, tmp_path / "home")
    assert report.errors == []
    assert report.versions == ["perception/detector@v1.0.0"]
    assert report.channels == ["detector#staging -> v1.0.0"]
    v = _versions(db)["v1.0.0"]
    assert v.commit == exp.git("rev-parse", "HEAD").strip()
    assert [f.path for f in v.files] == ["models/config.json", "models/model.pt"]
    for f in v.files:
        # The URL is the DVC object itself: the bytes there are the file's bytes.
        data = b"".join(open_stream(f.url))
        assert data == (exp.path / f.path).read_bytes()
        assert f.url.endswith(f"/files/md5/{f.md5[:2]}/{f.md5[2:]}")
    with db.transaction(write=False) as s:
        assert s.execute(select(Channel.name)).scalars().all() == ["staging"]
        deps = {(d.path, d.md5) for d in s.execute(select(VersionDep)).scalars()}
        assert ("data/slices/slice_a.bag", exp.slice_md5) in deps  # from dvc.lock
        assert exp.data_repo is not None
        data_commit = run(["git", "rev-parse", "HEAD"], exp.data_repo).strip()
        dataset_slice = md5_prefix(SECOND_BAG, 4096)
        # From the run record's dataset sources (data repo + commit + path).
        assert (f"{exp.data_repo}@{data_commit}:slices/drive_b_0-5s.bag", dataset_slice) in deps
        sources = s.execute(select(BagSource).order_by(BagSource.slice_path)).scalars().all()
        assert sorted((b.slice_path, b.slice_md5, b.source_md5) for b in sources) == sorted(
            [
                ("data/slices/slice_a.bag", exp.slice_md5, exp.source_bag_md5),  # sidecar in the experiment repo
                (f"{exp.data_repo}:slices/drive_b_0-5s.bag", dataset_slice, md5(SECOND_BAG)),  # in the data repo's Git
            ]
        )
        actions = s.execute(select(AuditEvent.action, AuditEvent.actor)).all()
        assert ("version.publish", "git-unverified:test@pitlane.local") in actions
        assert ("channel.set", "git-unverified:test@pitlane.local") in actions


def test_sync_is_incremental_and_idempotent(db: Database, exp: Experiment, tmp_path: Path) -> None:
    rid = _remote(db, exp)
    home = tmp_path / "home"
    release("detector", "1.0.0", repo=exp.path)
    assert sync_remote(db, rid, home).seen == 1
    again = sync_remote(db, rid, home)
    assert (again.seen, again.versions, again.errors) == (0, [], [])
    exp.retrain(seed=2)
    release("detector", "1.1.0", repo=exp.path, channel="production")
    third = sync_remote(db, rid, home)
    assert third.seen == 2 and third.versions == ["perception/detector@v1.1.0"]
    # Whoever can push tags could write this stage tag: protected channels move only in the registry.
    assert third.channels == [] and "production is a protected channel" in third.errors[0]
    versions = _versions(db)
    assert set(versions) == {"v1.0.0", "v1.1.0"}
    assert versions["v1.0.0"].files[1].md5 != versions["v1.1.0"].files[1].md5
    # A fresh mirror (lost disk) re-reads everything and changes nothing.
    fresh = sync_remote(db, rid, tmp_path / "other-home")
    assert fresh.seen == 0


def _tag(exp: Experiment, name: str, message: str) -> None:
    repo = pygit2.Repository(str(exp.path))
    sig = pygit2.Signature("Mallory", "mallory@example.com")
    repo.create_tag(name, repo.head.target, pygit2.enums.ObjectType.COMMIT, sig, message)
    exp.git("push", "-q", "origin", f"refs/tags/{name}")


def test_bad_tags_are_recorded_as_errors_and_block_nothing(db: Database, exp: Experiment, tmp_path: Path) -> None:
    rid = _remote(db, exp)
    good = release("detector", "1.0.0", repo=exp.path)
    lying = good.manifest.model_copy(update={"version": "v6.6.6", "tag": "detector@v6.6.6"})
    lying.files[0] = lying.files[0].model_copy(update={"md5": "0" * 32 + ".dir"})
    _tag(exp, "detector@v6.6.6", lying.to_message())
    _tag(exp, "detector@v7.0.0", "plain GTO tag without a manifest")
    _tag(exp, "detector#prod#9", "{}")  # stage on a commit: picks the version there
    exp.git("tag", "lightweight@v1.0.0")  # lightweight tags do not count (GTO rule)
    exp.git("push", "-q", "origin", "refs/tags/lightweight@v1.0.0")
    report = sync_remote(db, rid, tmp_path / "home")
    assert report.versions == ["perception/detector@v1.0.0"]
    assert report.channels == ["detector#prod -> v1.0.0"]
    assert len(report.errors) == 2
    assert any("DVC at the commit records" in e for e in report.errors)
    assert any("not a JSON manifest" in e for e in report.errors)
    assert set(_versions(db)) == {"v1.0.0"}
    with db.transaction(write=False) as s:
        outcomes = dict(s.execute(select(SyncedTag.name, SyncedTag.outcome)).all())
    assert outcomes == {
        "detector@v1.0.0": "version",
        "detector@v6.6.6": "error",
        "detector@v7.0.0": "error",
        "detector#prod#9": "stage",
    }


def test_monorepo_names_map_to_registry_names(db: Database, exp: Experiment, tmp_path: Path) -> None:
    rid = _remote(db, exp)
    release("vision/lidar:seg", "0.1.0", repo=exp.path)
    report = sync_remote(db, rid, tmp_path / "home")
    assert report.versions == ["perception/vision.lidar.seg@v0.1.0"]
    assert registry_package_name("a/b:c") == "a.b.c"


def test_unreachable_remote_is_one_clear_error(db: Database, tmp_path: Path) -> None:
    with db.transaction() as s:
        rid = register_remote(s, ADMIN, "perception", str(tmp_path / "nowhere.git")).id
    from toolkit.errors import ReleaseError

    with pytest.raises(ReleaseError, match="cannot fetch tags"):
        sync_remote(db, rid, tmp_path / "home")


def test_manifest_roundtrip_from_tag(exp: Experiment) -> None:
    result = release("detector", "1.0.0", repo=exp.path, push=False)
    repo = pygit2.Repository(str(exp.path))
    tag = repo.get(repo.references["refs/tags/detector@v1.0.0"].target)
    assert PackageManifest.from_message(tag.message) == result.manifest


def count(db: Database, model) -> int:
    with db.transaction(write=False) as s:
        return int(s.execute(select(func.count()).select_from(model)).scalar_one())


def test_file_rows_match_manifest(db: Database, exp: Experiment, tmp_path: Path) -> None:
    rid = _remote(db, exp)
    result = release("detector", "1.0.0", repo=exp.path)
    sync_remote(db, rid, tmp_path / "home")
    entries = result.manifest.files[0].entries or []
    assert count(db, PackageFile) == len(entries) == 2


def test_sync_on_sqlite_and_postgresql(db_url: str, exp: Experiment, tmp_path: Path) -> None:
    """The same sync against both backends (db_url is parametrized in tests/registry/conftest.py)."""
    database = Database(db_url)
    try:
        with database.transaction() as s:
            access.create_project(s, ADMIN, "perception")
        rid = _remote(database, exp)
        release("detector", "1.0.0", repo=exp.path, channel="staging")
        report = sync_remote(database, rid, tmp_path / "home")
        assert (report.versions, report.channels, report.errors) == (
            ["perception/detector@v1.0.0"],
            ["detector#staging -> v1.0.0"],
            [],
        )
        assert sync_remote(database, rid, tmp_path / "home").seen == 0
        with database.transaction(write=False) as s:
            assert s.execute(select(func.count()).select_from(BagSource)).scalar_one() == 2
            assert s.execute(select(func.count()).select_from(PackageFile)).scalar_one() == 2
    finally:
        database.dispose()
