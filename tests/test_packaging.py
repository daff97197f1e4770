"""The distribution: `python -m build` makes a wheel and an sdist that `twine check` accepts, and the wheel,
installed into a fresh venv, runs `pitlane --help`, `pitlane data info` on a fixture bag and `pitlane init`
(whose copier template ships inside the wheel as toolkit/templates).

The fresh venv gets the wheel alone (`--no-deps`); its dependencies come from the locked main .venv through
PYTHONPATH, which Python searches before the fresh venv's site-packages but which holds no `toolkit` of its own
(the main .venv's editable finder is a .pth hook, processed only for site directories). So every `toolkit` and
`registry` module the commands import comes from the wheel. Installing the wheel *with* its locked dependencies
(minutes) is the `package` job of .github/workflows/ci.yml.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests.conftest import BAGS, fresh_clone

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
RAW_BAG = BAGS / "sensors" / "spot_cameras_raw.bag"
WHERE = "import toolkit, registry; print(toolkit.__file__, registry.__file__)"


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    # Build from the files a clone would hold (tracked or new, as they are now), not whatever else lies here.
    src = fresh_clone(ROOT, tmp_path_factory.mktemp("src") / "pitlane")
    subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(src)], check=True, capture_output=True, timeout=600
    )
    return out


@pytest.fixture(scope="module")
def wheel_venv(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    venv = tmp_path_factory.mktemp("wheel-venv") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    wheel = next(dist.glob("*.whl"))
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "--no-deps", str(wheel)], check=True)
    return venv


def _env() -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": sysconfig.get_paths()["purelib"],
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",  # git-tracked tools the commands call: dvc
    }


def _pitlane(venv: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(venv / "bin" / "pitlane"), *args], cwd=cwd, env=_env(), capture_output=True, text=True, timeout=300
    )


def test_wheel_and_sdist_pass_twine_check(dist: Path) -> None:
    files = sorted(p.name for p in dist.iterdir())
    assert [f for f in files if f.endswith(".whl")] and [f for f in files if f.endswith(".tar.gz")]
    done = subprocess.run([str(BIN / "twine"), "check", *map(str, dist.iterdir())], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("PASSED") == 2


def test_the_wheel_carries_templates_and_server_files_but_no_bytecode(dist: Path) -> None:
    names = zipfile.ZipFile(next(dist.glob("*.whl"))).namelist()
    for needed in (
        "toolkit/templates/experiment/copier.yml",
        "toolkit/templates/experiment/template/.gitignore",
        "toolkit/templates/experiment/template/.github/workflows/experiment.yml.jinja",
        "toolkit/templates/experiment/template/requirements.lock",
        "registry/web/templates/base.html",
        "registry/alembic.ini",
    ):
        assert needed in names, needed
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]


def test_the_installed_wheel_runs_help_info_and_init(wheel_venv: Path, tmp_path: Path) -> None:
    where = subprocess.run(
        [str(wheel_venv / "bin" / "python"), "-c", WHERE],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert all(Path(p).is_relative_to(wheel_venv) for p in where), where

    helped = _pitlane(wheel_venv, "--help", cwd=tmp_path)
    assert helped.returncode == 0 and "data" in helped.stdout and "release" in helped.stdout

    info = _pitlane(wheel_venv, "data", "info", str(BAGS / "ros1" / "turtlesim_example.bag"), "--json", cwd=tmp_path)
    assert info.returncode == 0, info.stderr
    summary = json.loads(info.stdout)
    assert summary["message_count"] > 0 and summary["format"] == "ros1"

    (tmp_path / "home").mkdir()
    (tmp_path / "home" / ".gitconfig").write_text("[user]\n\tname = T\n\temail = t@pitlane.local\n")
    env_home = {"HOME": str(tmp_path / "home")}
    init = subprocess.run(
        [str(wheel_venv / "bin" / "pitlane"), "init", "exp", "--data", f"raw={RAW_BAG}"],
        cwd=tmp_path,
        env={**_env(), **env_home},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert init.returncode == 0, init.stderr
    assert (tmp_path / "exp" / "dvc.yaml").is_file() and (tmp_path / "exp" / "requirements.lock").is_file()
