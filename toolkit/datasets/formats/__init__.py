"""Annotation exchange formats: CVAT for images 1.1 XML, Datumaro JSON, Label Studio JSON.

Each format module has ``export(manifest, out)`` and ``parse(path) -> Imported``;
:mod:`toolkit.datasets.annotations` checks an ``Imported`` against the
manifest and writes it as a new version.
"""

from __future__ import annotations

FORMATS = ("cvat", "datumaro", "labelstudio")
