"""The project's own lm-eval task files (evals/README.md): the package `harness.evals` through the link
harness/evals, so importlib.resources finds them in a checkout and in an installed wheel (package data)."""
