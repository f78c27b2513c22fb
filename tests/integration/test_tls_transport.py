"""https:// endpoints timed like http:// ones: the reactor speaks TLS (docs/workloads.md, TLS endpoints).

A test CA and a server certificate for 127.0.0.1 are made here (the `cryptography` package); the programmed
streaming server (tests/fakes/openai_server.py) serves https with them. The same stream over http and https
gives the same TTFT and chunk gaps; a certificate the client cannot verify fails every request with the
TLS error recorded, unless `load.tls.ca_file` names the test CA or `verify` is off.
"""

from __future__ import annotations

import dataclasses
import datetime
import ipaddress
import socket
import ssl
import time
from pathlib import Path

import pytest

gevent = pytest.importorskip("gevent")
x509 = pytest.importorskip("cryptography.x509")

from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402

from harness.loadgen import transport  # noqa: E402
from harness.spec.load import TLSSpec  # noqa: E402
from tests.integration.test_transport import EVENT, HEAD, HEADERS, KINDS, TAIL, RawServer, _chunk, _post, _read_request  # noqa: E402

pytestmark = pytest.mark.integration


def _cert(subject: str, issuer_key, issuer_name, key, sans: list[x509.GeneralName] | None, ca: bool) -> x509.Certificate:
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(issuer_name or x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(obj) -> bytes:
    if isinstance(obj, x509.Certificate):
        return obj.public_bytes(serialization.Encoding.PEM)
    return obj.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


class PrivateCA:
    """A CA certificate (written to `ca_file`) and server contexts holding certificates it signed."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.cert = _cert("harness test CA", self.key, None, self.key, None, ca=True)
        self.ca_file = folder / "ca.pem"
        self.ca_file.write_bytes(_pem(self.cert))

    def server_context(self, sans: list[x509.GeneralName], name: str = "server") -> ssl.SSLContext:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _cert("127.0.0.1", self.key, self.cert.subject, key, sans, ca=False)
        (self.folder / f"{name}.pem").write_bytes(_pem(cert) + _pem(key))
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.folder / f"{name}.pem")
        return ctx


LOCAL = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]


@pytest.fixture(scope="module")
def ca(tmp_path_factory) -> PrivateCA:
    return PrivateCA(tmp_path_factory.mktemp("tls"))


def _url(ep) -> str:
    return ep.base_url + "/v1/chat/completions"


def test_reactor_streams_over_https_timed_like_http(fake_server, ca):
    """(a) The same programmed stream (TTFT 0.2 s, chunks 0.05 s apart) through the reactor, over http and https."""
    tls = TLSSpec(ca_file=str(ca.ca_file))
    recs = {}
    for scheme, ctx in (("http", None), ("https", ca.server_context(LOCAL))):
        ep, state = fake_server(ttft_s=0.2, interval_s=0.05, chunks=6, ssl_context=ctx)
        assert ep.base_url.startswith(f"{scheme}://")
        t = transport.make("auto", _url(ep), HEADERS, 10, reuse=False, tls=tls)
        assert isinstance(t, transport.ReactorTransport)
        recs[scheme] = [_post(t) for _ in range(2)]
        t.close()
    for scheme, rs in recs.items():
        for rec in rs:
            assert rec.ok, (scheme, rec.error)
            assert len(rec.chunk_offsets_s) == 6, (scheme, rec.chunk_offsets_s)
            assert 0.1 <= rec.ttft_s <= 0.3, (scheme, rec.ttft_s)  # programmed 0.2 s
            gaps = [b - a for a, b in zip(rec.chunk_offsets_s, rec.chunk_offsets_s[1:])]
            assert 0.02 <= sorted(gaps)[len(gaps) // 2] <= 0.1, (scheme, gaps)  # programmed 0.05 s
    mean = {scheme: sum(r.ttft_s for r in rs) / len(rs) for scheme, rs in recs.items()}
    assert abs(mean["https"] - mean["http"]) < 0.1, mean  # a loopback handshake costs milliseconds
    assert [len(r.chunk_offsets_s) for r in recs["https"]] == [len(r.chunk_offsets_s) for r in recs["http"]]


class TLSRawServer(RawServer):
    """test_transport's scripted server, over TLS."""

    def __init__(self, script, context: ssl.SSLContext):
        self.context = context
        super().__init__(script)

    def _one(self, conn, n) -> None:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # else Nagle holds a reply behind TLS 1.3's session tickets
        try:
            conn = self.context.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError):
            return
        super()._one(conn, n)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}/v1/chat/completions"


def _two_events_per_request(conn, n) -> None:
    """Keep-alive: answer each request on the connection with two events 50 ms apart."""
    while True:
        conn.sendall(HEAD + _chunk(EVENT))
        time.sleep(0.05)
        conn.sendall(_chunk(EVENT + TAIL) + b"0\r\n\r\n")
        _read_request(conn)


