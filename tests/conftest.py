"""Fixtures shared by the whole suite; see tests/fixtures/ for each concern."""

import gc
import os

import pytest

# An xdist worker starts with COLUMNS=80 and LINES=24 in its environment (a plain pytest
# run has neither). The CLI's Rich consoles, made when a test module imports the CLI, would
# freeze that width; without it they follow the COLUMNS each CLI test sets for itself.
for name in ("COLUMNS", "LINES"):
    os.environ.pop(name, None)

# The test processes allocate far more than a server (expressions, rows, fixtures) and keep
# most of it until the module ends: the collector's default first threshold (700
# allocations) walked the young objects tens of thousands of times a run. A higher one
# collects as surely, less often.
gc.set_threshold(50_000, 20, 20)

pytest_plugins = [
    "tests.fixtures.database",
    "tests.fixtures.server",
    "tests.fixtures.redis",
    "tests.fixtures.refusals",
    "tests.fixtures.reports",
    "tests.fixtures.snapshots",
]


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Order and group the suite for ``make test``'s one parallel run (``--dist loadgroup``).

    The slow end-to-end tests go first: each takes up to a minute, and one started last
    would leave the other workers idle while it runs. Tests sharing a module-scoped fixture
    (a generated demo base, a browser) stay on one worker, which builds it once.
    """
    for item in items:
        info = getattr(item, "_fixtureinfo", None)
        definitions = info.name2fixturedefs.values() if info else ()
        if any(d.scope == "module" for defs in definitions for d in defs):
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::")[0]))
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
