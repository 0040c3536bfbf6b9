"""What an API key may do. Its own module (no database imports): the CLI lists the
scopes in ``healthscore keys create --help`` without loading the storage layer."""

from __future__ import annotations

from enum import StrEnum


class Scope(StrEnum):
    read = "read"
    ingest = "ingest"
    admin = "admin"

    def allows(self, needed: Scope) -> bool:
        return self is Scope.admin or self is needed
