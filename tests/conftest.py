"""Fixtures shared by the whole suite; see tests/fixtures/ for each concern."""

pytest_plugins = ["tests.fixtures.database", "tests.fixtures.server", "tests.fixtures.redis"]
