"""Persistence: the schema, database engines and migrations."""
