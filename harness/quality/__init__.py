"""Quality stage: lm-eval scores the variant's endpoint in a subprocess, on the same server as the load.

tasks (plan and render the lm-eval task files; catalog reads lm-eval's YAML, groups says which lm-eval tasks a
harness task owns) -> preflight (checks before launch) -> runner (`QualityRun`: lm-eval through lm_eval_main with the
harness's models, lm_eval_model) -> results (scores), samples (per-sample tables), error_answers, reasoning.
"""
