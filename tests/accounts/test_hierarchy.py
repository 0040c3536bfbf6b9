"""The rules of account hierarchies (``accounts.hierarchy``): a parent exists, no cycles."""

from __future__ import annotations

import pytest

from healthscore.accounts.hierarchy import HierarchyCycle, UnknownParent, check_link, refused_links

STORED = {"b": "a", "c": "b"}  # a ← b ← c
ACCOUNTS = {"a", "b", "c", "d"}


def check(child: str, parent: str | None) -> None:
    check_link(child, parent, exists=ACCOUNTS.__contains__, parent_of=STORED.get)


def test_a_known_parent_or_none_is_accepted():
    check("d", "c")
    check("c", None)
    check("a", "d")


def test_an_unknown_parent_is_named():
    with pytest.raises(UnknownParent, match="parentId: unknown parent account 'zz'") as error:
        check("d", "zz")
    assert error.value.status == 422
    assert [(p.field, p.message) for p in error.value.problems] == [
        ("parentId", "unknown parent account 'zz'")
    ]


def test_a_cycle_is_named_from_the_child_back_to_itself():
    with pytest.raises(HierarchyCycle, match="would make a cycle: a → c → b → a"):
        check("a", "c")
    with pytest.raises(HierarchyCycle, match="cannot be its own parent \\('d'\\)"):
        check("d", "d")


def test_a_batch_may_name_parents_it_creates_and_refuses_every_link_of_a_cycle():
    refused = refused_links(
        {"x": "y", "y": "new", "new": None, "p": "q", "q": "p", "a": "c", "e": "ghost"},
        exists=(ACCOUNTS | {"x", "y", "new", "p", "q", "e"}).__contains__,
        parent_of=STORED.get,
    )
    assert refused == {
        "p": "would make a cycle: p → q → p",
        "q": "would make a cycle: q → p → q",
        "a": "would make a cycle: a → c → b → a",
        "e": "unknown parent account 'ghost'",
    }


def test_a_batch_clearing_a_stored_link_breaks_what_would_have_been_a_cycle():
    assert (
        refused_links({"a": "c", "b": None}, exists=ACCOUNTS.__contains__, parent_of=STORED.get)
        == {}
    )


def test_a_new_account_whose_link_is_refused_is_no_parent_for_the_others():
    refused = refused_links(
        {"n1": "ghost", "n2": "n1", "n3": "n2"},
        exists={"n1", "n2", "n3"}.__contains__,
        parent_of=STORED.get,
        new={"n1", "n2", "n3"},
    )
    assert refused == {
        "n1": "unknown parent account 'ghost'",
        "n2": "unknown parent account 'n1'",
        "n3": "unknown parent account 'n2'",
    }
