"""Server stage: launch or attach, readiness, metrics scrape."""
