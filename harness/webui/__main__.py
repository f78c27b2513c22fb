"""`python -m harness.webui` prints the web UI's locustfile path (for `locust -f`)."""

from harness.webui import locustfile

print(locustfile())
