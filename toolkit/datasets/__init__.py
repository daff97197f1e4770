"""Frame datasets, annotation export/import, and auto-labeling."""
