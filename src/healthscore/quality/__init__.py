"""Data quality: what in the stored data (and in what ingest refused) makes scores wrong.

The report's bounds live here, importable without the database layer (the CLI shows them
in ``healthscore doctor --help``)."""

DEFAULT_DAYS = 30
"""The window of the activity-based checks (unseated users, refusals, clock skew)."""
MAX_DAYS = 365
DEFAULT_LIMIT = 20
"""Items listed per finding (counts are always totals)."""
MAX_LIMIT = 500