def test_reactor_keeps_a_tls_connection_alive(ca):
    """Kept-alive TLS: later requests go over the first connection (the reactor left it non-blocking; the sender
    takes it back), each stream still timed at its reads."""
    srv = TLSRawServer(_two_events_per_request, ca.server_context(LOCAL))
    try:
        t = transport.make("reactor", srv.url, HEADERS, 5, reuse=True, tls=TLSSpec(ca_file=str(ca.ca_file)))
        recs = [_post(t) for _ in range(3)]
        t.close()
    finally:
        srv.close()
    for rec in recs:
        assert rec.ok and len(rec.chunk_offsets_s) == 2, rec.error
        assert rec.ttft_s < 0.04, recs
        assert 0.03 <= rec.chunk_offsets_s[1] - rec.chunk_offsets_s[0] <= 0.15
    assert t.reused and srv.connections == 1


def test_auto_picks_the_reactor_for_https(ca):
    """(b) auto: the reactor for https (it used to be requests); an explicit `requests` stays requests."""
    assert transport.pick("auto", "https://h/v1/chat/completions") == "reactor"
    assert transport.pick("auto", "http://h:1/v1/chat/completions") == "reactor"
    assert isinstance(transport.make("auto", "https://127.0.0.1:1/v1/chat/completions", HEADERS, 1, False), transport.ReactorTransport)
    assert isinstance(transport.make("requests", "https://127.0.0.1:1/v1/chat/completions", HEADERS, 1, False), transport.RequestsTransport)


def _insecure() -> TLSSpec:
    with pytest.warns(UserWarning, match="verify is false"):
        return TLSSpec(verify=False)


@pytest.mark.parametrize("kind", KINDS)
def test_unverifiable_certificate_fails_every_request_unless_trusted(fake_server, ca, kind):
    """(c) Against the test CA's certificate: the system store rejects it (an error per request, fast, no hang);
    `ca_file` = the test CA or verify=false accept it; a certificate for another host fails the hostname check."""
    ep, state = fake_server(ttft_s=0.01, interval_s=0.005, chunks=3, ssl_context=ca.server_context(LOCAL))
    other, _ = fake_server(ttft_s=0.01, ssl_context=ca.server_context([x509.DNSName("elsewhere.test")], "other"))
    t0 = time.perf_counter()
    refused = [_post(transport.make(kind, _url(ep), HEADERS, 5, reuse=False, tls=TLSSpec())) for _ in range(2)]
    wrong_host = _post(transport.make(kind, _url(other), HEADERS, 5, reuse=False, tls=TLSSpec(ca_file=str(ca.ca_file))))
    assert time.perf_counter() - t0 < 10
    for rec in refused:
        assert not rec.ok and rec.status is None and "SSL" in rec.error and "CERTIFICATE_VERIFY_FAILED" in rec.error, rec.error
    assert not wrong_host.ok and "CERTIFICATE_VERIFY_FAILED" in wrong_host.error and "mismatch" in wrong_host.error, wrong_host.error
    assert state.streamed == 0  # nothing reached the server's handler
    for tls in (TLSSpec(ca_file=str(ca.ca_file)), _insecure()):
        rec = _post(transport.make(kind, _url(ep), HEADERS, 5, reuse=False, tls=tls))
        assert rec.ok and len(rec.chunk_offsets_s) == 3, rec.error


def test_spec_checks_the_ca_file(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        TLSSpec(ca_file=str(tmp_path / "missing.pem"))
    with pytest.raises(ValueError, match="only read when verify is true"):
        TLSSpec(verify=False, ca_file=__file__)


def test_load_stage_over_https(fake_server, ca, tmp_path):
    """(d) The Locust load stage against the https server for ~2 s (auto: the reactor), none failed, TTFT as programmed."""
    from harness.load.runner import LoadRun
    from harness.spec.model import LengthDist, LoadSpec

    ep, state = fake_server(ttft_s=0.1, interval_s=0.02, chunks=8, ssl_context=ca.server_context(LOCAL))
    spec = LoadSpec(users=2, spawn_rate=10, duration_s=2, warmup_s=0, prompt_tokens=LengthDist(mean=20),
                    output_tokens=LengthDist(mean=8, max=8), request_timeout_s=10, tls={"ca_file": str(ca.ca_file)})
    # no model given: each Locust process asks GET /v1/models first, over https with the same `load.tls`
    result = LoadRun(spec, dataclasses.replace(ep, model=""), tmp_path).start().finish()
    s = result.summary
    assert state.gets.get("/v1/models", 0) >= 1
    assert s.requests >= 4 and s.errors == 0, [r.error for r in result.records if not r.ok][:3]
    assert 80 <= s.ttft_ms.p50 <= 200  # programmed 100 ms (plus one handshake per request: connections are not kept)
    assert all(len(r.chunk_offsets_s) == 8 for r in result.records)
