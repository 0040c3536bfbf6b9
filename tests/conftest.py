"""Fixtures shared by the whole suite; see tests/fixtures/ for each concern."""

import os

# An xdist worker starts with COLUMNS=80 and LINES=24 in its environment (a plain pytest
# run has neither). The CLI's Rich consoles, made when a test module imports the CLI, would
# freeze that width; without it they follow the COLUMNS each CLI test sets for itself.
for name in ("COLUMNS", "LINES"):
    os.environ.pop(name, None)

pytest_plugins = [
    "tests.fixtures.database",
    "tests.fixtures.server",
    "tests.fixtures.redis",
    "tests.fixtures.refusals",
]
