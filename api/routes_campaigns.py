"""/v1/campaigns: create (JSON or CSV upload), edit a draft, read, lifecycle, contacts,
duplicate, results. HTTP only: the work is in `api.campaign_service`, the bodies in
`api.campaign_models`."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from api import campaign_drafts, campaign_io, forecast
from api.bodies import ThreadedBody
from api.campaign_io import ContactsJson, CreateJson
from api.campaign_models import (
    CONTACT_STATUSES,
    STATUSES,
    CallOut,
    CallPage,
    CampaignOut,
    CampaignPage,
    CommandOut,
    ContactPage,
    ContactsAdded,
    CreateSummary,
    DuplicateIn,
    ForecastOut,
    ScheduleIn,
    StatsOut,
)
from api.campaign_service import (
    account_load,
    add_csv,
    add_rows,
    bucket_seconds_for,
    campaign_json,
    command,
    contact_out,
    copy_definition,
    create,
    create_body,
    create_summary,
    forecast_cost,
    ingest_problem,
    iso_ms,
    own_campaign,
    read_model,
    read_multipart,
    validation_problem,
)
from api.deps import MAX_LIMIT, Services, account_id, decode_cursor, encode_cursor, services
from api.problems import ApiProblem, ErrorItem, problem_responses
from api.readmodel import AnswerCount
from campaigns.contacts import ContactsFileError
from campaigns.csvsafe import neutralise
from campaigns.events import CommandKind
from campaigns.models import DefinitionError
from campaigns.simulate import parse_model
from ingest.upload import UploadError
from topics.translate import contact_from_record, definition_from_record

router = APIRouter(
    prefix="/v1/campaigns",
    tags=["campaigns"],
    responses=problem_responses(400, 401, 413, 422, 429),
    route_class=ThreadedBody,
)


def upload_route(path: str) -> bool:
    """Whether `path` takes a contact list (create, a draft's edit, add contacts): the large
    body cap."""
    parts = path.rstrip("/").split("/")
    return parts[:3] == ["", "v1", "campaigns"] and (
        len(parts) in (3, 4) or (len(parts) == 5 and parts[4] == "contacts")
    )


CREATE_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/CreateJson"}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["definition", "contacts"],
                    "properties": {
                        "definition": {"type": "string", "description": "the definition as JSON"},
                        "contacts": {"type": "string", "format": "binary"},
                    },
                }
            },
        },
    }
}


@router.post(
    "",
    status_code=201,
    response_model=CreateSummary,
    openapi_extra=CREATE_BODY,
    responses={
        200: {"model": CreateSummary, "description": "dry run"},
        **problem_responses(409, 415, 503),
    },
)
async def create_campaign(
    request: Request,
    dry_run: bool = False,
    answer_rate: float | None = Query(
        None, ge=0, le=1, description="a dry run's forecast: the share of calls answered"
    ),
    account: str = Depends(account_id),
    svc: Services = Depends(services),
) -> Any:
    # A dry run parses the whole list too: it has an allowance of its own.
    svc.take(account, "dry runs" if dry_run else "campaigns created", svc.config.limits.creates)
    with campaign_io.scratch_dir(svc.config.state_dir / "uploads") as tmpname:
        d, path = await create_body(request, svc, account, Path(tmpname))
        summary = await run_in_threadpool(create, svc, account, d, path, dry_run, answer_rate)
    return JSONResponse(summary.model_dump(mode="json"), status_code=200 if dry_run else 201)


@router.put(
    "/{campaign_id}",
    response_model=CreateSummary,
    openapi_extra=CREATE_BODY,
    responses=problem_responses(404, 409, 415, 503),
)
async def edit_campaign(
    campaign_id: str,
    request: Request,
    account: str = Depends(account_id),
    svc: Services = Depends(services),
) -> Any:
    """Replace a draft's definition and contact list (the create's body; 409 once it is
    started, scheduled or cancelled)."""
    row = own_campaign(svc, account, campaign_id)
    svc.take(account, "campaigns created", svc.config.limits.creates)
    if row.status != "draft":
        raise ApiProblem(409, f"campaign {campaign_id} is {row.status}: only a draft is edited")
    with campaign_io.scratch_dir(svc.config.state_dir / "uploads") as tmpname:
        d, path = await create_body(request, svc, account, Path(tmpname))
        if d.campaign_id != campaign_id:
            raise ApiProblem(
                422,
                f"definition.campaign_id: {d.campaign_id!r} is not {campaign_id!r}",
                [ErrorItem(field="definition.campaign_id", message="a draft keeps its id")],
            )
        try:
            s = await run_in_threadpool(
                campaign_drafts.edit, svc, read_model(svc), account, d, path
            )
        except (UploadError, DefinitionError, ContactsFileError) as err:
            raise ingest_problem(err) from None
    return JSONResponse(create_summary(d, s, False, None).model_dump(mode="json"))


@router.get(
    "/{campaign_id}/draft", response_model=CreateJson, responses=problem_responses(404, 409, 413)
)
def get_draft(
    campaign_id: str, account: str = Depends(account_id), svc: Services = Depends(services)
) -> CreateJson:
    """A draft as the body that creates it (and edits it: `PUT /v1/campaigns/{id}`)."""
    row = own_campaign(svc, account, campaign_id)
    with campaign_io.scratch_dir(svc.config.state_dir / "uploads") as tmpname:
        return campaign_drafts.draft_body(svc, read_model(svc), account, row, Path(tmpname))


@router.get("", response_model=CampaignPage)
async def list_campaigns(
    status: str | None = Query(None, pattern="^(" + "|".join(STATUSES) + ")$"),
    cursor: str | None = Query(None, max_length=400),
    limit: int = Query(50, ge=1, le=MAX_LIMIT),
    account: str = Depends(account_id),
    svc: Services = Depends(services),
) -> Response:
    rows, last = read_model(svc).page(account, status, decode_cursor(cursor), limit)
    nxt = json.dumps(encode_cursor(last) if last is not None else None)
    body = b'{"items":[' + b",".join(campaign_json(r, False) for r in rows) + b'],"next_cursor":'
    return Response(body + nxt.encode() + b"}", media_type="application/json")


@router.get("/{campaign_id}", response_model=CampaignOut, responses=problem_responses(404))
async def get_campaign(
    campaign_id: str, account: str = Depends(account_id), svc: Services = Depends(services)
) -> Response:
    return Response(
        campaign_json(own_campaign(svc, account, campaign_id), True), media_type="application/json"
    )


LIFECYCLE = problem_responses(402, 404, 409, 503)


@router.post("/{campaign_id}/start", response_model=CommandOut, responses=LIFECYCLE)
def start_campaign(
    campaign_id: str, account: str = Depends(account_id), svc: Services = Depends(services)
) -> CommandOut:
    return command(svc, account, campaign_id, CommandKind.start)


@router.post("/{campaign_id}/pause", response_model=CommandOut, responses=LIFECYCLE)
def pause_campaign(
    campaign_id: str, account: str = Depends(account_id), svc: Services = Depends(services)
) -> CommandOut:
    return command(svc, account, campaign_id, CommandKind.pause)


@router.post("/{campaign_id}/resume", response_model=CommandOut, responses=LIFECYCLE)
def resume_campaign(
    campaign_id: str, account: str = Depends(account_id), svc: Services = Depends(services)
) -> CommandOut:
    return command(svc, account, campaign_id, CommandKind.resume)


@router.post("/{campaign_id}/cancel", response_model=CommandOut, responses=LIFECYCLE)
def cancel_campaign(
    campaign_id: str, account: str = Depends(account_id), svc: Services = Depends(services)
) -> CommandOut:
    return command(svc, account, campaign_id, CommandKind.cancel)


@router.post("/{campaign_id}/schedule", response_model=CommandOut, responses=LIFECYCLE)
def schedule_campaign(
    campaign_id: str,
    body: ScheduleIn,
    account: str = Depends(account_id),
    svc: Services = Depends(services),
) -> CommandOut:
    if body.start_at.tzinfo is None:
        raise ApiProblem(
            422,
            "start_at: give a time zone (e.g. Z or +01:00)",
            [ErrorItem(field="start_at", message="naive datetime")],
        )
    return command(svc, account, campaign_id, CommandKind.schedule, body.start_at)


ADD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/ContactsJson"}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["contacts"],
                    "properties": {"contacts": {"type": "string", "format": "binary"}},
                }
            },
        },
    }
}


@router.post(
    "/{campaign_id}/contacts",
    response_model=ContactsAdded,
    openapi_extra=ADD_BODY,
    responses=problem_responses(404, 409, 503),
)
async def add_contacts(
    campaign_id: str,
    request: Request,
    account: str = Depends(account_id),
    svc: Services = Depends(services),
) -> ContactsAdded:
    row = own_campaign(svc, account, campaign_id)
    if row.status in ("completed", "cancelled"):
        raise ApiProblem(409, f"campaign {campaign_id} is {row.status}: no contacts can be added")
    ctype = request.headers.get("content-type", "")
    if ctype.startswith("multipart/form-data"):
        with campaign_io.scratch_dir(svc.config.state_dir / "uploads") as tmpname:
            _, path = await read_multipart(request, svc, Path(tmpname), want_definition=False)
            assert path is not None
            return await run_in_threadpool(add_csv, svc, account, campaign_id, path)
    raw = await request.body()
    try:
        req = await run_in_threadpool(lambda: ContactsJson.model_validate(json.loads(raw)))
    except ValidationError as err:
        raise validation_problem(err) from None
    except ValueError as err:
        raise ApiProblem(422, f"(body): not JSON: {err}", [ErrorItem(message="not JSON")]) from None
    if len(req.contacts) > svc.config.max_json_contacts:
        raise ApiProblem(413, f"contacts: over {svc.config.max_json_contacts} rows; upload a CSV")
    rows = [{k: campaign_io._cell(v) for k, v in r.items()} for r in req.contacts]
    return await run_in_threadpool(add_rows, svc, account, campaign_id, rows, 0)


@router.post(
    "/{campaign_id}/duplicate",
    status_code=201,
    response_model=CreateSummary,
    responses=problem_responses(404, 409, 503),
)
def duplicate_campaign(
    campaign_id: str,
    body: DuplicateIn,
    account: str = Depends(account_id),
    svc: Services = Depends(services),
) -> CreateSummary:
    svc.take(account, "campaigns created", svc.config.limits.creates)
    row = own_campaign(svc, account, campaign_id)
    rm = read_model(svc)
    d = copy_definition(row.definition, body.campaign_id, body.name)
    skip = {"reached", "opted_out"} if body.only_unreached else set()
    records = (
        rec for rec, view in rm.all_contacts(account, campaign_id) if view.status not in skip
    )
    with campaign_io.scratch_dir(svc.config.state_dir / "uploads") as tmpname:
        path = Path(tmpname) / "contacts.csv"
        n = campaign_io.records_to_csv(records, path)
        if n == 0:
            raise ApiProblem(409, f"campaign {campaign_id} has no contacts to copy")
        return create(svc, account, d, path, dry_run=False)


@router.get("/{campaign_id}/contacts", response_model=ContactPage, responses=problem_responses(404))
async def list_contacts(
    campaign_id: str,
    status: str | None = Query(None, pattern="^(" + "|".join(CONTACT_STATUSES) + ")$"),
    cursor: str | None = Query(None, max_length=400),
    limit: int = Query(50, ge=1, le=MAX_LIMIT),
    account: str = Depends(account_id),
    svc: Services = Depends(services),
) -> ContactPage:
    own_campaign(svc, account, campaign_id)
    after = decode_cursor(cursor)
    if after is not None and not after.isdigit():
        raise ApiProblem(422, "cursor: not a cursor this API gave")
    views, last = await run_in_threadpool(
        read_model(svc).contacts, account, campaign_id, status, int(after) if after else None, limit
    )
    return ContactPage(
        items=[contact_out(v) for v in views],
        next_cursor=encode_cursor(str(last)) if last is not None else None,
    )


@router.get("/{campaign_id}/calls", response_model=CallPage, responses=problem_responses(404))
async def list_calls(
    campaign_id: str,
    cursor: str | None = Query(None, max_length=400),
    limit: int = Query(50, ge=1, le=MAX_LIMIT),
    account: str = Depends(account_id),
    svc: Services = Depends(services),
) -> CallPage:
    own_campaign(svc, account, campaign_id)
    calls, last = await run_in_threadpool(
        read_model(svc).calls, account, campaign_id, decode_cursor(cursor), limit
    )
    items = [
        CallOut(
            call_id=c["call_id"],
            contact_id=c["contact_id"],
            attempt=int(c["attempt"]),
            to_last4=c.get("to_last4", ""),
            from_=c.get("caller_id", ""),
            created_at=iso_ms(c.get("created_at_ms")),
            status=c.get("status", "in_flight"),
            ended_at=iso_ms(c.get("ended_at_ms")),
        )
        for c in calls
    ]
    return CallPage(items=items, next_cursor=encode_cursor(last) if last is not None else None)


EXPORT_COLUMNS = ("contact_id", "row", "status", "attempts", "last_outcome", "phone_last4")


@router.get(
    "/{campaign_id}/export.csv",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/csv": {}}, "description": "one row per contact"},
        **problem_responses(404),
    },
)
async def export_csv(
    campaign_id: str, account: str = Depends(account_id), svc: Services = Depends(services)
) -> StreamingResponse:
    own_campaign(svc, account, campaign_id)
    rm = read_model(svc)

    def lines() -> Iterator[bytes]:
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(EXPORT_COLUMNS)
        for n, (_, v) in enumerate(rm.all_contacts(account, campaign_id), 1):
            w.writerow(
                [
                    neutralise(x)
                    for x in (
                        v.contact_id,
                        v.row,
                        v.status,
                        v.attempts,
                        v.last_outcome,
                        v.phone_last4,
                    )
                ]
            )
            if n % 1000 == 0:
                yield buf.getvalue().encode()
                buf.seek(0)
                buf.truncate()
        yield buf.getvalue().encode()

    return StreamingResponse(
        lines(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{campaign_id}.csv"'},
    )


@router.get(
    "/{campaign_id}/forecast", response_model=ForecastOut, responses=problem_responses(404, 413)
)
def get_forecast(
    campaign_id: str,
    model: str = Query(forecast.DEFAULT_MODEL, max_length=300),
    seed: int = Query(7, ge=0, le=2**31),
    account: str = Depends(account_id),
    svc: Services = Depends(services),
) -> ForecastOut:
    row = own_campaign(svc, account, campaign_id)
    try:
        shares = parse_model(model)
    except ValueError as err:
        raise ApiProblem(
            422, f"model: {err}", [ErrorItem(field="model", message=str(err))]
        ) from None
    total = max(row.expected, row.arrived)
    cap = svc.config.max_forecast_contacts
    if total > cap:
        raise ApiProblem(
            413,
            f"forecast: {total} contacts is over this API's limit of {cap}; run `campaignflow simulate`",
        )
    svc.take(account, "forecast contacts", svc.config.limits.forecast_contacts, max(total, 1))
    d = definition_from_record(row.definition)
    contacts = [
        contact_from_record(rec) for rec, _ in read_model(svc).all_contacts(account, campaign_id)
    ]
    lines, others = account_load(svc, account, campaign_id, len(contacts))
    out = forecast.forecast(d, contacts, shares, seed, lines=lines, others=others)
    cost = forecast_cost(svc, account, d, out["calls"])
    return ForecastOut(**out, model=model, seed=seed, cost=cost)


@router.get("/{campaign_id}/stats", response_model=StatsOut, responses=problem_responses(404))
async def get_stats(
    campaign_id: str, account: str = Depends(account_id), svc: Services = Depends(services)
) -> StatsOut:
    row = own_campaign(svc, account, campaign_id)
    minutes = await run_in_threadpool(read_model(svc).minutes, account, campaign_id)
    span = (minutes[-1][0] - minutes[0][0]) / 1000 if minutes else 0
    bucket = bucket_seconds_for(span)
    buckets: dict[int, dict[str, int]] = {}
    for at_ms, counts in minutes:
        b = at_ms // (bucket * 1000) * bucket * 1000
        agg = buckets.setdefault(b, {})
        for k, v in counts.items():
            agg[k] = agg.get(k, 0) + v

    def rate(x: AnswerCount) -> dict[str, Any]:
        answer_rate = round(x.answered / x.calls, 4) if x.calls else None
        return {"calls": x.calls, "answered": x.answered, "answer_rate": answer_rate}

    return StatsOut(
        bucket_seconds=bucket,
        outcomes_over_time=[{"at": iso_ms(b), **c} for b, c in sorted(buckets.items())],
        by_caller_id=[{"caller_id": k, **rate(v)} for k, v in sorted(row.by_caller_id.items())],
        by_attempt=[
            {"attempt": int(k), **rate(v)}
            for k, v in sorted(row.by_attempt.items(), key=lambda kv: int(kv[0]))
        ],
    )
