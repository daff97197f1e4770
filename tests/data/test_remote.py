"""A data repo whose DVC remote is real S3 (SeaweedFS): push, clone, pull, same bytes."""

from __future__ import annotations

import hashlib
import subprocess
import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import BAGS
from tests.services.s3 import S3Server
from toolkit.cli.main import app
from toolkit.data.ingest import add_bags, pull, push
from toolkit.data.repo import DataRepo, init_repo


def test_push_clone_pull_through_s3(s3_server: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in s3_server.env().items():
        monkeypatch.setenv(key, value)
    remote = f"s3://{s3_server.bucket}/data-{uuid.uuid4().hex[:8]}"
    result = CliRunner().invoke(
        app, ["data", "init", str(tmp_path / "origin"), "--remote", remote, "--endpoint", s3_server.endpoint]
    )
    assert result.exit_code == 0, result.stderr
    repo = DataRepo(tmp_path / "origin")
    config = (repo.root / ".dvc" / "config").read_text()
    assert remote in config and s3_server.endpoint in config

    bag = repo.root / "bags" / "husky.bag"
    bag.write_bytes((BAGS / "sensors" / "husky_gps_imu.bag").read_bytes())
    [sc] = add_bags(repo, [bag]).added
    push(repo)

    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(repo.root), str(clone)], check=True)
    copy = DataRepo(clone)
    assert not (clone / "bags" / "husky.bag").exists()
    assert [s.path for s in copy.catalog.all_sidecars()] == ["bags/husky.bag"]  # catalog from sidecars alone
    pull(copy, ["bags/husky.bag"])
    pulled = (clone / "bags" / "husky.bag").read_bytes()
    assert hashlib.sha256(pulled).hexdigest() == sc.summary.sha256


def test_endpoint_needs_remote(tmp_path: Path) -> None:
    from toolkit.errors import DataRepoError

    with pytest.raises(DataRepoError, match="--endpoint needs --remote"):
        init_repo(tmp_path / "r", endpoint="http://127.0.0.1:1")
