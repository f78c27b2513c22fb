"""`harness worker`: master addresses, the worker's Locust argv, distributed spec errors, the URL workers get."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import LoadError, SpecError
from harness.load.worker import parse_master, worker_argv
from harness.spec import build_spec


@pytest.mark.parametrize(
    "text,expect",
    [("10.0.0.5", ("10.0.0.5", 5557)), ("gen-box:6000", ("gen-box", 6000)), ("[fd00::1]:7000", ("fd00::1", 7000)), ("[fd00::1]", ("fd00::1", 5557))],
)
def test_master_addresses(text, expect):
    assert parse_master(text) == expect


@pytest.mark.parametrize("text", [":5557", "h:0", "h:port", "[fd00::1", "[fd00::1]x"])
def test_bad_master_addresses(text):
    with pytest.raises(LoadError, match="--master"):
        parse_master(text)


def test_worker_argv_has_its_own_folder_and_no_workload():
    argv = worker_argv("10.0.0.5", 6000, Path("/w/run-1"), processes=3)
    assert argv[argv.index("--master-host") + 1] == "10.0.0.5" and argv[argv.index("--master-port") + 1] == "6000"
    assert argv[argv.index("--records") + 1] == "/w/run-1/records.jsonl" and argv[argv.index("--processes") + 1] == "3"
    assert "--worker" in argv and "--harness-load" not in argv and "--host" not in argv and argv[argv.index("-f") + 1].endswith("chat.py")


@pytest.mark.parametrize(
    "load,needle",
    [
        ({"distributed": {"role": "worker"}}, "harness worker --master HOST:PORT"),
        ({"processes": 2, "distributed": {"role": "master"}}, "harness worker --processes N"),
    ],
)
def test_distributed_spec_errors_say_what_to_run(load, needle):
    with pytest.raises(SpecError) as info:
        build_spec({"name": "x", "load": load}, {}, [])
    assert needle in "\n".join(info.value.problems)


def test_workers_get_the_server_url_as_they_reach_it():
    from harness.load.runner import LoadArtifacts, locust_argv
    from harness.server.endpoint import Endpoint
    from harness.spec.load import LoadSpec

    def host(**dist) -> str:
        argv = locust_argv(LoadSpec(distributed=dist), Endpoint(base_url="http://127.0.0.1:8080", model="m"), LoadArtifacts.in_folder(Path("/tmp/x")))
        return argv[argv.index("--host") + 1]

    assert host(role="master", server_host="gpu-box.lan") == "http://gpu-box.lan:8080"
    assert host(role="master", server_host="fd00::4") == "http://[fd00::4]:8080"
    assert host(role="master") == "http://127.0.0.1:8080" == host(role="local", server_host="ignored")
