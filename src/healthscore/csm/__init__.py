"""What a CSM records by hand about an account: sentiment (``sentiment``) and an admin's
score overrides (``overrides``), each change written to the audit log with it."""
