"""Errors that break a rule of the domain, each carrying the HTTP status it answers with.

Domains raise these without knowing about HTTP frameworks; ``api/errors.py`` maps every
``DomainError`` to the standard JSON error shape in one handler (the message is
``str(error)``), and the CLI prints the message. ``code`` defaults to the status's
generic code (``not_found``, ``conflict``…); ``problems`` name the input fields at fault
(the response's ``details``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Problem:
    """One input field at fault and what is wrong with it."""

    field: str
    message: str


class DomainError(Exception):
    """Base of the errors a client can cause; subclasses set ``status`` (and ``code``)."""

    status: int = 400
    code: str | None = None

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        problems: Sequence[Problem] = (),
    ) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code
        self.problems = list(problems)


class NotFound(DomainError):
    status = 404


class Conflict(DomainError):
    status = 409


class Invalid(DomainError):
    """Input that is well-formed but breaks a rule (a date before another, a null…)."""

    status = 422


PYDANTIC_PREFIXES = ("Value error, ", "Assertion failed, ")
"""What pydantic puts before the message of a ``ValueError`` / ``assert`` in a validator."""


def validation_message(field: str, problem: Mapping[str, Any]) -> str:
    """A validation problem's message as it should read beside ``field``: a domain
    error's own message (``InvalidFact``: "is in the future"), else pydantic's without
    its "Value error, " prefix or a repeated "field: " (``timestamp: is in the future``,
    never ``timestamp: Value error, timestamp: is in the future``)."""
    cause = (problem.get("ctx") or {}).get("error")
    if isinstance(cause, DomainError) and len(cause.problems) == 1:
        return cause.problems[0].message
    message = str(problem.get("msg", ""))
    for prefix in PYDANTIC_PREFIXES:
        message = message.removeprefix(prefix)
    last = field.rpartition(".")[2]
    for name in (field, last):
        if name and message.startswith(f"{name}: "):
            return message[len(name) + 2 :]
    return message
