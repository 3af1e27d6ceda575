"""/v1/campaigns: create (JSON or CSV upload), read, lifecycle, contacts, duplicate, results."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from api import campaign_io, forecast
from api.bodies import ThreadedBody, validation_errors
from api.campaign_io import CampaignIn, ContactsJson, CreateJson
from api.deps import MAX_LIMIT, Services, account_id, decode_cursor, encode_cursor, services
from api.problems import ApiProblem, ErrorItem, definition_errors, problem_responses
from api.readmodel import AnswerCount, CampaignSummary, ContactView, ReadModel
from campaigns.contacts import ContactsFileError
from campaigns.csvsafe import neutralise
from campaigns.events import CampaignStatus, CommandKind
from campaigns.lifecycle import TRANSITIONS
from campaigns.models import CAMPAIGN_ID, MAX_NAME_CHARS, CampaignDefinition, DefinitionError
from campaigns.simulate import parse_model
from ingest.api import CampaignClient
from ingest.commands import Answer
from ingest.upload import UploadError, upload
from topics.translate import contact_from_record, definition_from_record

router = APIRouter(
    prefix="/v1/campaigns",
    tags=["campaigns"],
    responses=problem_responses(400, 401, 413, 422, 429),
    route_class=ThreadedBody,
)


def upload_route(path: str) -> bool:
    """Whether `path` takes a contact list (create, add contacts): the large body cap."""
    parts = path.rstrip("/").split("/")
    return parts[:3] == ["", "v1", "campaigns"] and (
        len(parts) == 3 or (len(parts) == 5 and parts[4] == "contacts")
    )


STATUSES = ("draft", "scheduled", "running", "paused", "completed", "cancelled")
CONTACT_STATUSES = (
    "pending",
    "reached",
    "exhausted",
    "failed",
    "cancelled",
    "suppressed",
    "opted_out",
)
COPY_CHUNK = 1 << 20
SEEN_TIMEOUT_S = 10.0  # a create answers once this replica's read model has the campaign


# ---- bodies ------------------------------------------------------------------------------


class ContactCounts(BaseModel):
    accepted: int
    rejected: int
    rows: int = 0


class Rejected(BaseModel):
    row: int | None
    column: str | None
    reason: str


class Variables(BaseModel):
    mapped: dict[str, str]
    unfed: list[str]
    unmapped_columns: list[str] = []


class CreateSummary(BaseModel):
    campaign_id: str
    status: str | None
    contacts: ContactCounts
    rejected: list[Rejected]
    variables: Variables
    rules: dict[str, Any]
    forecast: dict[str, Any] | None = None
    preview: dict[str, Any] | None = None
    dead_lettered: int = 0


class Counters(BaseModel):
    contacts_total: int
    contacts_final: int
    contacts_by_status: dict[str, int]
    calls_created: int
    calls_in_flight: int
    concurrency_limit: int
    outcomes: dict[str, int]
    answer_rate: float | None


class CampaignOut(BaseModel):
    campaign_id: str
    name: str
    description: str
    status: str
    agent_id: str
    source_number: str
    rules: dict[str, Any] | None = None
    start_at: str | None
    created_at: str | None
    last_activity_at: str | None
    counters: Counters
    estimated_completion_at: str | None
    allowed_actions: list[str]


class CampaignPage(BaseModel):
    items: list[CampaignOut]
    next_cursor: str | None = None


class CommandOut(BaseModel):
    accepted: bool
    status: str | None
    command_id: str


class ScheduleIn(BaseModel):
    start_at: datetime = Field(description="ISO 8601 with a zone")


class ContactsAdded(BaseModel):
    accepted: int
    rejected: int
    rejected_rows: list[Rejected]


class DuplicateIn(BaseModel):
    campaign_id: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")
    name: str | None = Field(default=None, min_length=1, max_length=200)
    only_unreached: bool = False


class ContactOut(BaseModel):
    contact_id: str
    row: int
    status: str
    attempts: int
    last_outcome: str | None
    next_attempt_at: str | None
    phone_last4: str


class ContactPage(BaseModel):
    items: list[ContactOut]
    next_cursor: str | None = None


class CallOut(BaseModel):
    call_id: str
    contact_id: str
    attempt: int
    to_last4: str
    from_: str = Field(validation_alias="from_", serialization_alias="from")
    created_at: str | None
    status: str
    ended_at: str | None

    model_config = {"populate_by_name": True}


class CallPage(BaseModel):
    items: list[CallOut]
    next_cursor: str | None = None


class ForecastOut(BaseModel):
    finished_at: str | None
    status: str | None
    contacts: dict[str, int]
    calls: dict[str, int]
    model: str
    seed: int


class StatsOut(BaseModel):
    bucket_seconds: int
    outcomes_over_time: list[dict[str, Any]]
    by_caller_id: list[dict[str, Any]]
    by_attempt: list[dict[str, Any]]


# ---- helpers -----------------------------------------------------------------------------


def iso_ms(ms: int | None) -> str | None:
    if ms is None:
        return None
    return (
        datetime.fromtimestamp(ms / 1000, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def _rm(svc: Services) -> ReadModel:
    if svc.readmodel is None:
        raise ApiProblem(503, "the read model is not running")
    return svc.readmodel


def _client(svc: Services) -> CampaignClient:
    if svc.client is None:
        raise ApiProblem(503, "the ingest client is not running")
    return svc.client


def _own(svc: Services, account: str, campaign_id: str) -> CampaignSummary:
    """The caller's campaign of that id; 404 otherwise. Campaign ids are per account, so
    another account's campaign of the same id is simply not the caller's (nothing tells
    that it exists), and an id that is not a campaign id is no campaign (never a 500)."""
    row = _rm(svc).campaign(account, campaign_id) if CAMPAIGN_ID.match(campaign_id) else None
    if row is None:
        raise ApiProblem(404, f"no campaign {campaign_id[:80]!r}")
    return row


def allowed_actions(status: str) -> list[str]:
    try:
        st = CampaignStatus(status)
    except ValueError:
        return []
    return [k.value for (s, k) in TRANSITIONS if s == st]


def campaign_out(row: CampaignSummary, with_rules: bool = True) -> CampaignOut:
    d = row.definition
    total = max(row.expected, row.arrived)
    by_status = {s: 0 for s in CONTACT_STATUSES}
    by_status.update(row.by_status)
    by_status["pending"] = max(0, total - row.final)
    in_flight = max(0, row.calls_created - row.calls_ended)
    rules = d["rules"]
    limit = int(rules["concurrent_calls"]) - int(rules.get("inbound_free_slots") or 0)
    ended = row.calls_ended
    answered = row.outcomes.get("answered", 0)
    estimate = None
    if row.status == "running" and row.final and row.start_at_ms:
        # contacts finish at the rate seen so far: a straight line, refreshed every read
        last_ms = row.last_activity_at_ms or 0
        elapsed = last_ms - row.start_at_ms
        if elapsed > 0:
            left = total - row.final
            estimate = iso_ms(int(last_ms + elapsed * left / row.final))
    elif row.status in ("completed", "cancelled"):
        estimate = iso_ms(row.last_activity_at_ms)
    return CampaignOut(
        campaign_id=row.campaign_id,
        name=row.name,
        description=row.description,
        status=row.status,
        agent_id=d["agent"]["id"],
        source_number=d["source_number"],
        rules=rules if with_rules else None,
        start_at=iso_ms(row.start_at_ms),
        created_at=iso_ms(row.created_at_ms),
        last_activity_at=iso_ms(row.last_activity_at_ms),
        counters=Counters(
            contacts_total=total,
            contacts_final=row.final,
            contacts_by_status=by_status,
            calls_created=row.calls_created,
            calls_in_flight=in_flight,
            concurrency_limit=limit,
            outcomes=row.outcomes,
            answer_rate=round(answered / ended, 4) if ended else None,
        ),
        estimated_completion_at=estimate,
        allowed_actions=allowed_actions(row.status),
    )


def _contact_out(v: ContactView) -> ContactOut:
    return ContactOut(
        contact_id=v.contact_id,
        row=v.row,
        status=v.status,
        attempts=v.attempts,
        last_outcome=v.last_outcome,
        next_attempt_at=iso_ms(v.next_attempt_at_ms),
        phone_last4=v.phone_last4,
    )


def _validation_problem(err: ValidationError, prefix: str = "") -> ApiProblem:
    items = []
    for e in validation_errors(err):
        path = ".".join(str(p) for p in e["loc"])
        items.append(ErrorItem(field=f"{prefix}{path}" or "(body)", message=str(e["msg"])))
    return ApiProblem(422, f"{items[0].field}: {items[0].message}", items)


async def _read_multipart(
    request: Request, svc: Services, tmp: Path, want_definition: bool
) -> tuple[str | None, Path | None]:
    """(definition JSON text, path of the streamed CSV) of a multipart body."""
    form = await request.form(
        max_files=1, max_fields=4, max_part_size=svc.config.max_definition_bytes
    )
    try:
        definition = form.get("definition")
        contacts = form.get("contacts")
        text: str | None = None
        if isinstance(definition, UploadFile):
            raw = await definition.read(svc.config.max_definition_bytes + 1)
            if len(raw) > svc.config.max_definition_bytes:
                raise ApiProblem(413, "definition: part over its size limit")
            text = raw.decode("utf-8", "replace")
        elif isinstance(definition, str):
            text = definition
        if want_definition and text is None:
            raise ApiProblem(
                422,
                "definition: a multipart upload needs a part named 'definition' (JSON)",
                [ErrorItem(field="definition", message="missing")],
            )
        path: Path | None = None
        if isinstance(contacts, UploadFile):
            path = tmp / "contacts.csv"
            with path.open("wb") as out:
                while chunk := await contacts.read(COPY_CHUNK):
                    out.write(chunk)
        elif isinstance(contacts, str):
            path = tmp / "contacts.csv"
            path.write_text(contacts, encoding="utf-8")
        if path is None:
            raise ApiProblem(
                422,
                "contacts: a multipart upload needs a part named 'contacts' (CSV file)",
                [ErrorItem(field="contacts", message="missing")],
            )
        return text, path
    finally:
        await form.close()


def _parse_definition_text(text: str) -> CampaignIn:
    try:
        data = json.loads(text)
    except ValueError as err:
        raise ApiProblem(
            422, f"definition: not JSON: {err}", [ErrorItem(field="definition", message="not JSON")]
        ) from None
    try:
        return CampaignIn.model_validate(data)
    except ValidationError as err:
        raise _validation_problem(err, "definition.") from None


def _json_create(raw: bytes, path: Path, max_contacts: int) -> CampaignIn:
    """A JSON create: its definition, and its contacts written to `path` as CSV."""
    try:
        req = CreateJson.model_validate(json.loads(raw))
    except ValidationError as err:
        raise _validation_problem(err) from None
    except ValueError as err:
        raise ApiProblem(422, f"(body): not JSON: {err}", [ErrorItem(message="not JSON")]) from None
    if len(req.contacts) > max_contacts:
        raise ApiProblem(413, f"contacts: over {max_contacts} rows; upload a CSV")
    campaign_io.rows_to_csv(req.contacts, path)
    return req.definition


def _ingest_problem(err: Exception) -> ApiProblem:
    text = str(err)
    if isinstance(err, DefinitionError):
        items = definition_errors(text)
        return ApiProblem(422, text, items)
    return ApiProblem(422, text, [ErrorItem(field="contacts", message=text)])


def _summary(
    d: CampaignDefinition, s: Any, dry_run: bool, forecast_out: dict[str, Any] | None
) -> CreateSummary:
    return CreateSummary(
        campaign_id=d.campaign_id,
        status=None if dry_run else "draft",
        contacts=ContactCounts(accepted=s.accepted, rejected=s.rejected, rows=s.rows),
        rejected=[Rejected(**r) for r in campaign_io.first_rejections(s.rejects_path)],
        variables=Variables(
            mapped=s.mapping.mapped,
            unfed=s.mapping.unfed_variables,
            unmapped_columns=s.mapping.unmapped_columns,
        ),
        rules=d.rules.model_dump(mode="json"),
        forecast=forecast_out,
        preview=None,
        dead_lettered=s.dead_lettered,
    )


def _create(
    svc: Services, account: str, d: CampaignDefinition, contacts: Path, dry_run: bool
) -> CreateSummary:
    """ingest's upload (validate, parse, publish contacts then the create command)."""
    rm = _rm(svc)
    client = _client(svc)
    if not dry_run and rm.exists(account, d.campaign_id):
        raise ApiProblem(
            409,
            f"campaign_id {d.campaign_id!r} is already in use; choose another",
            [ErrorItem(field="definition.campaign_id", message="already in use")],
        )
    try:
        s = upload(
            d,
            contacts,
            publish=not dry_run,
            target=client.target,
            producer=None if dry_run else client.producer,
            workers=1,
            timeout=svc.config.command_timeout_s,
        )
    except (UploadError, DefinitionError, ContactsFileError) as err:
        raise _ingest_problem(err) from None
    fc = None
    if dry_run and 0 < s.accepted <= 10_000:
        svc.take(account, "forecast contacts", svc.config.limits.forecast_contacts, s.accepted)
        fc = _forecast_file(d, contacts)
    if not dry_run:
        rm.wait_for(lambda: rm.exists(account, d.campaign_id), SEEN_TIMEOUT_S)
    return _summary(d, s, dry_run, fc)


