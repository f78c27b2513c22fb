"""Secrets in server flags and server.env (harness/redaction.py): which names are secret, every flag form, and the
key of `--api-key K` sent by the harness as the endpoint's bearer key."""

from __future__ import annotations

import os

import pytest

from harness.errors import SpecError
from harness.redaction import GIVEN_KEY_ENV, flag_secrets, redact, secret_name, secret_values
from harness.server.engines import engine
from harness.server.launch import exported
from harness.spec import build_spec, resolve_variants
from harness.tracking.mlflow_logger import flatten

KEY = "sk-planted-0123456789"


def _server(server: dict):
    return resolve_variants(build_spec({"name": "x", "server": server}, {}, []))[0].server


@pytest.mark.parametrize("name", ["--api-key", "--hf-token", "--token", "-hft", "--db-password", "--client-secret",
                                  "--passwd", "--aws-credentials", "HF_TOKEN", "OPENAI_API_KEY", "AWS_SECRET_ACCESS_KEY",
                                  "PGPASSWORD", "LLAMA_ARG_API_KEY"])
def test_secret_names(name):
    assert secret_name(name)


@pytest.mark.parametrize("name", ["--api-key-file", "--ssl-key-file", "--ssl-keyfile", "HF_TOKEN_PATH", "--max-num-batched-tokens",
                                  "--tokenizer", "--tokenizer-mode", "--keep", "--cache-type-k", "TOKENIZERS_PARALLELISM",
                                  "--port", "--alias"])
def test_names_that_only_mention_a_secret_word_are_not_secret(name):
    assert not secret_name(name)


def test_every_flag_form_gives_its_value():
    args = ["--api-key", KEY, "--hf-token=hf_abcdef", "-hft", "hf_short", "--token", "-starts-with-dash",
            "--max-num-batched-tokens", "8192", "--tokenizer", "org/tok", "--api-key-file", "/run/key"]
    assert flag_secrets(args) == [("--api-key", KEY), ("--hf-token", "hf_abcdef"), ("-hft", "hf_short"),
                                  ("--token", "-starts-with-dash")]


def test_a_secret_flag_without_a_value_takes_no_following_flag():
    assert flag_secrets(["--hf-token", "--port", "8000"]) == [] and flag_secrets(["--api-key"]) == []


def test_flag_and_env_secrets_are_redacted_from_params_and_yaml_but_plain_values_are_not():
    s = _server({"extra_args": ["--api-key", f"{KEY},sk-second-key", "--seed", "7"],
                 "env": {"MY_SERVICE_PASSWORD": "pw-271828", "TOKENIZERS_PARALLELISM": "false", "HF_TOKEN": "true"}})
    secrets = secret_values([s], environ={})
    assert {f"{KEY},sk-second-key", KEY, "sk-second-key", "pw-271828"} <= set(secrets)
    assert not {"false", "true", "7"} & set(secrets)  # a number or boolean is never redacted: it would garble every file
    params = {k: redact(v, secrets) for k, v in flatten({"server": s.model_dump(mode="json")}).items()}
    assert params["server.extra_args"] == "[--api-key, '***', --seed, '7']"
    assert params["server.env.MY_SERVICE_PASSWORD"] == "***" and params["server.env.TOKENIZERS_PARALLELISM"] == "false"
    argv = " ".join(engine("llamacpp").launch(s, "/m.gguf", 8080).argv)
    assert KEY not in redact(argv, secrets) and "--api-key ***" in redact(argv, secrets)


@pytest.mark.parametrize("kind", ["llamacpp", "vllm"])
@pytest.mark.parametrize("args", [["--api-key", KEY], [f"--api-key={KEY}"], ["--api_key", KEY],
                                  ["--api-key", "sk-old", "--api-key", f"{KEY},sk-other"]])
def test_the_key_of_an_api_key_flag_is_the_endpoints_bearer_key(kind, args):
    s = _server({"kind": kind, "extra_args": args})
    eng = engine(kind)
    assert eng.given_key(s) == KEY  # the last flag wins, as in the server's own parser; the first of a comma list
    endpoint = eng.endpoint(s, 8080)
    assert endpoint.api_key_env == GIVEN_KEY_ENV
    with exported(GIVEN_KEY_ENV, eng.given_key(s)):
        assert endpoint.headers() == {"Authorization": f"Bearer {KEY}"}
        assert KEY in secret_values()  # the console's redaction (harness: error: ...) knows it too
    assert GIVEN_KEY_ENV not in os.environ and endpoint.headers() == {}


def test_without_a_key_flag_the_endpoint_has_no_key():
    s = _server({"extra_args": ["--hf-token", "hf_abcdef"]})
    assert engine("llamacpp").given_key(s) is None and engine("llamacpp").endpoint(s, 8080).api_key_env is None


def test_a_key_given_twice_or_in_a_file_the_harness_cannot_send_is_refused():
    with pytest.raises(SpecError, match="given twice") as twice:
        _server({"api_key_env": "MY_KEY", "extra_args": ["--api-key", KEY]})
    assert KEY not in str(twice.value)
    with pytest.raises(SpecError, match="api_key_env instead"):
        _server({"extra_args": ["--api-key-file", "/run/key"]})


def test_a_redacted_yaml_file_stays_loadable():
    import yaml

    from harness.redaction import redact_data

    s = _server({"extra_args": ["--api-key", KEY], "env": {"MY_TOKEN": "tok-abcdef"}})
    secrets = secret_values([s], environ={})
    text = yaml.safe_dump(redact_data({"server": s.model_dump(mode="json")}, secrets), sort_keys=False)
    assert KEY not in text and "tok-abcdef" not in text
    loaded = yaml.safe_load(text)["server"]  # redacting the dumped text instead leaves `- ***`, an alias YAML cannot read
    assert loaded["extra_args"] == ["--api-key", "***"] and loaded["env"] == {"MY_TOKEN": "***"}


@pytest.mark.parametrize("kind,var", [("llamacpp", "LLAMA_API_KEY"), ("vllm", "VLLM_API_KEY")])
def test_the_engines_key_variable_in_server_env_is_the_bearer_key_unless_a_flag_overrides_it(kind, var):
    eng = engine(kind)
    assert eng.given_key(_server({"kind": kind, "env": {var: KEY}})) == KEY
    assert eng.given_key(_server({"kind": kind, "env": {var: "sk-from-env"}, "extra_args": ["--api-key", KEY]})) == KEY
