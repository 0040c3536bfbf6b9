"""The audit log: every change a person makes by hand, append-only (``repository``)."""