def _forecast_file(d: CampaignDefinition, path: Path) -> dict[str, Any]:
    from campaigns.contacts import Contact, iter_contacts

    with path.open("rb") as f:
        listed = [c for c in iter_contacts(f, d.default_region) if isinstance(c, Contact)]
    return forecast.forecast(d, listed, parse_model(forecast.DEFAULT_MODEL), 7)


# ---- create, list, detail ----------------------------------------------------------------

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
    account: str = Depends(account_id),
    svc: Services = Depends(services),
) -> Any:
    # A dry run parses the whole list too: it has an allowance of its own.
    svc.take(account, "dry runs" if dry_run else "campaigns created", svc.config.limits.creates)
    ctype = request.headers.get("content-type", "")
    with campaign_io.scratch_dir(svc.config.state_dir / "uploads") as tmpname:
        tmp = Path(tmpname)
        # Parsing and validating run in worker threads: a big body must not hold the loop.
        if ctype.startswith("multipart/form-data"):
            text, path = await _read_multipart(request, svc, tmp, want_definition=True)
            assert text is not None and path is not None
            body = await run_in_threadpool(_parse_definition_text, text)
        elif ctype.startswith("application/json") or not ctype:
            path = tmp / "contacts.csv"
            raw = await request.body()
            body = await run_in_threadpool(_json_create, raw, path, svc.config.max_json_contacts)
        else:
            raise ApiProblem(415, "send application/json or multipart/form-data")
        d = await run_in_threadpool(campaign_io.build_definition, svc.cp, account, body)
        summary = await run_in_threadpool(_create, svc, account, d, path, dry_run)
    from fastapi.responses import JSONResponse

    return JSONResponse(summary.model_dump(mode="json"), status_code=200 if dry_run else 201)


