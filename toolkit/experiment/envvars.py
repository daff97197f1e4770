"""Environment variables ``pitlane run`` passes to stage scripts (through ``dvc repro``), in a torch-free module."""

RESUME_ENV = "PITLANE_RESUME"  # "1": train continues from the newest valid checkpoint
ACCELERATOR_ENV = "PITLANE_ACCELERATOR"  # overrides trainer.accelerator (--allow-cpu sets "cpu")
COMMAND_ENV = "PITLANE_RUN_COMMAND"  # the user's command line, for the run record
IMAGE_ENV = "PITLANE_IMAGE"  # set inside a stage's container: the image id it runs in
