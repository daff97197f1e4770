"""train stage: the resumable Lightning loop (toolkit.experiment.training) + dvclive + run.json."""

from pathlib import Path

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
write_run_record(Path("run.json"), spec, result, clock)
print(f"train: {result.global_step} steps, metrics {result.metrics}")