# Serialised campaign objects, keyed by campaign id: reused while the read model's row is
# the same object (it swaps in a new summary on each change), so a list page is a join.
_JSON_CACHE: dict[tuple[str, bool], tuple[CampaignSummary, bytes]] = {}


def campaign_json(row: CampaignSummary, with_rules: bool) -> bytes:
    key = (row.campaign_id, with_rules)
    hit = _JSON_CACHE.get(key)
    if hit is not None and hit[0] is row:
        return hit[1]
    data = campaign_out(row, with_rules).model_dump_json().encode()
    _JSON_CACHE[key] = (row, data)
    return data


@router.get("", response_model=CampaignPage)
async def list_campaigns(
    status: str | None = Query(None, pattern="^(" + "|".join(STATUSES) + ")$"),
    cursor: str | None = Query(None, max_length=400),
    limit: int = Query(50, ge=1, le=MAX_LIMIT),
    account: str = Depends(account_id),
    svc: Services = Depends(services),
) -> Response:
    rows, last = _rm(svc).page(account, status, decode_cursor(cursor), limit)
    nxt = json.dumps(encode_cursor(last) if last is not None else None)
    body = b'{"items":[' + b",".join(campaign_json(r, False) for r in rows) + b'],"next_cursor":'
    return Response(body + nxt.encode() + b"}", media_type="application/json")


