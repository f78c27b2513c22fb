"""The load generator: everything that runs inside the (gevent-patched) Locust process.

The user class, its transports and reactor, SSE parsing, the stream timeline, the pacer, the
relay to a distributed master, the steps shape and the workload. The harness starts Locust as a
subprocess with a packaged locustfile (`harness.loadgen.locustfiles`) and reads back the records
(`harness.loadgen.record.RequestRecord`). Nothing here imports `harness.load` (the harness side);
the harness side may import from here. Per-process state lives in one object
(`harness.loadgen.process_state`).
"""
