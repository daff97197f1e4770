"""The public Python API of Pitlane.

The CLI and the pipelines call these names; each re-export lives in the
module that owns its logic. Import lazily-heavy parts (torch, dvc) only
inside the functions that need them.
"""

from __future__ import annotations

from toolkit.config import Settings, get_settings

__all__ = ["Settings", "get_settings"]
