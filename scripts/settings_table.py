"""Rewrite the README's configuration table from the Settings model (run after adding one)."""

from __future__ import annotations

from pathlib import Path

from healthscore.settings import Settings

README = Path(__file__).resolve().parent.parent / "README.md"
HEADER = "| variable | default | meaning |"


def table() -> str:
    rows = [HEADER, "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        default = "unset" if field.default is None else f"`{field.default}`"
        rows.append(f"| `HEALTHSCORE_{name.upper()}` | {default} | {field.description} |")
    return "\n".join(rows) + "\n"


def main() -> None:
    text = README.read_text(encoding="utf-8")
    start = text.index(HEADER)
    end = text.index("\n\n", start) + 1
    README.write_text(text[:start] + table() + text[end:], encoding="utf-8")


if __name__ == "__main__":
    main()
