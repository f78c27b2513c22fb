"""`python -m harness.quality.lm_eval_main run ...`: lm-eval's own CLI with the harness's model registered.

The models (harness/quality/lm_eval_model.py) are registered lazily under `harness-chat-completions` and
`harness-completions`, so this process imports nothing of the harness beyond that module and the two it reads.
"""

from __future__ import annotations


def main() -> None:
    import lm_eval.models  # noqa: F401  (registers lm-eval's own models first: it does so only into an empty registry)
    from lm_eval.api.registry import model_registry

    from harness.quality.reasoning import COMPLETIONS_MODEL, COMPLETIONS_TARGET, MODEL, TARGET

    model_registry.register(MODEL, target=TARGET)
    model_registry.register(COMPLETIONS_MODEL, target=COMPLETIONS_TARGET)
    from lm_eval.__main__ import cli_evaluate

    cli_evaluate()


if __name__ == "__main__":
    main()
