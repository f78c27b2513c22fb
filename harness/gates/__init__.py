"""CI gates: evaluate SLOs, quality floors and baseline rules on logged runs; write JSON, JUnit XML, Markdown."""
