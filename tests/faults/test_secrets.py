"""No secret in any file the harness writes: run folder, MLflow store (params, tags, artifacts), console."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.faults.conftest import REPO, fake_spec, start_harness

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
