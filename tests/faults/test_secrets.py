"""No secret in any file the harness writes: run folder, MLflow store (params, tags, artifacts), console."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.fakes.harness_run import REPO, fake_spec, start_harness

pytestmark = pytest.mark.integration

KEY = "sk-fault-key-0123456789"
TOKEN = "hf_fault_token_abcdefghijklmnop"
URL_PW = "pw-in-url-42"


def _hits(root: Path, secrets: list[str], skip: set[Path]) -> list[str]:
    out = []
    for path in root.rglob("*"):
        if path.is_file() and path not in skip:
            data = path.read_bytes()
            out += [f"{path.relative_to(root)}: {s}" for s in secrets if s.encode() in data]
    return out


def test_a_server_echoing_the_key_and_secrets_in_the_spec_leave_no_trace(tmp_path):
    variants = ('  - name: echo\n    server: {env: {FAKE_MODE: echo_key, HF_TOKEN: "%s", PYTHONPATH: "%s"}}' % (TOKEN, REPO))
    spec = fake_spec(tmp_path, "secrets", variants, load="{users: 2, duration_s: 3, warmup_s: 0, request_timeout_s: 5}",
                     extra=f"metrics: {{enabled: true}}\n")
    text = spec.read_text().replace("  served_model_name: fake-model\n", "  served_model_name: fake-model\n  api_key_env: MY_SERVICE_KEY\n")
    text = text.replace("metrics: {interval_s: 1}\n", "")
    spec.write_text(text)
    proc = start_harness(["run", str(spec)], tmp_path, {"MY_SERVICE_KEY": KEY})
    assert proc.wait(timeout=300) in (0, 2), (tmp_path / "harness.out").read_text()[-3000:]
    out = (tmp_path / "harness.out").read_text()
    records = "".join(p.read_text() for p in (tmp_path / "runs").rglob("records.jsonl*"))
    assert "rate limited Bearer ***" in records  # the echo arrived, redacted at the source
    hits = _hits(tmp_path, [KEY, TOKEN], skip={spec})
    assert not hits, hits
    assert KEY not in out and TOKEN not in out


def test_credentials_in_an_attach_url_are_never_logged_or_printed(tmp_path):
    from harness.redaction import redact, secret_values
    from harness.spec import build_spec

    spec = build_spec({"name": "u", "server": {"kind": "openai", "openai": {"base_url": f"http://user:{URL_PW}@127.0.0.1:9/"}}}, {}, [])
    secrets = secret_values([spec.server], environ={})
    assert URL_PW in secrets
    assert redact(f"ready at http://user:{URL_PW}@127.0.0.1:9", secrets) == "ready at http://user:***@127.0.0.1:9"
    assert redact("plain http://127.0.0.1:9/v1 stays", []) == "plain http://127.0.0.1:9/v1 stays"


def test_scrubbing_decides_by_content_not_by_name(tmp_path):
    from harness.redaction import scrub_folder

    (tmp_path / "records.jsonl.12345").write_text(f'{{"error": "HTTP 429: {KEY}"}}\n')
    (tmp_path / "weird-name").write_text(f"token {TOKEN}")
    (tmp_path / "binary.bin").write_bytes(b"\x00\x01" + KEY.encode())
    assert scrub_folder(tmp_path, [KEY, TOKEN]) == 2
    assert KEY not in (tmp_path / "records.jsonl.12345").read_text() and "***" in (tmp_path / "weird-name").read_text()
    assert KEY.encode() in (tmp_path / "binary.bin").read_bytes()  # binary files are left alone


FLAG_KEY = "sk-flag-key-9f8e7d6c5b4a"
FLAG_TOKEN = "hf_flag_token_zyxwvutsrq"
ENV_PASSWORD = "env-password-31415926"


def test_an_api_key_in_the_real_servers_flags_is_sent_and_never_written(tmp_path, mlflow_runs):
    """llama-server with `--api-key K` in extra_args answers nothing without K: the run succeeds because the harness sends
    K (readiness, load, /props, /metrics scrapes), and not one file of the run folder or the MLflow store holds K."""
    from tests.integration.conftest import llamacpp_available

    if not llamacpp_available():
        pytest.skip("llama-cpp-server not installed (./scripts/setup.sh builds it)")
    spec = tmp_path / "flags.yaml"
    spec.write_text(f"""
name: secret-flags
server:
  startup_timeout_s: 120
  extra_args: ["--api-key", "{FLAG_KEY}", "--hf-token", "{FLAG_TOKEN}"]
  env: {{MY_SERVICE_PASSWORD: "{ENV_PASSWORD}"}}
  llamacpp: {{parallel: 1, ctx_size: 1024, threads: 1}}
variants:
  - name: keyed
load: {{users: 1, duration_s: 3, warmup_s: 0, request_timeout_s: 60}}
quality: {{enabled: false}}
metrics: {{enabled: true, interval_s: 1}}
tracking: {{run_dir: "{tmp_path / 'runs'}"}}
""")
    proc = start_harness(["run", str(spec), "--no-compare"], tmp_path)
    assert proc.wait(timeout=300) == 0, (tmp_path / "harness.out").read_text()[-3000:]
    _c, _parents, children = mlflow_runs(tmp_path, "secret-flags")
    run = children["keyed"]
    assert run.info.status == "FINISHED" and run.data.metrics["perf/requests"] > 0 and run.data.metrics["perf/error_rate"] == 0
    assert "server.info.server_version" in run.data.params  # from /props, which the key guards
    (scraped,) = (tmp_path / "runs").glob("secret-flags-*/keyed/server/metrics.jsonl")
    assert "llamacpp:" in scraped.read_text()  # /metrics, which the key guards too, answered
    assert "--api-key ***" in run.data.params["server.argv"] and "***" in run.data.params["server.env.MY_SERVICE_PASSWORD"]
    assert (tmp_path / "mlflow.db").is_file() and list((tmp_path / "artifacts").rglob("server.log"))  # the store was searched
    (written,) = (tmp_path / "runs").glob("secret-flags-*/experiment.yaml")
    assert yaml.safe_load(written.read_text())["server"]["extra_args"] == ["--api-key", "***", "--hf-token", "***"]  # loadable
    hits = _hits(tmp_path, [FLAG_KEY, FLAG_TOKEN, ENV_PASSWORD], skip={spec})
    assert not hits, hits


def test_a_server_that_wants_a_key_fails_readiness_at_once_naming_api_key_env():
    """A real HTTP server that answers /health but 401 elsewhere (llama-server started with a key the harness lacks):
    readiness says what to set at its first answer instead of waiting out server.startup_timeout_s."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from harness.errors import ReadinessTimeout, ServerError
    from harness.server.endpoint import Endpoint
    from harness.server.readiness import wait_ready

    class Keyed(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(200 if self.path == "/health" else 401)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Keyed)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        for key_env, said in ((None, "name the variable holding its key in server.api_key_env"),
                              ("UNSET_KEY_VAR_FOR_TEST", "check that the variable UNSET_KEY_VAR_FOR_TEST holds the server's key")):
            with pytest.raises(ServerError) as err:
                wait_ready(Endpoint(url, "m", api_key_env=key_env), deadline_s=120)
            assert not isinstance(err.value, ReadinessTimeout)
            assert f"/v1/models answered 401: the server wants an API key; {said}" in str(err.value)
    finally:
        server.shutdown()
