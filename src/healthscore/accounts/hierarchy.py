"""The rules of account hierarchies: a parent must exist, and no account may be its own
ancestor. Pure: the callers (the API through ``accounts.service``, the CSV import, the
Segment ``group`` call) give what is stored as functions and name the field at fault.

``refused_links`` judges a batch of links at once (parents may be created by the same
batch); ``check_link`` one link, raising the error the API answers with.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping

from healthscore.errors import Invalid, Problem

ParentOf = Callable[[str], str | None]
"""The stored parent of an account (None: a root, or not stored)."""


class HierarchyError(Invalid):
    """A parent link that is refused (422); ``field`` names the input at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}", problems=[Problem(field=field, message=message)])
        self.field = field


class UnknownParent(HierarchyError):
    def __init__(self, parent_id: str, *, field: str = "parentId") -> None:
        super().__init__(field, unknown_parent(parent_id))
        self.parent_id = parent_id


class HierarchyCycle(HierarchyError):
    def __init__(self, cycle: list[str], *, field: str = "parentId") -> None:
        super().__init__(field, cycle_message(cycle))
        self.cycle = cycle


def unknown_parent(parent_id: str) -> str:
    return f"unknown parent account {parent_id!r}"


def cycle_message(cycle: list[str]) -> str:
    """``cycle`` from a child back to itself: ``a → b → a``."""
    if len(cycle) == 2:
        return f"an account cannot be its own parent ({cycle[0]!r})"
    return "would make a cycle: " + " → ".join(cycle)


def cycle_through(child: str, parent: str | None, parent_of: ParentOf) -> list[str] | None:
    """The cycle that making ``parent`` the parent of ``child`` would close, from ``child``
    back to itself (``[child, parent, …, child]``), or None."""
    path = [child]
    node = parent
    seen = {child}
    while node is not None:
        if node == child:
            return [*path, child]
        if node in seen:  # a cycle above, not through ``child`` (never stored)
            return None
        seen.add(node)
        path.append(node)
        node = parent_of(node)
    return None


def check_link(
    child: str,
    parent: str | None,
    *,
    exists: Callable[[str], bool],
    parent_of: ParentOf,
    field: str = "parentId",
) -> None:
    """Refuse making ``parent`` the parent of ``child``: ``HierarchyCycle`` (itself or
    one of its descendants), ``UnknownParent``. None (no parent) is always allowed."""
    if parent is None:
        return
    if parent == child:
        raise HierarchyCycle([child, child], field=field)
    if not exists(parent):
        raise UnknownParent(parent, field=field)
    cycle = cycle_through(child, parent, parent_of)
    if cycle is not None:
        raise HierarchyCycle(cycle, field=field)


def refused_links(
    links: Mapping[str, str | None],
    *,
    exists: Callable[[str], bool],
    parent_of: ParentOf,
    new: Collection[str] = (),
) -> dict[str, str]:
    """Which of a batch of links (child → parent, None to clear) are refused, and why.

    ``exists`` says whether an account is stored or created by the batch; ``parent_of``
    gives stored links, which the batch's accepted links replace. An account in ``new``
    exists only if the batch creates it: when its own link is refused, it is not created,
    and links naming it as parent are refused in turn. Every link of a cycle that the
    batch would close is refused (which one is wrong is for a person to say)."""
    refused: dict[str, str] = {}
    new = set(new)

    def present(account: str) -> bool:
        return exists(account) and not (account in new and account in refused)

    while True:
        before = len(refused)
        for child, parent in links.items():
            if child in refused or parent is None:
                continue
            if parent == child:
                refused[child] = cycle_message([child, child])
            elif not present(parent):
                refused[child] = unknown_parent(parent)
        accepted = {c: p for c, p in links.items() if c not in refused}

        def effective(account: str, accepted: Mapping[str, str | None] = accepted) -> str | None:
            return accepted[account] if account in accepted else parent_of(account)

        for child, parent in accepted.items():
            if child in refused:
                continue
            cycle = cycle_through(child, parent, effective)
            if cycle is not None:
                for member in cycle[:-1]:
                    if member in accepted:
                        at = cycle.index(member)
                        refused[member] = cycle_message([*cycle[at:-1], *cycle[:at], member])
        if len(refused) == before:
            return refused
