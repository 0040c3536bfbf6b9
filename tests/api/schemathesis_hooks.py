"""Schemathesis hooks for ``tests/api/test_fuzz.py``: requests as an integrator who read the
document sends them.

JSON Schema cannot say everything the OpenAPI document says. Where a rule depends on the
server's clock or on data already stored, the document says it in words (the field's
description) and a schema-valid request that breaks it is refused (422; 400 on Segment's
endpoints). Schemathesis cannot read words, so for its *positive* cases (requests it
expects to be accepted) these hooks make the request keep those rules, as a client that
read the document would:

* an account a body names exists (``PUT /api/v1/customers/{id}`` first), and a parent
  makes no cycle;
* a timestamp that may not be in the future nor before 1970 is in that range; one that
  must be in the future (a snooze, an override's expiry) is;
* a date that may not be before another one (``churnedAt``/``createdAt``,
  ``removedAt``/``createdAt``, ``resolvedAt``/``openedAt``) is not, stored ones included;
* Segment: no body ``writeKey`` (the key goes in the header: a generated ``writeKey`` is
  no key, and schemathesis cannot know that the body carries a credential), and a track,
  page or screen names an existing account (``context.groupId``), as a B2B Segment
  source does.

Every request, positive or not, gets its own ``Idempotency-Key``: a client reuses a key
only to retry the same request (the same key with another body is 422
``idempotency_key_reused``, as documented). Negative cases are otherwise sent as
generated: they must be refused. Nothing here looks at answers or drops failures.

The run's base URL and admin key come from ``HEALTHSCORE_FUZZ_URL`` and
``HEALTHSCORE_FUZZ_KEY``.
"""

from __future__ import annotations

import itertools
import os
import re
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
import schemathesis

from healthscore import jsontypes
from healthscore.ingest.segment_fields import whole_number_text
from healthscore.playbooks.cases import MAX_SNOOZE_DAYS

KEY_CHARS = re.compile(r"^[\x21-\x7e]{1,255}$")
ACCOUNT_ID = re.compile(jsontypes.ACCOUNT_ID)
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
FUZZ_ACCOUNT = "fuzz-account"
OVERRIDE_MAX_DAYS = 365  # Settings.override_max_days, the live server's default

RUN = uuid.uuid4().hex[:8]
"""Keys of one run are new to the server even if it served an earlier run."""
_requests = itertools.count(1)
_accounts: set[str] = set()
_client: httpx.Client | None = None


def _api() -> httpx.Client:
    global _client
    if _client is None:
        _client = httpx.Client(
            base_url=os.environ["HEALTHSCORE_FUZZ_URL"],
            headers={"Authorization": f"Bearer {os.environ['HEALTHSCORE_FUZZ_KEY']}"},
            timeout=30,
        )
    return _client


def _path(value: str) -> str:
    """``value`` as one path segment (dots too: ``..`` must not be resolved away)."""
    return quote(value, safe="").replace(".", "%2E")


def _ensure_account(account: Any) -> None:
    """The account exists (created with the document's own upsertCustomer if not); a
    whole number names the account of its digits, as Segment's fields read it."""
    if isinstance(account, bool) or not isinstance(account, str | int | float):
        return
    try:
        account = whole_number_text(account)
    except ValueError:  # a fraction, or too large: not an account id
        return
    if account in _accounts or not ACCOUNT_ID.match(account):
        return
    answer = _api().put(f"/api/v1/customers/{_path(account)}", json={})
    if answer.status_code == 200:
        _accounts.add(account)


def _parent_of(account: str) -> str | None:
    answer = _api().get(f"/api/v1/customers/{_path(account)}")
    return answer.json().get("parentId") if answer.status_code == 200 else None


def _makes_cycle(child: str, parent: str) -> bool:
    seen = {child}
    current: str | None = parent
    while current is not None:
        if current in seen:
            return True
        seen.add(current)
        current = _parent_of(current)
    return False


def _instant(value: Any) -> datetime | None:
    """A date-time string as an aware UTC instant (None: not one, or out of range)."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def _now() -> datetime:
    return datetime.now(UTC)


def _stamp(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _past(body: dict[str, Any], *fields: str) -> None:
    """Each field given: from 1970 to now (not in the future)."""
    for name in fields:
        if body.get(name) is None:
            continue
        moment = _instant(body[name])
        if moment is None or not EARLIEST <= moment <= _now():
            body[name] = _stamp(_now() - timedelta(days=1))


def _future(body: dict[str, Any], name: str, *, within_days: int) -> None:
    """The field, if given: after now and within ``within_days``."""
    if body.get(name) is None:
        return
    value = body[name]
    now = _now()
    if isinstance(value, str) and len(value) == 10:  # a day (snooze until)
        try:
            day = date.fromisoformat(value)
        except ValueError:
            day = None
        if day is None or not now.date() < day < now.date() + timedelta(within_days):
            body[name] = (now.date() + timedelta(days=7)).isoformat()
        return
    moment = _instant(value)
    if moment is None or not now + timedelta(minutes=1) < moment < now + timedelta(within_days):
        body[name] = _stamp(now + timedelta(days=7))


# --- the JSON API ----------------------------------------------------------------------


def _customer(case: Any, body: dict[str, Any]) -> None:
    """upsertCustomer: past dates, churnedAt not before createdAt (stored ones included; a
    new account is created now), and a parent that exists and makes no cycle."""
    account = str(case.path_parameters.get("customer_id"))
    _past(body, "createdAt", "churnedAt")
    answer = _api().get(f"/api/v1/customers/{_path(account)}")
    stored = answer.json() if answer.status_code == 200 else {"createdAt": _stamp(_now())}
    created = _instant(body["createdAt"] if "createdAt" in body else stored.get("createdAt"))
    churned = _instant(body["churnedAt"] if "churnedAt" in body else stored.get("churnedAt"))
    if churned is not None and created is not None and churned < created:
        body["createdAt"] = _stamp(churned)
    parent = body.get("parentId")
    if isinstance(parent, str):
        if parent == account or _makes_cycle(account, parent):
            body["parentId"] = None
        else:
            _ensure_account(parent)


def _user(body: dict[str, Any]) -> None:
    """upsertUser: past dates; a seat's removal is not before its creation."""
    _past(body, "createdAt", "removedAt")
    if body.get("removedAt") is not None:
        end = _instant(body["removedAt"])
        start = _instant(body.get("createdAt"))
        if start is None or (end is not None and end < start):
            body["createdAt"] = body["removedAt"]  # a new seat is created now
    elif "createdAt" in body and "removedAt" not in body:
        body["removedAt"] = None  # a stored removal may be before the new creation date


