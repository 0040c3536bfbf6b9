"""The API tests' report: schemathesis's summary line (``test_fuzz.py``) in every run's
output, passed or not, as issue 25 asks CI to show it (pytest keeps a passing test's
output to itself, and xdist's workers print nowhere)."""

from __future__ import annotations

import pytest

SUMMARY = "schemathesis "


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    lines = [
        line
        for report in terminalreporter.stats.get("passed", [])
        for name, content in getattr(report, "sections", [])
        if name.startswith("Captured stdout")
        for line in content.splitlines()
        if line.startswith(SUMMARY)
    ]
    if lines:
        terminalreporter.section("schemathesis")
        for line in lines:
            terminalreporter.write_line(line)
