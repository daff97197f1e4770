"""Data repo (Git + DVC), catalog of bag sidecars, and the search language."""
