"""Reading a scorecard: a bundled one by name or a YAML file by path, validated, with
errors that name the file and the field (``default.yaml: signals.2.weight: …``), so a CS
ops person can fix a typo alone."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from healthscore.scoring.scorecard import Scorecard

BUNDLED = ("default", "seed000")
"""The scorecards shipped in ``healthscore/scoring/scorecards``, loadable by name."""


class ScorecardError(ValueError):
    """A scorecard file that cannot be used; the message names the file and field."""


BundledLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""Reads the bundled scorecards: libyaml, when PyYAML has it, parses one in a tenth of the
time (nearly every command loads one). Files people write keep ``yaml.safe_load``: libyaml
accepts a few documents the pure-Python parser refuses (a tab inside a flow mapping), and
its errors do not quote the offending line. Tests check both read the bundled ones alike."""


def bundled_yaml(name: str) -> str:
    """The text of a bundled scorecard (``default``, ``seed000``)."""
    return (
        resources.files("healthscore.scoring.scorecards")
        .joinpath(f"{name}.yaml")
        .read_text(encoding="utf-8")
    )


def load_scorecard(location: str | Path) -> Scorecard:
    """Load a bundled scorecard by name (``default``, ``seed000``) or a YAML file by path."""
    if isinstance(location, str) and location in BUNDLED:
        data = yaml.load(bundled_yaml(location), Loader=BundledLoader)
        return _validated(data, origin=f"bundled scorecard {location!r}")
    path = Path(location)
    if not path.is_file():
        raise ScorecardError(
            f"scorecard {str(location)!r} is neither a file nor one of {', '.join(BUNDLED)}"
        )
    return parse_scorecard(path.read_text(encoding="utf-8"), origin=str(path))


def parse_scorecard(text: str, *, origin: str = "<text>") -> Scorecard:
    try:
        data: Any = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ScorecardError(f"{origin}: not valid YAML: {error}") from error
    return _validated(data, origin=origin)


def _validated(data: Any, *, origin: str) -> Scorecard:
    if not isinstance(data, dict):
        raise ScorecardError(f"{origin}: expected a mapping at the top level")
    try:
        return Scorecard.model_validate(data)
    except ValidationError as error:
        raise ScorecardError(f"{origin}: {format_validation_error(error)}") from error


def format_validation_error(error: ValidationError) -> str:
    """``signals.2.weight: Input should be less than or equal to 1`` — one line per problem."""
    lines = []
    for problem in error.errors():
        where = ".".join(str(part) for part in problem["loc"]) or "(top level)"
        lines.append(f"{where}: {problem['msg']}")
    return "; ".join(lines)
