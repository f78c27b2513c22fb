"""Fidelity stage: how closely a variant reproduces the baseline's tokens and next-token distributions.

the spec's section (FidelitySpec) -> prompts (the fixed, seeded set) -> client (chat completions with
top-k log-probabilities; teacher forcing on vLLM) -> records (reference.jsonl) -> compare
(identical outputs, first divergence, top-1 agreement, KL, bootstrap CIs) -> stage (FidelityRun).
"""
