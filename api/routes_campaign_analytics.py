"""GET /v1/campaigns/{id}/analytics: what ClickHouse knows of one campaign (cost, caller-ID health).

The read model answers everything else on a campaign's page; minutes and money are
priced in ClickHouse (ops/sql/migrations/0007), so this route asks the sink's read-only
query endpoint (or the ClickHouse server) as `campaignflow report` does: fixed queries on
the caller's own campaign, no SQL from the browser. Money travels as decimal strings.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from api.analytics import AnalyticsUnavailable, Runner
from api.campaign_service import own_campaign
from api.deps import Services, account_id, services
from api.problems import ApiProblem, problem_responses
from sinks.query import literal

router = APIRouter(prefix="/v1", responses=problem_responses(401, 404, 503))


class CostOut(BaseModel):
    currency: str = Field(description="ISO 4217; '' for calls from numbers without a rate.")
    calls: int
    billed_minutes: str = Field(description="Decimal.")
    cost: str = Field(description="Decimal, in `currency`.")
    reached_contacts: int
    cost_per_reached_contact: str | None = Field(description="Decimal; null before a reach.")


class CallerIdCostOut(BaseModel):
    caller_id: str
    currency: str
    calls: int
    billed_minutes: str
    cost: str


class CallerIdHealthOut(BaseModel):
    caller_id: str
    recent_calls: int = Field(description="Its last calls judged (at most 200).")
    recent_answer_rate: float
    campaign_median_answer_rate: float | None
    degraded: bool = Field(description="Answer rate under half the campaign's median.")


class CampaignAnalytics(BaseModel):
    cost: list[CostOut]
    cost_by_caller_id: list[CallerIdCostOut]
    caller_id_health: list[CallerIdHealthOut]


def _money(value: Any) -> str:
    """A ClickHouse Decimal (a Decimal, or its text through the sink) as plain decimal text
    without trailing zeros: '0.01575', '100'."""
    return format(Decimal(str(value)).normalize(), "f")


def _text(value: Any) -> str | None:
    return None if value is None else _money(value)


def _gather(rows: Runner, account: str, campaign_id: str) -> CampaignAnalytics:
    where = f"account_id = {literal(account)} AND campaign_id = {literal(campaign_id)}"
    cost = rows(
        "SELECT currency, k.calls AS calls, p.billed_minutes AS billed_minutes, p.cost AS cost,"
        " p.reached_contacts AS reached_contacts, p.cost_per_reached_contact AS per_reached"
        f" FROM (SELECT * FROM v_cost_per_reached_contact WHERE {where}) AS p"
        f" JOIN (SELECT currency, calls FROM v_cost_by_campaign WHERE {where}) AS k USING currency"
        " ORDER BY currency"
    )
    callers = rows(
        "SELECT caller_id, currency, calls, billed_minutes, cost FROM v_cost_by_caller_id"
        f" WHERE {where} ORDER BY caller_id, currency"
    )
    health = rows(
        "SELECT caller_id, recent_calls, recent_answer_rate, campaign_median_answer_rate,"
        f" degraded FROM v_caller_id_health WHERE {where} ORDER BY caller_id"
    )
    return CampaignAnalytics(
        caller_id_health=[CallerIdHealthOut(**r) for r in health],
        cost=[
            CostOut(
                currency=r["currency"],
                calls=int(r["calls"]),
                billed_minutes=_money(r["billed_minutes"]),
                cost=_money(r["cost"]),
                reached_contacts=int(r["reached_contacts"]),
                cost_per_reached_contact=_text(r["per_reached"]),
            )
            for r in cost
        ],
        cost_by_caller_id=[
            CallerIdCostOut(
                caller_id=r["caller_id"],
                currency=r["currency"],
                calls=int(r["calls"]),
                billed_minutes=_money(r["billed_minutes"]),
                cost=_money(r["cost"]),
            )
            for r in callers
        ],
    )


@router.get(
    "/campaigns/{campaign_id}/analytics", response_model=CampaignAnalytics, tags=["campaigns"]
)
async def get_campaign_analytics(
    campaign_id: str, account: str = Depends(account_id), svc: Services = Depends(services)
) -> CampaignAnalytics:
    """Minutes and cost of the campaign's calls (per currency, per reached contact, per
    caller ID), priced by the numbers' rates and the account's billing increment."""
    own_campaign(svc, account, campaign_id)
    runner = svc.config.analytics
    if runner is None:
        raise ApiProblem(503, "this API has no analytics source (ClickHouse) configured")
    try:
        return await run_in_threadpool(_gather, runner, account, campaign_id)
    except AnalyticsUnavailable as exc:  # refused, failed, or ClickHouse away
        raise ApiProblem(503, f"analytics unavailable: {str(exc)[:200]}") from None
