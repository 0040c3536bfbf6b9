"""Health-change webhooks: subscribe a URL to ``score.changed`` / ``tier.changed``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from healthscore.api.dependencies import DbSession
from healthscore.api.schemas import ApiModel
from healthscore.api.security import AdminKey
from healthscore.jsontypes import NO_SPACE, URL_INT, WHOLE_NUMBER
from healthscore.subscriptions import service

router = APIRouter(prefix="/api/v1", tags=["webhooks"])

Event = Literal["score.changed", "tier.changed"]
ALL_EVENTS: tuple[Event, ...] = ("score.changed", "tier.changed")


class SubscriptionIn(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", strict=True
    )

    url: Annotated[str, Field(pattern=rf"^https?://[^{NO_SPACE}]+$", max_length=2000)]
    events: list[Event] = Field(default_factory=lambda: list(ALL_EVENTS), min_length=1)
    min_score_change: Annotated[
        int,
        Field(ge=1, le=100, description="points a score must move for score.changed"),
        WHOLE_NUMBER,
    ] = 5
    description: str = Field(default="", max_length=255)


class SubscriptionOut(ApiModel):
    """Read from the stored subscription's attributes (never its secret)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    url: str
    events: list[str]
    min_score_change: int
    description: str
    created_at: datetime


class CreatedSubscriptionOut(SubscriptionOut):
    secret: str = Field(description="verifies X-Healthscore-Signature; shown only in this answer")


@router.post(
    "/webhook-subscriptions",
    operation_id="createWebhookSubscription",
    response_model=CreatedSubscriptionOut,
    response_model_by_alias=True,
    status_code=201,
)
def create_subscription(
    body: SubscriptionIn, _key: AdminKey, session: DbSession
) -> CreatedSubscriptionOut:
    """Send `score.changed` (a score moved at least `minScoreChange` points) and/or
    `tier.changed` for every account to this URL after each rescore, signed like playbook
    webhooks with the secret returned here (and never again)."""
    with session.begin():
        created = service.subscribe(
            session,
            url=body.url,
            events=body.events,
            min_score_change=body.min_score_change,
            description=body.description,
        )
        out = SubscriptionOut.model_validate(created.subscription)
    return CreatedSubscriptionOut(**out.model_dump(), secret=created.secret)


@router.get(
    "/webhook-subscriptions",
    operation_id="listWebhookSubscriptions",
    response_model=list[SubscriptionOut],
    response_model_by_alias=True,
)
def list_subscriptions(_key: AdminKey, session: DbSession) -> list[SubscriptionOut]:
    """Every subscription (without secrets)."""
    return [SubscriptionOut.model_validate(row) for row in service.subscriptions(session)]


@router.delete(
    "/webhook-subscriptions/{subscription_id}",
    operation_id="deleteWebhookSubscription",
    status_code=204,
)
def delete_subscription(
    subscription_id: Annotated[int, Path(ge=1, le=2**63 - 1), URL_INT],
    _key: AdminKey,
    session: DbSession,
) -> Response:
    """Stop sending to this subscription (events already queued still go)."""
    with session.begin():
        service.unsubscribe(session, subscription_id)
    return Response(status_code=204)
