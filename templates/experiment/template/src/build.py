"""build stage: the environment fingerprint, and a Docker image digest where a daemon is reachable."""

from pathlib import Path

from toolkit.experiment.fingerprint import write_environment

write_environment(Path("build/env.json"), lock_files=[Path("requirements.txt"), Path("requirements.lock")], dockerfile=Path("Dockerfile"))
