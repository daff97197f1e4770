"""process stage, one task per dataset: camera frames of the dataset's bags -> labelled patches."""

import sys
from pathlib import Path

from toolkit.experiment.camera import extract_patches, write_processed
from toolkit.experiment.compose import load_params
from toolkit.experiment.datasets import materialize

name = sys.argv[1]
spec = load_params(Path("."))
with materialize(name, spec.datasets[name], Path(".")) as source:
    images, labels, frames = extract_patches(source.path, spec.process.patch_size, spec.process.stride)
write_processed(Path("data/processed") / name, images, labels, {"source": source.record(), "frames": frames})
print(f"process {name}: {len(labels)} patches from {sum(frames.values())} frames")
