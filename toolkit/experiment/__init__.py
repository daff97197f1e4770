"""Experiment spec, Hydra compose, running, resume and run records."""
