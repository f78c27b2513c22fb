"""The tags that describe a variant's run (model, quantization, engine version, GPU, CPU), named by the contract.

What is served and on which host is the server layer's to say (harness/server/describe.py, harness/server/host.py);
this module only names it. `knob_metrics` and `quantization` are re-exported for the writer."""

from __future__ import annotations

from harness.server.describe import knob_metrics, quantization, served  # noqa: F401  (knob_metrics, quantization: re-exported)
from harness.server.host import hardware
from harness.spec.model import ResolvedVariant
from harness.tracking.contract import Tag


def variant_tags(variant: ResolvedVariant) -> dict[str, str]:
    gpu, cpu = hardware()
    what = served(variant.server)
    tags = {Tag.MODEL: what.model, Tag.QUANTIZATION: what.quantization, Tag.GPU: gpu, Tag.CPU: cpu}
    if what.engine_version:
        tags[Tag.ENGINE_VERSION] = what.engine_version
    if variant.server.model.startswith("synthetic://"):
        tags[Tag.WEIGHTS] = "synthetic"
    return tags
