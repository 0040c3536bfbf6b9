"""Scoring: the scorecard (config), the pure engine, and the set-based data it reads."""