def _ticket(body: dict[str, Any]) -> None:
    _past(body, "openedAt", "resolvedAt")
    end = _instant(body.get("resolvedAt"))
    start = _instant(body.get("openedAt"))
    if end is not None and start is not None and end < start:
        body["resolvedAt"] = body["openedAt"]


def _fact(body: dict[str, Any]) -> None:
    """A fact about an account (NPS, engagement, payment, MRR): it exists; not future."""
    _ensure_account(body.get("customerId"))
    _past(body, "timestamp")


JSON_API = {
    "trackEngagement": _fact,
    "submitNpsResponse": _fact,
    "recordPayment": _fact,
    "recordMrrChange": _fact,
    "upsertUser": _user,
    "upsertSupportTicket": _ticket,
    "snoozeCase": lambda body: _future(body, "until", within_days=MAX_SNOOZE_DAYS),
    "createOverride": lambda body: _future(body, "expiresAt", within_days=OVERRIDE_MAX_DAYS),
}


# --- Segment ---------------------------------------------------------------------------


def _segment_time(message: dict[str, Any], batch_sent_at: Any) -> None:
    """Segment's clock correction (``timestamp = receivedAt - (sentAt - timestamp)``) must
    land from 1970 to now: else the message is stamped as sent."""
    sent_value = message.get("sentAt") or batch_sent_at
    sent = _instant(sent_value) if sent_value is not None else None
    if sent_value is not None and sent is None:
        sent = _now()
        message["sentAt"] = _stamp(sent)
    name = "timestamp" if message.get("timestamp") else "originalTimestamp"
    if not message.get(name):
        return
    moment = _instant(message[name])
    now = _now()
    corrected = None
    if moment is not None:
        try:
            corrected = now - (sent - moment) if sent is not None else moment
        except OverflowError:
            corrected = None
    if corrected is None or not EARLIEST <= corrected <= now:
        message[name] = _stamp(sent if sent is not None else now - timedelta(days=1))


def _named_account(message: dict[str, Any]) -> Any:
    context = message.get("context") or {}
    own = message.get("properties") or message.get("traits") or {}
    for value in (
        context.get("groupId"),
        own.get("groupId"),
        (context.get("traits") or {}).get("groupId"),
    ):
        if value not in (None, ""):
            return value
    return None


def _segment_message(message: Any, kind: Any, batch_sent_at: Any = None) -> None:
    if not isinstance(message, dict):
        return
    message.pop("writeKey", None)
    _segment_time(message, batch_sent_at)
    if kind in ("track", "page", "screen"):
        named = _named_account(message)
        if named is None:
            context = message.setdefault("context", {})
            context["groupId"] = FUZZ_ACCOUNT
            named = FUZZ_ACCOUNT
        _ensure_account(named)
    elif kind == "identify":
        named = _named_account(message)
        if named is not None:
            _ensure_account(named)
    elif kind == "group":
        traits = message.get("traits") or {}
        for name in ("parent_id", "parentId"):
            if name in traits:
                parent = traits[name]
                if parent in (None, ""):
                    break
                child = str(message.get("groupId"))
                if str(parent) == child or _makes_cycle(child, str(parent)):
                    traits[name] = None
                else:
                    _ensure_account(parent)
                break


def _segment(body: Any, path: str) -> None:
    if not isinstance(body, dict):
        return
    if path == "/v1/batch":
        body.pop("writeKey", None)
        for message in body.get("batch") or []:
            kind = message.get("type") if isinstance(message, dict) else None
            _segment_message(message, kind, body.get("sentAt"))
    else:
        _segment_message(body, path.rsplit("/", 1)[1])


# --- the hook --------------------------------------------------------------------------


def _fresh_idempotency_key(case: Any) -> None:
    headers = case.headers or {}
    for name in list(headers):
        key = headers[name]
        if name.lower() == "idempotency-key" and isinstance(key, str) and KEY_CHARS.match(key):
            suffix = f"~{RUN}{next(_requests)}"
            headers[name] = key[: max(0, len(key) - len(suffix))] + suffix


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    _fresh_idempotency_key(case)
    operation_id = case.operation.definition.raw.get("operationId")
    if operation_id == "deleteCustomer":  # whatever the answer, it may exist no more
        _accounts.discard(str(case.path_parameters.get("customer_id")))
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return
    operation = case.operation
    body = case.body if isinstance(case.body, dict) else None
    if operation.path.startswith("/v1/"):
        _segment(body, operation.path)
    elif operation_id == "upsertCustomer" and body is not None:
        _customer(case, body)
    elif operation_id in JSON_API and body is not None:
        JSON_API[operation_id](body)
