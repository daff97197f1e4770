"""Cross-cutting parts of the registry: settings, database, security."""
