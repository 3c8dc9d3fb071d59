"""Lead domain logic shared by the webhook, the dashboard, the CLI and the benchmarks.

Nothing in this package knows about HTTP.
"""
