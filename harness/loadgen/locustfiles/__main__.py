"""`python -m harness.loadgen.locustfiles [--steps]` prints the packaged locustfile's path (for `locust -f`)."""

import sys

from harness.loadgen.locustfiles import locustfile

print(locustfile("--steps" in sys.argv[1:]))
