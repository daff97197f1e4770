"""The `pitlane` command line: thin Typer modules over toolkit.api.

Every module in this package that defines ``register(app)`` is a command
module; main.py discovers them, so adding a command group touches one file.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType


def registered_modules() -> list[ModuleType]:
    modules = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name in {"main", "output"} or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(module, "register"):
            modules.append(module)
    return modules
