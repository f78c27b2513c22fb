"""Locust master/worker across "machines": workers relay their raw records to the master, and get the master's
fitted prompt vocabulary (load.workload.exact_lengths) with its options.

The master is a `LoadRun` with `load.distributed.role: master` in one folder; two workers are
`harness worker` processes, each with its own working directory and folder. Where this machine
allows it (root, `ip netns`, `unshare`), the workers run in their own network namespace, reached
over a veth pair, and in their own mount namespace where the master's folder is hidden under an
empty tmpfs, so records can only reach the master over the network.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from harness.errors import LoadError
from harness.load.records import read_records
from harness.load.runner import LoadRun
from harness.load.stats import summarize
from harness.server.endpoint import Endpoint
from harness.spec.model import LengthDist, LoadSpec
from tests.fakes.openai_server import FakeState, start


@dataclass
class Network:
    """Where the master and server listen, and how a worker process is wrapped."""

    host_ip: str
    """Address of the master and the server as the workers see it."""
    isolated: bool
    """Workers in their own network and mount namespaces."""
    netns: str | None = None
    notes: list[str] = field(default_factory=list)

    def wrap(self, argv: list[str], hide: Path) -> list[str]:
        if not self.isolated:
            return argv
        # new mount namespace: an empty tmpfs over the master's folder; then exec the worker
        hide_and_exec = 'mount -t tmpfs tmpfs "$0" && exec "$@"'
        return ["ip", "netns", "exec", str(self.netns), "unshare", "--mount", "--propagation", "private", "--", "sh", "-c", hide_and_exec, str(hide), *argv]


def _run(*argv: str) -> None:
    subprocess.run(list(argv), check=True, capture_output=True, timeout=20)


@pytest.fixture
def network() -> Iterator[Network]:
    """A network namespace with a veth pair to this one, or loopback when that cannot be made."""
    tag = f"hx{os.getpid() % 100000}"
    ns, veth = f"{tag}ns", f"{tag}v"
    octet = os.getpid() % 250 + 1
    host_ip, ns_ip = f"10.213.{octet}.1", f"10.213.{octet}.2"
    if os.environ.get("HARNESS_TEST_LOOPBACK"):
        yield Network("127.0.0.1", False, notes=["HARNESS_TEST_LOOPBACK set: workers on loopback"])
        return
    if os.geteuid() != 0 or not shutil.which("ip") or not shutil.which("unshare"):
        yield Network("127.0.0.1", False, notes=["not root or no ip/unshare: workers on loopback"])
        return
    try:
        _run("ip", "netns", "add", ns)
    except (subprocess.SubprocessError, OSError) as exc:
        yield Network("127.0.0.1", False, notes=[f"ip netns add failed ({exc}): workers on loopback"])
        return
    try:
        _run("ip", "link", "add", veth, "type", "veth", "peer", "name", veth + "p")
        _run("ip", "link", "set", veth + "p", "netns", ns)
        _run("ip", "addr", "add", f"{host_ip}/24", "dev", veth)
        _run("ip", "link", "set", veth, "up")
        _run("ip", "netns", "exec", ns, "ip", "addr", "add", f"{ns_ip}/24", "dev", veth + "p")
        _run("ip", "netns", "exec", ns, "ip", "link", "set", veth + "p", "up")
        _run("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
        _run("ip", "netns", "exec", ns, "unshare", "--mount", "--propagation", "private", "--", "true")
        yield Network(host_ip, True, ns)
    except (subprocess.SubprocessError, OSError) as exc:
        yield Network("127.0.0.1", False, notes=[f"veth/unshare setup failed ({exc}): workers on loopback"])
    finally:
        subprocess.run(["ip", "link", "del", veth], check=False, capture_output=True, timeout=20)
        subprocess.run(["ip", "netns", "del", ns], check=False, capture_output=True, timeout=20)


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def test_workers_on_other_machines_relay_their_records_to_the_master(network: Network, tmp_path: Path) -> None:
    # /tokenize counts a word longer than 5 characters as two tokens, and so does usage: only a fitted vocabulary
    # (load.workload.exact_lengths, fitted by the master) gives prompts of exactly their target length
    state = FakeState(ttft_s=0.03, interval_s=0.005, chunks=6, tokenize="vllm", long_words=5, count_prompts=True)
    server = start(state, host=network.host_ip)
    port = _free_port(network.host_ip)
    ep = Endpoint(base_url=f"http://{network.host_ip}:{server.server_address[1]}", model=state.model, engine="openai")
    # open loop at 20 req/s over 3 worker processes (machine 0 runs one, machine 1 two): process k paces
    # arrivals k/20 + 3j/20, so 80 in the 4 s together
    spec = LoadSpec(
        pattern="constant", rate=20, users=4, duration_s=3, warmup_s=1, request_timeout_s=10,
        prompt_tokens=LengthDist(kind="uniform", mean=40, min=20, max=60), output_tokens=LengthDist(mean=6, max=6),
        workload={"exact_lengths": "server"},
        distributed={"role": "master", "master_host": network.host_ip, "master_port": port, "expect_workers": 3, "wait_for_workers_s": 60},
    )
    master_dir = tmp_path / "master"
    run = LoadRun(spec, ep, master_dir / "load").start()
    workers: list[tuple[subprocess.Popen[bytes], Path]] = []
    try:
        for i in range(2):
            wdir = tmp_path / f"worker{i}"
            wdir.mkdir()
            argv = [sys.executable, "-m", "harness", "worker", "--master", f"{network.host_ip}:{port}", "--runs", "1", "--out", "out", "--processes", str(i + 1)]
            log = (wdir / "stderr.txt").open("wb")
            # its own working directory: relative paths land there, never in the master's folder
            workers.append((subprocess.Popen(network.wrap(argv, master_dir), cwd=wdir, stdout=log, stderr=subprocess.STDOUT), wdir))
        result = run.finish(timeout_s=60)
        codes = [p.wait(timeout=30) for p, _ in workers]
    finally:
        run.stop()
        for p, _ in workers:
            if p.poll() is None:
                p.kill()
                p.wait()
        server.shutdown()
    logs = {str(w): (w / "stderr.txt").read_text()[-2000:] for _, w in workers}
    assert codes == [0, 0], logs

    # every worker wrote its own records locally, in its own folder
    local = []
    for _, wdir in workers:
        files = sorted((wdir / "out" / "run-1").glob("records.jsonl.*"))
        recs = read_records(files)
        assert files and len(recs) > 0, logs
        local.append(recs)
    union = sorted((r for recs in local for r in recs), key=lambda r: r.t_start)

    # the master holds exactly the relayed copies, one file per worker process, nothing else
    master_files = result.artifacts.record_files()
    assert len(master_files) == 3 and all(f.name.startswith("records.jsonl.worker-") for f in master_files), master_files
    merged = result.records
    assert len(merged) == len(union)
    assert sorted(r.t_start for r in merged) == [r.t_start for r in union]
    assert sorted(map(_line, merged)) == sorted(map(_line, union))
    # each worker paced its own half of the schedule, not the whole of it
    per_process = sorted(len(read_records([f])) for f in master_files)
    assert per_process == [26, 27, 27] and sum(map(len, local)) == 80
    for f in master_files:  # each process's own schedule (it starts at its first claim) spans the 4 s
        times = [r.t_scheduled for r in read_records([f]) if r.t_scheduled is not None]
        assert len(times) == len(read_records([f])) and max(times) - min(times) < 4.0
    assert all(r.send_lag_s is not None and r.send_lag_s < 1.0 for r in merged)
    # the drain lets in-flight requests finish and reach the master: the server saw no more than that
    assert state.requests == len(merged)
    # the summary is computed from the merged records
    expect = summarize(union, result.window_start, result.window_end, spec.slo)
    assert result.summary.requests == expect.requests > 0 and result.summary.errors == 0
    # the workers drew from the master's fit, relayed with its options (the master's file is hidden from them where
    # isolated): every prompt is its target length by the server's count
    assert all(r.prompt_tokens == r.prompt_tokens_target for r in merged if r.ok), [(r.prompt_tokens, r.prompt_tokens_target) for r in merged][:5]
    # client lag samples came along too
    assert list((master_dir / "load").glob("client_lag.worker-*")) and result.summary.client_lag_ms.count > 0
    print(f"isolated={network.isolated} {network.notes} merged={len(merged)} per worker={[len(x) for x in local]}")


def _line(rec) -> str:
    return rec.to_json()


def test_local_processes_share_the_folder_and_relay_nothing(fake_server, tmp_path: Path) -> None:
    """`load.processes` (role local): each process writes its own file in the shared folder; no copies arrive by message."""
    ep, _ = fake_server(ttft_s=0.02, interval_s=0.005)
    spec = LoadSpec(users=4, spawn_rate=20, duration_s=2, warmup_s=0.5, request_timeout_s=10, processes=2,
                    prompt_tokens=LengthDist(mean=20), output_tokens=LengthDist(mean=8, max=8))
    result = LoadRun(spec, ep, tmp_path).start().finish(timeout_s=60)
    names = [f.name for f in result.artifacts.record_files()]
    assert len(names) == 2 and all(n.split(".")[-1].isdigit() for n in names), names
    assert not list(tmp_path.glob("*.worker-*"))
    lines = sum(sum(1 for _ in f.open()) for f in result.artifacts.record_files())
    assert len(result.records) == lines > 0 and len({r.pid for r in result.records}) == 2


def test_master_without_workers_says_how_to_start_them(fake_server, tmp_path: Path) -> None:
    ep, _ = fake_server()
    port = _free_port("127.0.0.1")
    spec = LoadSpec(duration_s=2, warmup_s=0, distributed={"role": "master", "master_port": port, "expect_workers": 1, "wait_for_workers_s": 1})
    with pytest.raises(LoadError, match=r"fewer than 1 Locust worker\(s\) connected.*harness worker --master"):
        LoadRun(spec, ep, tmp_path).start().finish(timeout_s=60)


def test_a_master_refuses_workers_it_did_not_expect(tmp_path: Path) -> None:
    state = FakeState(ttft_s=0.02, interval_s=0.005, chunks=4)
    server = start(state)
    port = _free_port("127.0.0.1")
    ep = Endpoint(base_url=f"http://127.0.0.1:{server.server_address[1]}", model=state.model, engine="openai")
    spec = LoadSpec(
        users=2, duration_s=6, warmup_s=0, request_timeout_s=10, prompt_tokens=LengthDist(mean=10), output_tokens=LengthDist(mean=4, max=4),
        distributed={"role": "master", "master_host": "127.0.0.1", "master_port": port, "expect_workers": 1, "wait_for_workers_s": 60},
    )
    run = LoadRun(spec, ep, tmp_path / "master" / "load").start()
    workers = []
    try:
        for i in range(2):
            wdir = tmp_path / f"worker{i}"
            wdir.mkdir()
            argv = [sys.executable, "-m", "harness", "worker", "--master", f"127.0.0.1:{port}", "--runs", "1", "--out", "out"]
            workers.append(subprocess.Popen(argv, cwd=wdir, stdout=(wdir / "log.txt").open("wb"), stderr=subprocess.STDOUT))
            if i == 0:
                import time

                time.sleep(3)  # the first one connects first
        result = run.finish(timeout_s=90)
    finally:
        run.stop()
        for p in workers:  # the refused one was told to quit; SIGTERM lets `harness worker` reap its Locust either way
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.terminate()
                p.wait(timeout=60)
        server.shutdown()
    refused = (tmp_path / "worker1" / "out" / "run-1" / "locust-worker.log").read_text()
    assert "Got quit message from master" in refused
    log = (tmp_path / "master" / "load" / "locust.log").read_text()
    assert "refused worker" in log and "expects 1 worker process(es)" in log, log[-3000:]
    files = result.artifacts.record_files()
    assert len(files) == 1 and result.summary.requests > 0  # one worker's records, nobody else's
