"""Kill `pitlane data add` (with and without --copy) and `pitlane data slice` anywhere, rerun, compare.

Each command first runs uninterrupted on a fresh copy of its starting repo: that
gives the reference end state and, through PITLANE_FAULT_TRACE, every named point
it passes. Then, each on a fresh copy of the same start:
- every point once: SIGKILL there, rerun, compare;
- chains: several kills in a row (each rerun killed again, at seeded random points,
  recovery points included), then one rerun to the end, compare;
- timed kills: SIGKILL at a seeded random moment (inside git and dvc children too), rerun, compare.
The counts of kills that really happened are printed per command at the end of the session.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import BAGS
from tests.faults import harness as h
from tests.faults.conftest import KILLS
from toolkit.data.ingest import add_bags
from toolkit.data.repo import init_repo

SEED = 16
# Chains per command, each of 6 to 11 kill attempts: most where a run is cheap (before its first dvc call).
CHAINS = {"data add --copy": 12, "data add": 8, "data slice": 5}
TIMED = 2  # per command; each has two kills at random moments
# Points a rerun passes while recovering a killed run: killing there must be recovered too.
RECOVERY_POINTS = ["recover.staging", "recover.staging_removed", "recover.catalog"]


def _usb(folder: Path) -> Path:
    """A vehicle's USB folder in miniature: ROS 1, MCAP, a rosbag2 directory, and a damaged bag."""
    folder.mkdir(parents=True)
    shutil.copy2(BAGS / "ros1" / "fake_sensors_sample.bag", folder)
    shutil.copy2(BAGS / "mcap" / "only_topics.mcap", folder)
    shutil.copytree(BAGS / "mcap" / "cdr_test", folder / "cdr_test")
    (folder / "truncated.bag").write_bytes((BAGS / "ros1" / "test_bag_multiple_connections.bag").read_bytes()[:64])
    return folder


@dataclass
class Case:
    name: str
    start: Path  # the starting state: a data repo (and the sources it reads) under one folder
    args: list[str]
    rc: int = 0
    state: dict[str, object] | None = None
    points: list[tuple[str, int]] | None = None
    seconds: float = 0.0

    def fresh(self, where: Path) -> Path:
        shutil.copytree(self.start, where, symlinks=True)
        return where / "repo"


def _start_add_copy(base: Path) -> list[str]:
    init_repo(base / "repo").close()
    return ["data", "add", "--copy", str(_usb(base / "usb"))]


def _start_add(base: Path) -> list[str]:
    init_repo(base / "repo").close()
    _usb(base / "repo" / "bags" / "usb")
    return ["data", "add", "bags/usb"]


def _start_slice(base: Path) -> list[str]:
    repo = init_repo(base / "repo")
    shutil.copy2(BAGS / "ros1" / "fake_sensors_sample.bag", repo.root / "bags" / "fake.bag")
    add_bags(repo, [repo.root / "bags" / "fake.bag"])
    repo.close()
    return ["data", "slice", "bags/fake.bag", "-o", "slices/cut.bag", "--start", "0", "--end", "1"]


STARTS: dict[str, Callable[[Path], list[str]]] = {
    "data add --copy": _start_add_copy,
    "data add": _start_add,
    "data slice": _start_slice,
}


@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Case]:
    out: dict[str, Case] = {}
    for name, make in STARTS.items():
        base = tmp_path_factory.mktemp("start")
        args = make(base / "s")
        case = Case(name, base / "s", args)
        ref = case.fresh(base / "reference")
        t0 = time.monotonic()
        res, points = h.trace(args, ref)
        case.seconds = time.monotonic() - t0
        case.rc, case.state, case.points = res.rc, h.end_state(ref), points
        assert "Traceback" not in res.err, res.err
        out[name] = case
    return out


def _finish(case: Case, repo: Path, label: str) -> None:
    res = h.run(case.args, repo)
    assert "Traceback" not in res.err, res.err
    assert res.rc == case.rc, f"{label}: rerun exited {res.rc}: {res.err[-400:]}"
    differs = h.diff(h.end_state(repo), case.state or {})
    assert not differs, f"{label}: {differs}"


@pytest.mark.parametrize("command", list(STARTS))
def test_kill_at_every_point_then_rerun(command: str, cases: dict[str, Case], tmp_path: Path) -> None:
    """Every point of the uninterrupted run gets one SIGKILL.

    Up to the commit, one repo takes them in order: each rerun recovers the previous kill, goes on and is
    killed at the next point (a crash during recovery included), and a last rerun finishes. After the commit
    a rerun has nothing left to redo, so each of those points gets a fresh repo and its own rerun.
    """
    case = cases[command]
    assert case.points, "the uninterrupted run passed no fault point"
    commit = next(i for i, p in enumerate(case.points) if p[0] == "git.commit.after")
    repo = case.fresh(tmp_path / "pre")
    for point in case.points[:commit]:
        res = h.kill_at(case.args, repo, point)
        assert res.rc == h.KILLED, f"{point} not reached: rc {res.rc} {res.err[-400:]}"
        KILLS[command] += 1
    _finish(case, repo, f"killed at each of {case.points[:commit]}")
    for i, point in enumerate(case.points[commit:]):
        repo = case.fresh(tmp_path / f"post{i}")
        res = h.kill_at(case.args, repo, point)
        assert res.rc == h.KILLED, f"{point} not reached: rc {res.rc} {res.err[-400:]}"
        KILLS[command] += 1
        _finish(case, repo, f"killed at {point}")
        shutil.rmtree(tmp_path / f"post{i}")


@pytest.mark.parametrize("command", list(STARTS))
def test_chains_of_kills_then_rerun(command: str, cases: dict[str, Case], tmp_path: Path) -> None:
    case = cases[command]
    rng = h.rng(SEED + len(command))
    assert case.points
    # Up to the first dvc call a run is cheap: chains there (and in recovery) buy many kills per final rerun.
    cut = next((i for i, p in enumerate(case.points) if p[0].startswith("dvc.")), len(case.points))
    early = case.points[:cut] + [(name, 1) for name in RECOVERY_POINTS]  # reached by every rerun of a kill
    for c in range(CHAINS[command]):
        repo = case.fresh(tmp_path / f"c{c}")
        chain = [rng.choice(early) for _ in range(rng.randint(6, 10))]
        if c % 2:
            chain.append(rng.choice(case.points))  # and one anywhere, dvc and git included
        for point in chain:
            res = h.kill_at(case.args, repo, point)
            assert "Traceback" not in res.err, res.err
            if res.rc == h.KILLED:
                KILLS[command] += 1
            else:  # not reached from this state: the run went to its end, and the next one reruns a finished command
                assert res.rc == case.rc, f"chain {chain}: {res.err[-400:]}"
        _finish(case, repo, f"chain {chain}")
        shutil.rmtree(tmp_path / f"c{c}")


@pytest.mark.parametrize("command", list(STARTS))
def test_kill_at_random_moments_then_rerun(command: str, cases: dict[str, Case], tmp_path: Path) -> None:
    case = cases[command]
    rng = h.rng(SEED * 7 + len(command))
    for k in range(TIMED):
        repo = case.fresh(tmp_path / f"t{k}")
        for _ in range(2):  # the rerun is killed at a random moment too
            res = h.run(case.args, repo, kill_after=rng.uniform(0.0, case.seconds))
            if res.rc == h.KILLED:
                KILLS[command] += 1
        _finish(case, repo, f"timed kills #{k}")
        shutil.rmtree(tmp_path / f"t{k}")
