"""Report stage: compare variants from MLflow."""
