"""Load stage (the harness side): starts Locust (the load generator, harness/loadgen) and summarises its records."""
