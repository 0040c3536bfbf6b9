"""The README is part of the product: its promises are checked like code."""

from __future__ import annotations

from pathlib import Path

from healthscore.settings import Settings

README = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")


def test_the_first_lines_give_the_two_commands():
    first_lines = "\n".join(README.splitlines()[:15])
    assert "make demo" in first_lines and "make test" in first_lines


def test_every_setting_is_documented():
    for name in Settings.model_fields:
        assert f"HEALTHSCORE_{name.upper()}" in README, name


def test_the_ci_script_runs_the_readme_test_command():
    ci = (Path(__file__).parent.parent / ".ci" / "run").read_text(encoding="utf-8")
    assert "make test" in ci and "make test" in README
