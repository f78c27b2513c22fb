"""The request handler the JSON fakes share: quiet, HTTP/1.0, `_json(code, body)`, `_body()`, and a GET of
`/health` and `/v1/models` (listing `state.model`) for fakes that answer nothing else there."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler


class JsonHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def log_message(self, *args) -> None:  # quiet
        pass

    def _json(self, code: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> dict:
        return json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")

    def do_GET(self) -> None:
        if self.path.startswith("/v1/models"):
            self._json(200, {"object": "list", "data": [{"id": self.state.model, "object": "model"}]})  # type: ignore[attr-defined]
        else:
            self._json(200 if self.path == "/health" else 404, {})
