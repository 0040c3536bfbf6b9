"""Seeing what a running healthscore does: Prometheus metrics and structured logs."""
