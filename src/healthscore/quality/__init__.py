"""Data quality: what in the stored data (and in what ingest refused) makes scores wrong."""
