"""Statistics of decisions: intervals, differences with verdicts, multiple comparisons, power, capacity at SLO.

estimate (median over repeats, per-request bootstrap), compare (variant vs baseline), design (defaults,
interleaved block schedule), multiple (Holm, Benjamini-Hochberg), power (detectable differences, repeats
needed), capacity (search at SLO), simulate (the noise model the tests use), dist (t, binomial, normal).
Pure Python + numpy; imports nothing from the harness but harness.errors. docs/statistics.md explains them.
"""
