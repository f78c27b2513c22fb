"""lm-eval task templates (`<task>.yaml`), shipped as package data and rendered per run by harness/quality/tasks.py."""
