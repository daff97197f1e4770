"""Pitlane registry: the FastAPI service resolving Git tags into ML packages."""