@router.get("/{campaign_id}", response_model=CampaignOut, responses=problem_responses(404))
async def get_campaign(
    campaign_id: str, account: str = Depends(account_id), svc: Services = Depends(services)
) -> Response:
    return Response(
        campaign_json(_own(svc, account, campaign_id), True), media_type="application/json"
    )


# ---- lifecycle -----------------------------------------------------------------------------


def _command(
    svc: Services,
    account: str,
    campaign_id: str,
    kind: CommandKind,
    start_at: datetime | None = None,
) -> CommandOut:
    _own(svc, account, campaign_id)
    if kind in (CommandKind.start, CommandKind.schedule):
        sub = svc.cp.subscription(account)
        if not sub.active:
            raise ApiProblem(402, f"cannot {kind.value} {campaign_id}: {sub.reason}")
    client = _client(svc)
    answer: Answer
    if kind == CommandKind.schedule:
        assert start_at is not None
        answer = client.schedule(campaign_id, start_at, account_id=account)
    else:
        answer = client.command(campaign_id, kind, account_id=account)
    if answer.outcome == "accepted":
        return CommandOut(accepted=True, status=answer.status, command_id=answer.command_id)
    if answer.outcome == "rejected":
        reason = answer.reason or "rejected"
        code = 402 if "subscription" in reason else 409
        raise ApiProblem(code, f"{kind.value} {campaign_id}: {reason}")
    raise ApiProblem(
        503, f"{kind.value} {campaign_id}: sent, but no answer from the engine in time"
    )


