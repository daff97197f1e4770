"""Create (and optionally run) the camera-classifier experiment repo from the Pitlane template.

    .venv/bin/python -m pipelines.camera_classifier.create DEST [--run]

The repo is the template rendered with the two Spot camera bags as datasets
(raw Image and CompressedImage recordings of the same four cameras: two
process tasks), with this directory's conf/ laid over the template's.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
from pathlib import Path

from toolkit.experiment.compose import compose
from toolkit.experiment.scaffold import init_experiment

HERE = Path(__file__).resolve().parent
BAGS = HERE.parent.parent / "tests" / "fixtures" / "bags" / "sensors"
DATASETS = {"spot_raw": BAGS / "spot_cameras_raw.bag", "spot_compressed": BAGS / "spot_cameras_compressed.bag"}


def create(dest: Path, seed: int = 42) -> Path:
    """Render the experiment repo at ``dest`` and commit this pipeline's config on top of the template's."""
    repo = init_experiment(
        dest, data=[f"{name}={path}" for name, path in DATASETS.items()], name="camera-classifier", seed=seed
    )
    for source in sorted((HERE / "conf").rglob("*.yaml")):
        target = repo / "conf" / source.relative_to(HERE / "conf")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    shutil.copyfile(HERE / "README.md", repo / "README.md")
    compose(repo)
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    subprocess.run(["git", "commit", "-qm", "camera-classifier: reference config"], cwd=repo, check=True)
    return repo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dest", type=Path)
    parser.add_argument("--run", action="store_true", help="also run the pipeline (pitlane run)")
    args = parser.parse_args()
    repo = create(args.dest)
    print(f"created {repo}")
    if args.run:
        from toolkit.experiment.runner import run

        result = run(repo)
        print(f"run {result.run_id}: {result.record['metrics'] if result.record else 'no record'}")


if __name__ == "__main__":
    main()
