"""The ``healthscore`` command line (Typer + Rich)."""
