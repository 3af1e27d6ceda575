"""/v1/analytics: the account's calls over a period, from ClickHouse (fixed queries only:
api.analytics). Read-only; the period and zone are the only inputs."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from api import analytics
from api.deps import Services, account_id, services
from api.problems import ApiProblem, ErrorItem, problem_responses

router = APIRouter(
    prefix="/v1", tags=["analytics"], responses=problem_responses(401, 422, 429, 503)
)


class Counts(BaseModel):
    calls: int = Field(description="Calls placed.")
    answered: int
    answer_rate: float | None = Field(description="Answered over calls with an outcome.")
    talk_minutes: float = Field(description="Answered calls' durations, in minutes.")


class PeriodOut(BaseModel):
    start: str = Field(description="ISO 8601 UTC, included.")
    end: str = Field(description="ISO 8601 UTC, excluded.")
    tz: str
    bucket: str = Field(description="hour, day or week: follows the period's length.")


class BucketCounts(Counts):
    bucket: str = Field(description="The bucket's start in `tz` (YYYY-MM-DD[ HH:MM:SS]).")


class OutcomeCount(BaseModel):
    bucket: str
    status: str
    calls: int


class HourCounts(Counts):
    hour: int = Field(ge=0, le=23)


class WeekdayCounts(Counts):
    weekday: int = Field(ge=1, le=7, description="1 is Monday.")


class CallerIdCounts(Counts):
    caller_id: str


class CampaignCompared(BaseModel):
    campaign_id: str
    name: str
    status: str
    contacts: int
    reached: int
    exhausted: int
    calls: int
    answer_rate: float | None
    attempts_per_reached: float | None


class AnalyticsOut(BaseModel):
    period: PeriodOut
    totals: Counts
    timeline: list[BucketCounts]
    outcomes: list[OutcomeCount]
    by_hour: list[HourCounts]
    by_weekday: list[WeekdayCounts]
    caller_ids: list[CallerIdCounts]
    campaigns: list[CampaignCompared] = Field(
        description="Campaigns with calls in the period, with their whole-campaign figures."
    )


@router.get("/analytics", response_model=AnalyticsOut)
def get_analytics(
    period: str = Query("7d", description="today, 7d, 30d or custom", max_length=10),
    tz: str = Query("UTC", description="IANA time zone of days, hours and weekdays", max_length=64),
    first: str | None = Query(None, alias="from", description="custom: first day", max_length=10),
    last: str | None = Query(None, alias="to", description="custom: last day", max_length=10),
    account: str = Depends(account_id),
    svc: Services = Depends(services),
) -> AnalyticsOut:
    """Calls, answers and talk time by bucket, outcomes, hours, weekdays, caller IDs and
    campaigns of the caller's account over whole days of `tz`."""
    try:
        p = analytics.period(period, datetime.now(UTC), tz, first, last)
    except analytics.PeriodError as err:
        raise ApiProblem(422, str(err), [ErrorItem(field=err.field, message=err.message)]) from None
    if svc.config.analytics is None:
        raise ApiProblem(503, "analytics are not configured on this replica (no ClickHouse)")
    try:
        answer = analytics.gather(svc.config.analytics, account, p)
    except analytics.AnalyticsUnavailable as err:
        raise ApiProblem(503, f"analytics unavailable: {err}") from None
    return AnalyticsOut.model_validate(answer)
