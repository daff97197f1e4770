"""build stage: the experiment image (podman or docker) and build/env.json, the environment the stages run in."""

import sys

from toolkit.experiment.buildstage import main

sys.exit(main())
