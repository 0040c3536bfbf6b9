"""How the ``healthscore`` app is put together: every command, in order, with no cycle."""

from __future__ import annotations

import ast
from pathlib import Path

import click
import typer.main

import healthscore.cli
from healthscore.cli.main import app

COMMANDS = [
    "init",
    "score",
    "backfill",
    "maintain",
    "show",
    "import",
    "demo",
    "doctor",
    "serve",
    "worker",
    "backup",
    "restore",
    "copy-database",
    "backtest",
    "tune",
    "export",
    "customers",
    "sentiment",
    "playbooks",
    "keys",
    "calibrations",
]


def test_help_lists_every_command_in_the_order_it_always_had():
    group = typer.main.get_group(app)
    assert group.list_commands(click.Context(group)) == COMMANDS


def test_no_cli_module_imports_the_app_so_main_can_import_them_all():
    package = Path(healthscore.cli.__file__).parent
    for path in package.rglob("*.py"):
        if path.name == "main.py" and path.parent == package:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                assert node.module != "healthscore.cli.main", path
                assert not (
                    node.module == "healthscore.cli" and "main" in {a.name for a in node.names}
                ), path
