"""Which tracked event names feed the typed signals (logins, feature use, API calls).

Part of the scorecard (its ``events`` section), kept apart because ingest reads it on every
Segment ``track`` call while scoring never does.
"""

from __future__ import annotations

import re
from functools import cached_property, lru_cache
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator


@lru_cache(maxsize=4096)
def _slug(name: str) -> str:
    """Cached: a stream of events repeats the same few names."""
    return re.sub(r"[\W_]+", "_", name.casefold()).strip("_")[:128]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


EventName = Annotated[str, Field(min_length=1, max_length=255)]
TYPED_KINDS = ("login", "feature_used", "api_call")


class EventMapping(_Strict):
    """Which tracked event names (Segment ``track``) feed the typed scoring signals.

    Product teams name events their own way ("Signed In", "User Logged In"), so the names
    are configuration, not code. Names are compared by their slug (case, spaces and
    punctuation ignored: "Signed In" = "signed_in"). A name in no list is kept as an
    engagement event whose type is that slug.
    """

    login: list[EventName] = Field(default_factory=lambda: ["Signed In", "Logged In", "Login"])
    feature_used: list[EventName] = Field(default_factory=lambda: ["Feature Used"])
    feature_property: str = Field(default="feature", min_length=1, max_length=255)
    api_call: list[EventName] = Field(default_factory=lambda: ["API Call", "API Calls"])
    calls_property: str = Field(default="calls", min_length=1, max_length=255)
    product_property: str = Field(
        default="product",
        min_length=1,
        max_length=255,
        description="the property naming the product a login, feature use or API call is "
        "about (per-product scores, docs/products.md)",
    )

    @staticmethod
    def slug(name: str) -> str:
        """``"Report Exported"`` → ``"report_exported"``; empty if nothing is left."""
        return _slug(name)

    @model_validator(mode="after")
    def _each_name_once(self) -> EventMapping:
        seen: dict[str, str] = {}
        for kind in TYPED_KINDS:
            for name in getattr(self, kind):
                key = self.slug(name)
                if not key:
                    raise ValueError(f"{kind}: {name!r} has no letters or digits")
                if key in seen and seen[key] != kind:
                    raise ValueError(f"event {name!r} is mapped twice ({seen[key]} and {kind})")
                seen[key] = kind
        return self

    @cached_property
    def _by_slug(self) -> dict[str, str]:
        return {self.slug(name): kind for kind in TYPED_KINDS for name in getattr(self, kind)}

    def event_type(self, name: str) -> str | None:
        """``login``, ``feature_used`` or ``api_call`` for a mapped name, else ``None``."""
        return self._by_slug.get(self.slug(name))
