"""Tracking: the MLflow layer (contract: the names logged; the logger, run records, baselines, differences)."""
