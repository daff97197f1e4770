"""The `pitlane` command line: thin Typer modules over toolkit.api.

Every module in this package that defines ``register(app)`` is a command
module; main.py discovers them, so adding a command group touches one file
(plus its line in COMMAND_MODULES, which tests/cli/test_main.py keeps honest).
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

# Top-level command -> the module that registers it. `pitlane CMD ...` imports only that module,
# so a command pays for its own imports, not for all twenty groups' (start-up is part of
# `pitlane run`'s overhead over `dvc repro`). --help and unknown commands load everything.
COMMAND_MODULES: dict[str, str] = {
    "access": "access",
    "annotate": "dataset",
    "audit": "audit",
    "autolabel": "dataset",
    "ci": "ci",
    "compose": "experiment",
    "data": "data",
    "dataset": "dataset",
    "deploy": "links",
    "eval": "links",
    "firmware": "links",
    "init": "experiment",
    "login": "token",
    "package": "package",
    "release": "release",
    "remote": "links",
    "run": "experiment",
    "runs": "experiment",
    "serve": "serve",
    "token": "token",
    "trace": "links",
}


def registered_modules(command: str | None = None) -> list[ModuleType]:
    """Command modules: the one that registers *command* when it is known, otherwise all of them."""
    if command in COMMAND_MODULES:
        return [importlib.import_module(f"{__name__}.{COMMAND_MODULES[command]}")]
    modules = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name in {"main", "output"} or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(module, "register"):
            modules.append(module)
    return modules
