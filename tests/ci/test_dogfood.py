"""Dogfood: `pitlane ci run` executes this repository's own ci.yml as a non-root user in a fresh clone.

GitHub's runners are not root; the development machines and CI here are. So the test drops to an unprivileged
uid (nobody's, with its own HOME) and runs the `lint` job of `.github/workflows/ci.yml` through the harness:
`make install` creates the clone's .venv from locks/dev.txt with Debian's python3 (a few minutes: every locked
package is installed), system-deps finds what it needs without root, then the lock check, ruff and mypy run.

The harness itself runs as that user from Debian's python3 with this checkout and the main .venv's
site-packages on PYTHONPATH (the main .venv's own interpreter lies under /root, which the user cannot enter);
the job's steps get PYTHONPATH cleared so that `make install` builds a venv of its own.

The second test reuses that venv, with Pitlane uninstalled, as the runner of an experiment repo's own
experiment.yml, whose Install step must bring Pitlane from the pinned Git source `pitlane init` wrote.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import fresh_clone

ROOT = Path(__file__).resolve().parents[2]
SYSTEM_PYTHON = Path("/usr/bin/python3")
UNPRIVILEGED = 65534  # nobody


def _as_user(uid: int) -> list[str]:
    if os.geteuid() != 0:
        return []  # already unprivileged
    return ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--"]


@dataclass(frozen=True)
class Dogfood:
    work: Path
    clone: Path
    env: dict[str, str]
    lint: subprocess.CompletedProcess[str]

    def run(self, *args: str, cwd: Path, timeout: int = 900) -> subprocess.CompletedProcess[str]:
        """``pitlane ARGS`` as the unprivileged user, from the clone's sources."""
        cmd = [*_as_user(UNPRIVILEGED), str(SYSTEM_PYTHON), "-m", "toolkit", *args]
        return subprocess.run(cmd, cwd=cwd, env=self.env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def dogfood() -> Iterator[Dogfood]:
    """A fresh clone owned by an unprivileged user, whose ci.yml `lint` job has run through the harness."""
    assert SYSTEM_PYTHON.exists(), "Debian's python3 (apt-get install python3-venv) runs the harness unprivileged"
    work = Path(tempfile.mkdtemp(prefix="pitlane-dogfood-"))
    work.chmod(0o755)
    try:
        clone = fresh_clone(ROOT, work / "pitlane")
        home = work / "home"
        home.mkdir()
        (home / ".gitconfig").write_text("[user]\n\tname = CI\n\temail = ci@pitlane.local\n")
        if os.geteuid() == 0:
            subprocess.run(["chown", "-R", f"{UNPRIVILEGED}:{UNPRIVILEGED}", str(work)], check=True)
        env = {
            "HOME": str(home),
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "PYTHONPATH": os.pathsep.join([str(clone), sysconfig.get_paths()["purelib"]]),
            "PLAYWRIGHT_BROWSERS_PATH": "0",
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "DVC_NO_ANALYTICS": "1",
        }
        probe = Dogfood(work, clone, env, subprocess.CompletedProcess([], 0))
        lint = probe.run("ci", "run", ".github/workflows/ci.yml", "lint", "--json", "--env", "PYTHONPATH=", cwd=clone)
        yield Dogfood(work, clone, env, lint)
    finally:
        shutil.rmtree(work, ignore_errors=True)


# make install of every locked package plus a cold mypy: ~6 minutes on 2 idle cores, far more on busy ones.
@pytest.mark.slow
@pytest.mark.timeout(2400)
def test_ci_lint_job_runs_through_make_install_as_a_non_root_user(dogfood: Dogfood) -> None:
    done = dogfood.lint
    assert done.returncode == 0, f"{done.stderr[-3000:]}\n{done.stdout[-3000:]}"
    lint = json.loads(done.stdout)["jobs"]["lint"]
    assert lint["result"] == "success"
    assert lint["container"] == "python:3.11-bookworm"
    outcomes = {step["name"]: step["outcome"] for step in lint["steps"]}
    for step in ("Install", "Locks agree with pyproject.toml", "Ruff", "Types"):
        assert outcomes[step] == "success", step
    venv = dogfood.clone / ".venv"
    assert (venv / ".installed").is_file()
    assert venv.stat().st_uid == (UNPRIVILEGED if os.geteuid() == 0 else os.geteuid())
    # The job's venv is Debian's python, not the interpreter running this test.
    assert (venv / "bin" / "python").resolve() != Path(sys.executable).resolve()


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_an_experiment_repo_installs_pitlane_from_its_pinned_git_source(dogfood: Dogfood) -> None:
    """`pitlane init --pitlane-install 'pitlane @ git+file://CLONE@COMMIT'`, then the experiment's own
    experiment.yml through the harness on a runner Python that lacks Pitlane: the Install step installs the
    locked requirements and Pitlane from that commit, and the pipeline runs with it."""
    assert dogfood.lint.returncode == 0, "the lint job's venv is this test's runner"
    runner = dogfood.clone / ".venv"
    # The runner: the locked venv the lint job made, without Pitlane (a runner that never had it).
    subprocess.run(
        [*_as_user(UNPRIVILEGED), str(runner / "bin" / "pip"), "uninstall", "-q", "-y", "pitlane"], check=True
    )
    assert not (runner / "bin" / "pitlane").exists()
    # The clone belongs to the unprivileged user: git would call it dubious for us.
    rev_parse = ["git", "-c", "safe.directory=*", "rev-parse", "HEAD"]
    commit = subprocess.run(rev_parse, cwd=dogfood.clone, capture_output=True, text=True, check=True).stdout
    source = f"pitlane @ git+file://{dogfood.clone}@{commit.strip()}"
    raw = ROOT / "tests" / "fixtures" / "bags" / "sensors" / "spot_cameras_raw.bag"
    made = dogfood.run(
        "init", "exp", "--data", f"raw={raw}", "--max-steps", "8", "--pitlane-install", source, cwd=dogfood.work
    )
    assert made.returncode == 0, made.stderr
    exp = dogfood.work / "exp"
    assert source in (exp / "requirements.txt").read_text()
    assert source in (exp / ".github" / "workflows" / "experiment.yml").read_text()
    storage = dogfood.work / "dvc-remote"
    for cmd in (["dvc", "remote", "add", "-d", "local", str(storage)], ["git", "commit", "-qam", "remote"]):
        tool = [str(runner / "bin" / "dvc"), *cmd[1:]] if cmd[0] == "dvc" else cmd
        subprocess.run([*_as_user(UNPRIVILEGED), *tool], cwd=exp, env=dogfood.env, check=True, capture_output=True)
    ran = dogfood.run(
        "ci",
        "run",
        "experiment",
        "--json",
        "--repo",
        f"pitlane/pitlane={dogfood.clone}",
        "--python",
        str(runner / "bin" / "python"),
        "--env",
        "PYTHONPATH=",
        # The unprivileged user has no podman storage of its own: the stages run on the runner (host runtime).
        "--env",
        "PITLANE_CONTAINER_ENGINE=none",
        cwd=exp,
    )
    assert ran.returncode == 0, f"{ran.stderr[-3000:]}\n{ran.stdout[-2000:]}"
    direct = next((runner / "lib").glob("python3.*/site-packages/pitlane-*.dist-info/direct_url.json"))
    origin = json.loads(direct.read_text())
    assert origin["url"] == f"file://{dogfood.clone}" and origin["vcs_info"]["commit_id"] == commit.strip()
    assert (exp / "run.json").is_file() and any(storage.rglob("*"))
