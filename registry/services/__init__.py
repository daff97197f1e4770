"""Registry business logic: plain functions over a SQLAlchemy session (no HTTP here)."""
