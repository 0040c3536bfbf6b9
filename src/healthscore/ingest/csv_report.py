"""What a CSV import reports (``csv_import``): per file, rows loaded, skipped as
duplicates and rejected; the rejected rows themselves, each with its file, line and
reason; and the failure that leaves the database as it was."""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_REPORTED = 1000
"""Rejected rows kept in the report (the rejects file holds all of them)."""
REJECTS_COLUMNS = ("file", "line", "reason", "row")
"""The rejects file: where each rejected row was, why, and the row itself as CSV text."""


@dataclass(frozen=True)
class RowError:
    file: str
    line: int
    reason: str
    cells: tuple[str, ...] = ()
    """The rejected row as read; empty when the problem is the file itself."""

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}"


class ImportFailed(Exception):
    """The import was rejected; nothing was written."""

    def __init__(
        self,
        errors: list[RowError],
        total: int | None = None,
        *,
        max_bad_rows: int = 0,
        unusable: bool = True,
    ) -> None:
        self.errors = errors
        self.total = total if total is not None else len(errors)
        self.max_bad_rows = max_bad_rows
        self.unusable = unusable
        """A file itself is at fault (no files, a missing column, not CSV): no number of
        bad rows allowed makes the import go ahead."""
        listing = "\n".join(str(e) for e in errors[:20])
        extra = f"\n… and {self.total - 20} more" if self.total > 20 else ""
        super().__init__(f"import rejected, nothing written:\n{listing}{extra}")


@dataclass(frozen=True)
class FileResult:
    """What became of one file's rows: each is loaded, a skipped duplicate or rejected."""

    loaded: int = 0
    duplicates: int = 0
    rejected: int = 0


@dataclass
class ImportReport:
    files: dict[str, FileResult] = field(default_factory=dict)
    errors: list[RowError] = field(default_factory=list)
    """The first ``MAX_REPORTED`` rejected rows (all of them are in the rejects file)."""

    @property
    def counts(self) -> dict[str, int]:
        """Rows loaded per file."""
        return {name: result.loaded for name, result in self.files.items()}

    @property
    def rejected(self) -> int:
        return sum(result.rejected for result in self.files.values())
