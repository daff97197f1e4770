"""train stage: the resumable Lightning loop (toolkit.experiment.training) + dvclive + run.json."""

import shutil
from pathlib import Path

import torch

from model import PatchClassifier

from toolkit.experiment.compose import load_params
from toolkit.experiment.record import RunClock, write_run_record
from toolkit.experiment.pipeline import fit_from_params

clock = RunClock()
spec = load_params(Path("."))
module, result = fit_from_params(
    spec,
    lambda num_classes: PatchClassifier(spec.model, spec.process.patch_size, num_classes, spec.trainer.lr),
    processed=Path("data/processed"),
    models=Path("models"),
)
# The package: an exported program + classes.json + predictor.py (interface v1), usable without this repo's source.
example = torch.zeros(2, 1, spec.process.patch_size, spec.process.patch_size)
batch = torch.export.Dim("batch", min=1)
program = torch.export.export(module.to("cpu").eval(), (example,), dynamic_shapes=({0: batch},))
torch.export.save(program, "models/model.pt2")
shutil.copyfile("src/predictor.py", "models/predictor.py")
write_run_record(Path("run.json"), spec, result, clock)
print(f"train: {result.global_step} steps, metrics {result.metrics}")
