"""``python -m toolkit``: the ``pitlane`` CLI, for interpreters where the console script is not on PATH."""

from toolkit.cli.main import main

main()
