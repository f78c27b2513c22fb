"""Likely causes recognised in vLLM's own error texts, and none in a healthy vLLM log."""

from __future__ import annotations

import pytest

from harness.server.process import likely_cause

CASES = [
    ("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 20.00 MiB. GPU 0 has a total capacity of 79.19 GiB", "out of memory"),
    ("ValueError: No available memory for the cache blocks. Try increasing `gpu_memory_utilization` when initializing the engine.", "KV cache"),
    ("ValueError: To serve at least one request with the models's max seq len (32768), (4.00 GiB KV cache is needed, which is larger "
     "than the available KV cache memory (1.50 GiB). Based on the available memory, the estimated maximum model length is 12288.", "KV cache"),
    ("ValueError: Free memory on device (10.2/79.19 GiB) on startup is less than desired GPU memory utilization (0.9, 71.27 GiB). "
     "Decrease GPU memory utilization or reduce GPU memory used by other processes.", "another process"),
    ("ValueError: The quantization method fp8 is not supported for the current GPU. Minimum capability: 80. Current capability: 75.", "quantization"),
    ("pydantic_core._pydantic_core.ValidationError: Value error, torch.bfloat16 is not supported for quantization method awq. "
     "Supported dtypes: [torch.float16]", "quantization"),
    ("vllm: error: unrecognized arguments: --max-num-seq 8", "unknown command-line flag"),
    ("vllm serve: error: argument --kv-cache-dtype: invalid choice: 'fp4' (choose from auto, bfloat16, fp8)", "unknown command-line flag"),
    ("OSError: [Errno 98] error while attempting to bind on address ('127.0.0.1', 8000): address already in use", "port is taken"),
    ("RuntimeError: No CUDA GPUs are available", "no usable GPU"),
    ("ValueError: Invalid repository ID or local directory specified: '/models/nope'.", "could not be loaded"),
    ("(EngineCore pid=1563) RuntimeError: For FP16/BF16 input, output must have the same dtype as inputs. For FP8 input, "
     "output must have dtype BF16", "fp8 KV cache"),
    ("OSError: org/nope is not a local folder and is not a valid model identifier listed on 'https://huggingface.co/models'", "downloaded"),
]


@pytest.mark.parametrize("line,expected", CASES, ids=[c[1] + str(i) for i, c in enumerate(CASES)])
def test_vllm_error_texts(line, expected):
    log = "INFO 11-23 19:20:01 [api_server.py:1] vLLM API server version 0.26.0\n" + line + "\nRuntimeError: Engine core initialization failed."
    cause = likely_cause(log)
    assert cause is not None and expected in cause, cause


@pytest.mark.parametrize("name", ["server_log.txt", "server_log_fp8.txt", "server_log_kvfp8.txt", "server_log_seqs8.txt"])
def test_no_cause_in_a_healthy_vllm_log(vllm_fixtures, name):
    assert likely_cause((vllm_fixtures / name).read_text()) is None
