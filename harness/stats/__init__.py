"""Statistics of decisions: intervals, differences with verdicts, multiple comparisons, power, capacity at SLO.

estimate (median over repeats, per-request bootstrap), compare (variant vs baseline), design (defaults,
interleaved block schedule), multiple (Holm, Benjamini-Hochberg), power (detectable differences, repeats
needed), capacity (search at SLO, the crossing estimand, censoring), simulate (the noise model the tests use);
decide (better / worse / equivalent / inconclusive with the MDE), sequential (group-sequential adaptive
repeats), plan (blocks needed for a margin). numpy, and scipy for the t,
binomial and normal distributions (`scipy.special`'s stdtr, stdtrit, bdtr, ndtri, nctdtr: the routines scipy.stats
evaluates, without its import time and per-call cost; imported inside the functions that need them); imports
nothing from the harness but harness.errors. docs/statistics.md explains them.
"""
