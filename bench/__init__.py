"""`make bench`: the app against its baselines, at a million leads. See bench/RESULTS.md."""
