"""Getting data in: CSV import, the demo generator, and (later) the HTTP ingest paths."""