LIFECYCLE = problem_responses(402, 404, 409, 503)


@router.post("/{campaign_id}/start", response_model=CommandOut, responses=LIFECYCLE)
def start_campaign(
    campaign_id: str, account: str = Depends(account_id), svc: Services = Depends(services)
) -> CommandOut:
    return _command(svc, account, campaign_id, CommandKind.start)


@router.post("/{campaign_id}/pause", response_model=CommandOut, responses=LIFECYCLE)
def pause_campaign(
    campaign_id: str, account: str = Depends(account_id), svc: Services = Depends(services)
) -> CommandOut:
    return _command(svc, account, campaign_id, CommandKind.pause)


@router.post("/{campaign_id}/resume", response_model=CommandOut, responses=LIFECYCLE)
def resume_campaign(
    campaign_id: str, account: str = Depends(account_id), svc: Services = Depends(services)
) -> CommandOut:
    return _command(svc, account, campaign_id, CommandKind.resume)


@router.post("/{campaign_id}/cancel", response_model=CommandOut, responses=LIFECYCLE)
def cancel_campaign(
    campaign_id: str, account: str = Depends(account_id), svc: Services = Depends(services)
) -> CommandOut:
    return _command(svc, account, campaign_id, CommandKind.cancel)


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
    return _command(svc, account, campaign_id, CommandKind.schedule, body.start_at)


# ---- contacts, duplicate ---------------------------------------------------------------------

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


def _add(
    svc: Services, account: str, campaign_id: str, rows: list[dict[str, str]], row0: int
) -> ContactsAdded:
    d = _rm(svc).definition(account, campaign_id)
    region = d.default_region if d is not None else "US"
    result = _client(svc).add_contacts(campaign_id, rows, region=region, account_id=account)
    return ContactsAdded(
        accepted=len(result.accepted),
        rejected=len(result.rejected),
        rejected_rows=[
            Rejected(
                row=r.row + row0 if r.row is not None else None, column=r.column, reason=r.reason
            )
            for r in result.rejected[: campaign_io.MAX_REJECTED_SHOWN]
        ],
    )


ADD_CHUNK_ROWS = 20_000


