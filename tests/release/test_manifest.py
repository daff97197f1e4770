from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

import pytest

from toolkit.errors import ReleaseError
from toolkit.release.dvcmeta import parse_dvc_config, parse_dvc_file, parse_dvc_lock
from toolkit.release.manifest import (
    DirEntry,
    ManifestFile,
    PackageManifest,
    dir_md5,
    run_record_deps,
    summarize_run_record,
    verify_dir_entries,
)


def test_dir_md5_matches_dvc_listing_hash() -> None:
    # The exact bytes DVC stores as the .dir object (dvc_data Tree.as_bytes) and the hash DVC gives it.
    listing = [
        {"md5": "4c573c6202db9604d035f14ee542319f", "relpath": "config.json"},
        {"md5": "682af420fc871c272718d66cfb9ee1e3", "relpath": "model.pt"},
    ]
    expected = hashlib.md5(json.dumps(listing, sort_keys=True).encode()).hexdigest() + ".dir"
    entries = [DirEntry(relpath=e["relpath"], md5=e["md5"]) for e in reversed(listing)]
    assert dir_md5(entries) == expected
    good = ManifestFile(path="models", md5=expected, entries=entries)
    assert verify_dir_entries(good)
    bad = good.model_copy(update={"entries": [*entries[:1], DirEntry(relpath="model.pt", md5="0" * 32)]})
    assert not verify_dir_entries(bad)


def test_manifest_message_roundtrip_and_errors() -> None:
    m = PackageManifest(
        name="d",
        version="v1",
        tag="d@v1",
        commit="a" * 40,
        created_at=datetime(2025, 1, 1, tzinfo=UTC),
        files=[ManifestFile(path="m.pt", md5="b" * 32)],
    )
    assert PackageManifest.from_message(m.to_message()) == m
    assert m.to_message() == m.model_copy().to_message()  # stable bytes
    for message, text in [
        ("not json", "not a JSON manifest"),
        ('{"schema": "other"}', "not a pitlane.package/v1"),
        ('{"schema": "pitlane.package/v1", "name": "d"}', "invalid manifest"),
    ]:
        with pytest.raises(ReleaseError, match=text):
            PackageManifest.from_message(message)


def test_run_record_summary_keeps_lineage_inputs() -> None:
    record = {
        "git": {"commit": "c" * 40, "dirty": False},
        "params_sha256": "p" * 64,
        "hardware": {"cpus": 2},
        "data": {
            "lock": {"process@a": {"deps": {"src/process.py": "1" * 32}, "outs": {"data/processed/a": "x"}}},
            "sources": {"a": {"repo": "r", "commit": "e" * 40, "path": "slices/a.mcap", "md5": "2" * 32}},
        },
        "metrics": {"loss": 0.1},
    }
    summary = summarize_run_record(record)
    assert "hardware" not in summary and summary["git"]["commit"] == "c" * 40
    assert run_record_deps(summary) == [
        ("src/process.py", "1" * 32, "run:process@a"),
        (f"r@{'e' * 40}:slices/a.mcap", "2" * 32, "dataset:a"),
    ]
    assert run_record_deps({"deps": {"x": {"md5": "3" * 32}}}) == [("x", "3" * 32, "run")]


def test_dvc_metadata_readers() -> None:
    lock = parse_dvc_lock(
        "schema: '2.0'\nstages:\n  train:\n    cmd: python t.py\n    deps:\n    - path: data/a.bag\n"
        "      hash: md5\n      md5: " + "a1" * 16 + "\n      size: 10\n    outs:\n    - path: models\n"
        "      hash: md5\n      md5: " + "b2" * 16 + ".dir\n      size: 20\n      nfiles: 2\n"
    )
    out = lock.outs["models"]
    assert (out.is_dir, out.nfiles, out.stage) == (True, 2, "train")
    assert out.object_key("cache/prefix") == f"cache/prefix/files/md5/b2/{'b2' * 15}.dir"
    assert [d.path for d in lock.deps["train"]] == ["data/a.bag"]
    (legacy,) = parse_dvc_file("outs:\n- md5: " + "c3" * 16 + "\n  path: b.bag\n", "bags/b.bag.dvc")
    assert (legacy.path, legacy.hash_name, legacy.object_key()) == ("bags/b.bag", "md5-dos2unix", f"c3/{'c3' * 15}")
    remote = parse_dvc_config(
        "[core]\n    remote = s3\n['remote \"s3\"']\n    url = s3://bucket/exp\n"
        "    endpointurl = http://127.0.0.1:9000\n['remote \"other\"']\n    url = /tmp/x\n"
    )
    assert remote is not None and (remote.name, remote.url, remote.endpointurl) == (
        "s3",
        "s3://bucket/exp",
        "http://127.0.0.1:9000",
    )
    assert remote.bucket_and_prefix == ("bucket", "exp")
    with pytest.raises(ReleaseError, match="not valid YAML"):
        parse_dvc_lock("stages: [")
