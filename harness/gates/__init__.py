"""CI gates: run the gate evaluation (tracking.gating) on logged runs and write JSON, JUnit XML, Markdown."""
