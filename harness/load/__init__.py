"""Load stage: the Locust chat workload and its exact metrics."""
