"""Experiment tracking: runs, their parameters, metrics, tags and artifacts."""