def _add_csv(svc: Services, account: str, campaign_id: str, path: Path) -> ContactsAdded:
    """A CSV in chunks of rows (memory stays flat); row numbers are the file's."""
    total = ContactsAdded(accepted=0, rejected=0, rejected_rows=[])
    with path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or "phone_number" not in [h.strip() for h in reader.fieldnames]:
            raise ApiProblem(
                422,
                "contacts: row 0 (header): no phone_number column",
                [ErrorItem(field="contacts", row=0, column="phone_number", message="missing")],
            )
        done = 0
        while True:
            chunk = [
                {k: v or "" for k, v in r.items() if k is not None}
                for _, r in zip(range(ADD_CHUNK_ROWS), reader, strict=False)
            ]
            if not chunk:
                break
            part = _add(svc, account, campaign_id, chunk, done)
            total.accepted += part.accepted
            total.rejected += part.rejected
            room = campaign_io.MAX_REJECTED_SHOWN - len(total.rejected_rows)
            total.rejected_rows += part.rejected_rows[: max(0, room)]
            done += len(chunk)
    return total


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
    row = _own(svc, account, campaign_id)
    if row.status in ("completed", "cancelled"):
        raise ApiProblem(409, f"campaign {campaign_id} is {row.status}: no contacts can be added")
    ctype = request.headers.get("content-type", "")
    if ctype.startswith("multipart/form-data"):
        with campaign_io.scratch_dir(svc.config.state_dir / "uploads") as tmpname:
            _, path = await _read_multipart(request, svc, Path(tmpname), want_definition=False)
            assert path is not None
            return await run_in_threadpool(_add_csv, svc, account, campaign_id, path)
    raw = await request.body()
    try:
        req = await run_in_threadpool(lambda: ContactsJson.model_validate(json.loads(raw)))
    except ValidationError as err:
        raise _validation_problem(err) from None
    except ValueError as err:
        raise ApiProblem(422, f"(body): not JSON: {err}", [ErrorItem(message="not JSON")]) from None
    if len(req.contacts) > svc.config.max_json_contacts:
        raise ApiProblem(413, f"contacts: over {svc.config.max_json_contacts} rows; upload a CSV")
    rows = [{k: campaign_io._cell(v) for k, v in r.items()} for r in req.contacts]
    return await run_in_threadpool(_add, svc, account, campaign_id, rows, 0)


def copy_definition(
    record: dict[str, Any], campaign_id: str, name: str | None
) -> CampaignDefinition:
    """The stored definition under a new id and name, read back as the engine reads it.

    (A dump of the model re-validated gave `calling_days` and `calling_window` beside
    `calling_hours`, a definition error: every duplicate with calling hours was a 500.)
    """
    original = str(record["name"])
    copied = {
        **record,
        "campaign_id": campaign_id,
        "name": name or f"{original} (copy)"[:MAX_NAME_CHARS],
    }
    try:
        return definition_from_record(copied)
    except ValidationError as err:
        raise _validation_problem(err) from None


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
    row = _own(svc, account, campaign_id)
    rm = _rm(svc)
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
        return _create(svc, account, d, path, dry_run=False)


# ---- results -------------------------------------------------------------------------------


@router.get("/{campaign_id}/contacts", response_model=ContactPage, responses=problem_responses(404))
async def list_contacts(
    campaign_id: str,
    status: str | None = Query(None, pattern="^(" + "|".join(CONTACT_STATUSES) + ")$"),
    cursor: str | None = Query(None, max_length=400),
    limit: int = Query(50, ge=1, le=MAX_LIMIT),
    account: str = Depends(account_id),
    svc: Services = Depends(services),
) -> ContactPage:
    _own(svc, account, campaign_id)
    after = decode_cursor(cursor)
    if after is not None and not after.isdigit():
        raise ApiProblem(422, "cursor: not a cursor this API gave")
    views, last = await run_in_threadpool(
        _rm(svc).contacts, account, campaign_id, status, int(after) if after else None, limit
    )
    return ContactPage(
        items=[_contact_out(v) for v in views],
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
    _own(svc, account, campaign_id)
    calls, last = await run_in_threadpool(
        _rm(svc).calls, account, campaign_id, decode_cursor(cursor), limit
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
    _own(svc, account, campaign_id)
    rm = _rm(svc)

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
    row = _own(svc, account, campaign_id)
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
    contacts = (contact_from_record(rec) for rec, _ in _rm(svc).all_contacts(account, campaign_id))
    out = forecast.forecast(d, contacts, shares, seed)
    return ForecastOut(**out, model=model, seed=seed)


def bucket_seconds_for(span_s: float) -> int:
    """About 30-120 points whatever the span: 1 min for minutes, hours for days."""
    for b in (60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 86_400):
        if span_s / b <= 120:
            return b
    return 86_400


@router.get("/{campaign_id}/stats", response_model=StatsOut, responses=problem_responses(404))
async def get_stats(
    campaign_id: str, account: str = Depends(account_id), svc: Services = Depends(services)
) -> StatsOut:
    row = _own(svc, account, campaign_id)
    minutes = await run_in_threadpool(_rm(svc).minutes, account, campaign_id)
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
