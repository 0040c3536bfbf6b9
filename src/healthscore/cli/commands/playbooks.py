"""``healthscore playbooks list|test``: the rules in force, and a dry run of who they fire for."""

from __future__ import annotations

import typer

from healthscore.cli.context import (
    AsOfOption,
    PlaybooksOption,
    ScorecardOption,
    as_of_or_now,
    console,
    open_database,
    playbooks_from,
    scorecard_from,
)


def playbooks_list(playbooks: PlaybooksOption = None) -> None:
    """Show the playbook rules in force."""
    from healthscore.cli import render

    rules = playbooks_from(playbooks)
    console.print(render.playbooks_table(rules))


def playbooks_test(
    playbooks: PlaybooksOption = None,
    scorecard: ScorecardOption = None,
    as_of: AsOfOption = None,
) -> None:
    """Dry run: which accounts each rule would fire for now, and what each firing would do
    to the account's case (open, update, escalate, nothing). Nothing is written."""
    from healthscore.cli import render
    from healthscore.rescoring.dry_run import dry_run

    rules = playbooks_from(playbooks)
    card = scorecard_from(scorecard)
    _, sessions = open_database()
    with sessions() as session:
        result = dry_run(session, scorecard=card, playbooks=rules, as_of=as_of_or_now(as_of))
    console.print(render.firings_table(result.firings, outcome=result.outcome))
    counts = result.counts
    console.print(
        f"{len(result.firings)} firings; {result.logged} would be logged as new cases, "
        f"{counts['update']} would update an open case, {counts['escalate']} escalate one, "
        f"{counts['reopen']} reopen a resolved one, {counts['nothing']} change nothing; "
        f"{counts['resolve']} cases would resolve"
    )


def register(app: typer.Typer) -> None:
    playbooks_app = typer.Typer(help="CS playbooks.", no_args_is_help=True)
    playbooks_app.command("list")(playbooks_list)
    playbooks_app.command("test")(playbooks_test)
    app.add_typer(playbooks_app, name="playbooks")
